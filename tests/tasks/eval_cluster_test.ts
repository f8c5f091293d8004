// `--shard auto` as a scheduler runs it: the eval task in subprocesses whose environment is a
// Slurm job array (with a step) or a Kubernetes Indexed Job, each writing its own shard folder at
// the same time; `deno task eval merge` then gives the whole grid, cell for cell and sample for
// sample the same as one unsharded run. Without the variables, or with ones that do not fit, the
// task exits 1 with one line naming them. resolveShard's rules for auto are checked directly as well.

import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../../cli/config.ts";
import { CPU } from "../../core/backend.ts";
import { evaluate } from "../../tasks/eval.ts";
import { resolveShard } from "../../tasks/eval/shard.ts";
import { train } from "../../tasks/train/run.ts";
import { childEnv, errorLines, REPO } from "./_train_helpers.ts";

const EVAL_URL = new URL("../../tasks/eval.ts", import.meta.url).href;
const GRID = "eval.grid=1..2x1..3";
const SCHEDULER_VARS = /^(SLURM_|JOB_COMPLETION_INDEX$|ABACUS_SHARD_COUNT$)/;

/** Our environment without any scheduler variable (the suite may itself run in a job), plus `extra`. */
function schedulerEnv(extra: Record<string, string>): Record<string, string> {
  const env = childEnv();
  for (const k of Object.keys(env)) if (SCHEDULER_VARS.test(k)) delete env[k];
  return { ...env, ...extra };
}

async function runEval(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", join(REPO, "deno.json"), EVAL_URL, ...args],
    env: schedulerEnv(env),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function trainTiny(base: string): Promise<void> {
  const origLog = console.log;
  console.log = () => {};
  try {
    await train(
      await loadConfig(
        [
          "preset=tiny-addition",
          "name=t",
          `base_dir=${base}`,
          "train.budget_steps=2",
          "impl.backend=cpu",
          "impl.microbatch_size=16",
          "train.batch_size=16",
        ],
        "pretrain",
        { log: () => {} },
      ),
    );
  } finally {
    console.log = origLog;
  }
}

/** Every JSON file of a grid folder (cells, samples, summary), by relative path, without job.json's per-job fields. */
async function gridFiles(dir: string): Promise<Map<string, unknown>> {
  const files = new Map<string, unknown>();
  for (const sub of ["", "samples"]) {
    for await (const e of Deno.readDir(join(dir, sub))) {
      if (!e.isFile || !/^(cell_\d+_\d+|summary)\.json$/.test(e.name)) continue;
      files.set(join(sub, e.name), JSON.parse(await Deno.readTextFile(join(dir, sub, e.name))));
    }
  }
  return files;
}

async function folders(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isDirectory) out.push(e.name);
  return out.sort();
}

Deno.test("eval --shard auto: Slurm array and Kubernetes Indexed Job shards merge into the whole grid", async () => {
  const base = await Deno.makeTempDir();
  try {
    await trainTiny(base);
    const downstream = join(base, "t", "downstream");
    const gridName = "addition_1-2x1-3";
    const args = ["name=t", `base_dir=${base}`, GRID, "impl.backend=cpu"];
    // One unsharded run in-process, moved aside as the reference.
    const whole = await evaluate(args, { backend: CPU, quiet: true });
    strictEqual(whole.shard, null);
    const reference = await gridFiles(whole.dir);
    strictEqual([...reference.keys()].filter((k) => k.startsWith("cell_")).length, 6);
    await Deno.rename(downstream, join(base, "reference"));

    // --array=3-7:2: task ids 3, 5, 7 are pieces 1, 2, 3 of 3; all three run at once.
    const slurm = (id: number) => ({
      SLURM_ARRAY_TASK_ID: String(id),
      SLURM_ARRAY_TASK_MIN: "3",
      SLURM_ARRAY_TASK_MAX: "7",
      SLURM_ARRAY_TASK_STEP: "2",
      SLURM_ARRAY_TASK_COUNT: "3",
    });
    const k8s = (index: number) => ({
      JOB_COMPLETION_INDEX: String(index),
      ABACUS_SHARD_COUNT: "2",
    });
    for (
      const [label, envs] of [
        ["slurm", [3, 5, 7].map(slurm)],
        ["kubernetes", [0, 1].map(k8s)],
      ] as const
    ) {
      const runs = await Promise.all(envs.map((env) => runEval([...args, "--shard", "auto"], env)));
      runs.forEach((r, k) => {
        strictEqual(r.code, 0, `${label} shard ${k + 1}: ${r.stderr}`);
        ok(r.stdout.includes(`shard ${k + 1}/${envs.length}`), r.stdout);
        ok(r.stdout.includes("when every shard is done: deno task eval merge name=t"), r.stdout);
      });
      const gridDir = join(downstream, gridName);
      deepStrictEqual(
        await folders(gridDir),
        envs.map((_, k) => `shard_${k + 1}_of_${envs.length}`),
        `${label}: shards write only their own folders`,
      );
      const merged = await runEval(["merge", ...args], {});
      strictEqual(merged.code, 0, merged.stderr);
      ok(!merged.stdout.includes("missing"), merged.stdout);
      deepStrictEqual(await gridFiles(gridDir), reference, `${label}: merged grid differs`);
      await Deno.rename(downstream, join(base, label));
    }
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("eval --shard auto: without a scheduler's variables, or with ones that do not fit, exits 1 with one line", async () => {
  const base = await Deno.makeTempDir();
  try {
    await trainTiny(base);
    const args = ["name=t", `base_dir=${base}`, GRID, "impl.backend=cpu", "--shard", "auto"];
    const cases: [Record<string, string>, RegExp][] = [
      [
        {},
        /^--shard auto: needs a Slurm job array \(SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT\) or a Kubernetes Indexed Job \(JOB_COMPLETION_INDEX, ABACUS_SHARD_COUNT\); neither is set$/,
      ],
      [
        { JOB_COMPLETION_INDEX: "2", ABACUS_SHARD_COUNT: "2" },
        /JOB_COMPLETION_INDEX=2 must be below ABACUS_SHARD_COUNT=2/,
      ],
      [{ SLURM_ARRAY_TASK_ID: "4" }, /SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT are not/],
    ];
    for (const [env, want] of cases) {
      const r = await runEval(args, env);
      strictEqual(r.code, 1, JSON.stringify(env));
      const lines = errorLines(r.stderr);
      strictEqual(lines.length, 1, r.stderr);
      ok(want.test(lines[0]), lines[0]);
    }
    let wrote = true;
    await Deno.stat(join(base, "t", "downstream")).catch(() => (wrote = false));
    strictEqual(wrote, false, "a refused shard writes no results");
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("resolveShard('auto') maps Slurm arrays (with steps) and Indexed Jobs onto pieces, and refuses what does not fit", () => {
  const read = (vars: Record<string, string>) => (n: string) => vars[n];
  const slurm = (id: number, min: number, count: number, step?: number, max?: number) => ({
    SLURM_ARRAY_TASK_ID: String(id),
    SLURM_ARRAY_TASK_MIN: String(min),
    SLURM_ARRAY_TASK_COUNT: String(count),
    ...(step === undefined ? {} : { SLURM_ARRAY_TASK_STEP: String(step) }),
    ...(max === undefined ? {} : { SLURM_ARRAY_TASK_MAX: String(max) }),
  });
  // --array=0-99: ids 0..99 are pieces 1..100; --array=0-98:2 (50 tasks): id 2t is piece t+1.
  for (let id = 0; id < 100; id++) {
    const s = resolveShard("auto", read(slurm(id, 0, 100, 1, 99)));
    deepStrictEqual([s.index, s.count], [id + 1, 100]);
  }
  const seen = new Set<number>();
  for (let id = 0; id <= 98; id += 2) {
    seen.add(resolveShard("auto", read(slurm(id, 0, 50, 2, 98))).index);
  }
  deepStrictEqual([...seen], Array.from({ length: 50 }, (_, k) => k + 1));
  deepStrictEqual(resolveShard("auto", read(slurm(12, 5, 8))).index, 8); // no STEP/MAX: step 1
  deepStrictEqual(
    resolveShard("auto", read({ ...slurm(7, 5, 3, 1, 7), ABACUS_SHARD_COUNT: "3" })).from,
    "SLURM_ARRAY_TASK_ID=7 of 5..7",
  );
  for (let i = 0; i < 20; i++) {
    const s = resolveShard(
      "auto",
      read({ JOB_COMPLETION_INDEX: String(i), ABACUS_SHARD_COUNT: "20" }),
    );
    deepStrictEqual([s.index, s.count], [i + 1, 20]);
  }
  const refused: [Record<string, string>, RegExp][] = [
    [{}, /neither is set$/],
    [{ ABACUS_SHARD_COUNT: "4" }, /neither is set$/],
    [{ SLURM_ARRAY_TASK_ID: "" }, /neither is set$/],
    [
      { ...slurm(1, 0, 2), JOB_COMPLETION_INDEX: "0" },
      /both SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX are set/,
    ],
    [{ SLURM_ARRAY_TASK_ID: "1", SLURM_ARRAY_TASK_MIN: "0" }, /but SLURM_ARRAY_TASK_COUNT is not/],
    [
      { ...slurm(1, 0, 2), SLURM_ARRAY_TASK_ID: "x1" },
      /SLURM_ARRAY_TASK_ID="x1" is not a whole number/,
    ],
    [
      slurm(3, 0, 50, 2, 98),
      /SLURM_ARRAY_TASK_ID=3 is not in the evenly spaced array MIN=0 STEP=2/,
    ],
    [slurm(4, 1, 3, 1, 7), /--array=A-B or --array=A-B:S/], // a list such as --array=1,4,7 given step 1
    [slurm(0, 1, 3), /SLURM_ARRAY_TASK_ID=0 is not in the evenly spaced array/],
    [slurm(4, 1, 3), /SLURM_ARRAY_TASK_ID=4 is not in the evenly spaced array/],
    [slurm(0, 0, 0), /SLURM_ARRAY_TASK_COUNT=0 and SLURM_ARRAY_TASK_STEP=1 must be >= 1/],
    [
      { ...slurm(1, 0, 4), ABACUS_SHARD_COUNT: "5" },
      /ABACUS_SHARD_COUNT=5 but SLURM_ARRAY_TASK_COUNT=4: they must agree/,
    ],
    [{ JOB_COMPLETION_INDEX: "0" }, /JOB_COMPLETION_INDEX is set but ABACUS_SHARD_COUNT is not/],
    [{ JOB_COMPLETION_INDEX: "3", ABACUS_SHARD_COUNT: "3" }, /must be below ABACUS_SHARD_COUNT=3/],
    [
      { JOB_COMPLETION_INDEX: "-1", ABACUS_SHARD_COUNT: "3" },
      /JOB_COMPLETION_INDEX="-1" is not a whole number/,
    ],
  ];
  for (const [vars, want] of refused) {
    throws(() => resolveShard("auto", read(vars)), (e: Error) => {
      ok(e.message.startsWith("--shard auto: ") && !e.message.includes("\n"), e.message);
      ok(want.test(e.message), `${JSON.stringify(vars)}: ${e.message}`);
      return true;
    });
  }
});

/** The fenced code blocks of a markdown file, with their info strings. */
function codeBlocks(markdown: string): { lang: string; text: string }[] {
  return [...markdown.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({
    lang: m[1],
    text: m[2],
  }));
}

Deno.test("docs/cluster.md: its sbatch array and Indexed Job give every piece once, and their commands parse", async () => {
  const { parse } = await import("yaml");
  const blocks = codeBlocks(await Deno.readTextFile(join(REPO, "docs", "cluster.md")));
  const evalArgs = async (line: string) => {
    const words = line.trim().split(/\s+/).map((w) => w.replace(/"\$\{?RUNS[^"]*"/, "/runs"));
    strictEqual(words.slice(0, 3).join(" "), "deno task eval", line);
    return await loadConfig(words.slice(words[3] === "merge" ? 4 : 3), "eval", { log: () => {} });
  };
  const sbatch = blocks.filter((b) => b.lang === "sh" && b.text.includes("#SBATCH"));
  strictEqual(sbatch.length, 2);
  const array = /^#SBATCH --array=(\d+)-(\d+)(?::(\d+))?$/m.exec(sbatch[0].text);
  ok(array, "the eval script has an evenly spaced --array");
  const [min, max, step] = [Number(array[1]), Number(array[2]), Number(array[3] ?? 1)];
  const count = Math.floor((max - min) / step) + 1;
  const slurmPieces = [];
  for (let id = min; id <= max; id += step) {
    const vars: Record<string, string> = {
      SLURM_ARRAY_TASK_ID: String(id),
      SLURM_ARRAY_TASK_MIN: String(min),
      SLURM_ARRAY_TASK_MAX: String(min + (count - 1) * step),
      SLURM_ARRAY_TASK_STEP: String(step),
      SLURM_ARRAY_TASK_COUNT: String(count),
    };
    const s = resolveShard("auto", (n) => vars[n]);
    strictEqual(s.count, count);
    slurmPieces.push(s.index);
  }
  deepStrictEqual(slurmPieces, Array.from({ length: count }, (_, k) => k + 1));
  const slurmEval = await evalArgs(
    sbatch[0].text.split("\n").find((l) => l.includes("task eval"))!,
  );
  const slurmMerge = await evalArgs(
    sbatch[1].text.split("\n").find((l) => l.includes("task eval"))!,
  );
  strictEqual(slurmEval.shard, "auto");
  ok(/deno task eval merge /.test(sbatch[1].text));
  deepStrictEqual([slurmMerge.name, slurmMerge.eval.grid], [slurmEval.name, slurmEval.eval.grid]);

  const jobs = blocks.filter((b) => b.lang === "yaml").map((b) => parse(b.text));
  const indexed = jobs.find((j) => j.spec.completionMode === "Indexed");
  const merge = jobs.find((j) => j.spec.completionMode === undefined);
  ok(indexed && merge, "an Indexed Job and a merge Job");
  const container = indexed.spec.template.spec.containers[0];
  const declared = container.env.find((e: { name: string }) => e.name === "ABACUS_SHARD_COUNT");
  strictEqual(Number(declared.value), indexed.spec.completions);
  const k8sPieces = [];
  for (let i = 0; i < indexed.spec.completions; i++) {
    const vars: Record<string, string> = {
      JOB_COMPLETION_INDEX: String(i),
      [declared.name]: declared.value,
    };
    k8sPieces.push(resolveShard("auto", (n) => vars[n]).index);
  }
  deepStrictEqual(k8sPieces, Array.from({ length: indexed.spec.completions }, (_, k) => k + 1));
  const k8sEval = await evalArgs(container.command.join(" "));
  const k8sMerge = await evalArgs(merge.spec.template.spec.containers[0].command.join(" "));
  strictEqual(k8sEval.shard, "auto");
  deepStrictEqual([k8sMerge.name, k8sMerge.base_dir], [k8sEval.name, k8sEval.base_dir]);
  strictEqual(
    indexed.spec.template.spec.volumes[0].persistentVolumeClaim.claimName,
    merge.spec.template.spec.volumes[0].persistentVolumeClaim.claimName,
  );
});
