import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { join } from "node:path";
import { demo, type DemoSummary, parseDemoArgs } from "../../tasks/demo.ts";
import { childEnv, errorLines } from "./_train_helpers.ts";

const DEMO_URL = new URL("../../tasks/demo.ts", import.meta.url).href;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

Deno.test("parseDemoArgs() reads seeds, flags, base_dir and training keys", () => {
  const a = parseDemoArgs(["--seeds=2,0,2", "--quick", "base_dir=/x", "train.optim.lr=1e-3"]);
  deepStrictEqual([a.seeds, a.quick, a.compare, a.baseDir], [[2, 0], true, false, "/x"]);
  deepStrictEqual(a.keys, ["train.optim.lr=1e-3"]);
  deepStrictEqual(parseDemoArgs([]).seeds, [0]);
  deepStrictEqual(parseDemoArgs([]).task, "addition");
  deepStrictEqual(parseDemoArgs(["--task=multiplication"]).task, "multiplication");
  throws(() => parseDemoArgs(["--task", "division"]), /Unknown demo task "division"/);
  throws(() => parseDemoArgs(["--seeds", "0,x"]), /Cannot parse --seeds "0,x"/);
  throws(() => parseDemoArgs(["--seeds"]), /--seeds needs a value/);
  throws(() => parseDemoArgs(["--fast"]), /Unknown demo argument "--fast"/);
  throws(() => parseDemoArgs(["name=x"]), /The demo sets name itself/);
  throws(() => parseDemoArgs(["seed=1"]), /use --seeds/);
});

async function cellMean(dir: string, keep: (i: number, j: number) => boolean): Promise<number> {
  const xs: number[] = [];
  for await (const e of Deno.readDir(dir)) {
    const m = e.name.match(/^cell_(\d+)_(\d+)\.json$/);
    if (!m || !keep(Number(m[1]), Number(m[2]))) continue;
    const c = JSON.parse(await Deno.readTextFile(join(dir, e.name)));
    xs.push(c.correct / c.total);
  }
  ok(xs.length > 0);
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

Deno.test({
  name: "demo() trains every scheme for every seed, pools the heatmaps and averages the seeds",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const baseDir = await Deno.makeTempDir();
    const log = console.log;
    console.log = () => {};
    const options = {
      quick: false,
      compare: true,
      baseDir,
      seeds: [0, 1],
      keys: [
        "train.budget_steps=4",
        "impl.microbatch_size=16",
        "train.batch_size=16",
        "impl.backend=cpu",
      ],
      samples: 3,
      grid: 6,
    };
    let s: DemoSummary, again: DemoSummary;
    try {
      s = await demo(options);
      // A second run trains and evaluates nothing: the same figures, the training time read back
      // from each run's final checkpoint.
      again = await demo(options);
    } finally {
      console.log = log;
    }
    deepStrictEqual(s.runs.map((r) => `${r.embedding}${r.seed}`), [
      "abacus0",
      "abacus1",
      "nope0",
      "nope1",
      "fire0",
      "fire1",
    ]);
    for (const r of s.runs) {
      strictEqual(r.steps, 4);
      ok(r.train_seconds > 0);
      // The figures are the cells' means, recomputed here from the files the evaluator wrote.
      const isIn = (i: number, j: number) => i <= 5 && j <= 5;
      const want = await cellMean(r.results, (i, j) => !isIn(i, j));
      ok(Math.abs(r.out_of_distribution! - want) < 1e-12, `${r.name}: ${r.out_of_distribution}`);
      ok(Math.abs(r.in_distribution! - (await cellMean(r.results, isIn))) < 1e-12);
    }
    for (const m of s.means) {
      const mine = s.runs.filter((r) => r.embedding === m.embedding);
      strictEqual(m.in_distribution, (mine[0].in_distribution! + mine[1].in_distribution!) / 2);
    }
    strictEqual(s.out_of_distribution, s.means[0].out_of_distribution);
    // One figure, three panels (SVG titles), and the summary on disk.
    const svg = await Deno.readTextFile(s.plots.find((p) => p.endsWith(".svg"))!);
    for (const t of ["Abacus (seeds 0,1)", "NoPE (seeds 0,1)", "FIRE (seeds 0,1)"]) {
      ok(svg.includes(t), t);
    }
    const png = await Deno.readFile(s.plots.find((p) => p.endsWith(".png"))!);
    deepStrictEqual([...png.slice(1, 4)], [0x50, 0x4e, 0x47]);
    const onDisk = JSON.parse(await Deno.readTextFile(join(s.plots[0], "..", "summary.json")));
    deepStrictEqual(onDisk.runs.length, 6);
    // Other keys give other run names, so a finished run is never reused for them.
    ok(s.runs[0].name.startsWith("demo-abacus-s0-") && s.runs[0].name.length === 21);
    const figures = (x: DemoSummary) =>
      x.runs.map((r) => [r.in_distribution, r.out_of_distribution, r.train_seconds, r.steps]);
    deepStrictEqual(figures(again), figures(s));
    await Deno.remove(baseDir, { recursive: true });
  },
});

Deno.test({
  name: "demo() runs multiplication and sorting end to end with their own grids and scores",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const baseDir = await Deno.makeTempDir();
    const log = console.log;
    console.log = () => {};
    const keys = [
      "train.budget_steps=3",
      // One step and a 16-row test split: an untrained sorter decodes every row to its full length,
      // and the trainer's 1000-row exact match on the CPU backend would take minutes.
      "dryrun=true",
      "impl.microbatch_size=16",
      "train.batch_size=16",
      "impl.backend=cpu",
    ];
    let mul: DemoSummary, sort: DemoSummary;
    try {
      mul = await demo({
        task: "multiplication",
        quick: false,
        compare: false,
        baseDir,
        keys,
        samples: 2,
        grid: 4,
      });
      sort = await demo({
        task: "sorting",
        quick: false,
        compare: false,
        baseDir,
        keys,
        samples: 2,
        grid: 5,
      });
    } finally {
      console.log = log;
    }
    for (
      const [s, task, range, grid] of [[mul, "multiplication", 3, 4], [
        sort,
        "sorting",
        4,
        5,
      ]] as const
    ) {
      strictEqual(s.task, task);
      const [r] = s.runs;
      ok(r.name.startsWith(`demo-${task}-abacus-s0-`), r.name);
      strictEqual(r.steps, 1);
      // The grid is the task's: its cell files say so, and the split is the training range.
      const isIn = (i: number, j: number) => i <= range && j <= range;
      ok(Math.abs(r.in_distribution! - (await cellMean(r.results, isIn))) < 1e-12);
      ok(
        Math.abs(r.out_of_distribution! - (await cellMean(r.results, (i, j) => !isIn(i, j)))) <
          1e-12,
      );
      ok(r.results.includes(`${task}_1-${grid}x1-${grid}`), r.results);
      const onDisk = JSON.parse(await Deno.readTextFile(join(s.plots[0], "..", "summary.json")));
      ok(s.plots[0].includes(`demo-${task}`), s.plots[0]);
      deepStrictEqual(
        [onDisk.task, onDisk.in_distribution, onDisk.out_of_distribution],
        [task, s.in_distribution, s.out_of_distribution],
      );
    }
    // Sorting also reports the first and the minimum element, from the cells' counts.
    const first = sort.runs[0].first_element!, min = sort.runs[0].min_element!;
    const cells: {
      i: number;
      j: number;
      total: number;
      correct_first: number;
      correct_min: number;
    }[] = [];
    for await (const e of Deno.readDir(sort.runs[0].results)) {
      if (/^cell_\d+_\d+\.json$/.test(e.name)) {
        cells.push(JSON.parse(await Deno.readTextFile(join(sort.runs[0].results, e.name))));
      }
    }
    const meanIn = (f: (c: typeof cells[0]) => number) => {
      const xs = cells.filter((c) => c.i <= 4 && c.j <= 4).map(f);
      return xs.reduce((a, b) => a + b, 0) / xs.length;
    };
    ok(Math.abs(first.in_distribution! - meanIn((c) => c.correct_first / c.total)) < 1e-12);
    ok(Math.abs(min.in_distribution! - meanIn((c) => c.correct_min / c.total)) < 1e-12);
    deepStrictEqual(sort.first_element, first);
    strictEqual(mul.first_element, undefined);
    await Deno.remove(baseDir, { recursive: true });
  },
});

Deno.test("deno task demo, started in another folder, prints its usage and refuses bad flags", async () => {
  const cwd = await Deno.makeTempDir();
  const run = async (args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", CONFIG, DEMO_URL, ...args],
      cwd,
      env: childEnv(),
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  };
  const help = await run(["--help"]);
  strictEqual(help.code, 0);
  ok(help.stdout.includes("--seeds 0,1,2") && help.stdout.includes("NoPE and FIRE"));
  ok(help.stdout.includes("--task T") && help.stdout.includes("tiny-sorting"));
  const bad = await run(["--seeds", "a"]);
  strictEqual(bad.code, 1);
  deepStrictEqual(errorLines(bad.stderr), [
    'Cannot parse --seeds "a": expected integers like 0,1,2',
  ]);
  const key = await run(["arch.no_such_key=1", `base_dir=${cwd}`]);
  strictEqual(key.code, 1);
  ok(/arch\.no_such_key/.test(errorLines(key.stderr)[0]), key.stderr);
  await Deno.remove(cwd, { recursive: true });
});
