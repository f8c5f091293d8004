import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { loadConfig } from "../../cli/config.ts";
import { run, STUDY, studyTable } from "../../tasks/bench/generalisation.ts";
import type { RecipeRun } from "../../tasks/demo/recipes.ts";

Deno.test("every study config is a valid training config whose grid reaches 2x its training range", async () => {
  deepStrictEqual(new Set(STUDY.map((c) => c.name)).size, STUDY.length);
  ok(STUDY.length >= 8);
  for (const c of STUDY) {
    ok(c.grid >= 2 * c.range, c.name);
    const cfg = await loadConfig(["preset=demo", ...c.keys], "pretrain", { log: () => {} });
    ok(cfg.arch.embedding.pos_embedding === "abacus", c.name);
  }
});

Deno.test("the study's demo row is the demo preset, and upstream-2x64 the previous demo", async () => {
  const demo = await loadConfig(["preset=demo"], "pretrain");
  strictEqual(STUDY[0].name, "demo");
  deepStrictEqual(STUDY[0].keys, []);
  strictEqual(demo.arch.embedding.abacus_random_spacing > 0, true);
  const up = STUDY.find((c) => c.name === "upstream-2x64")!;
  const old = await loadConfig(["preset=demo", ...up.keys], "pretrain");
  strictEqual(old.arch.embedding.abacus_random_spacing, 0);
  strictEqual(old.arch.embedding.max_abacus_len, 20);
  strictEqual(old.train.budget_steps, 5000);
});

Deno.test("studyTable() gives each config's mean and per-seed figures and its command", () => {
  const r = (seed: number, id: number, ood: number): RecipeRun => ({
    name: `r${seed}`,
    seed,
    in_distribution: id,
    out_of_distribution: ood,
    train_seconds: 120 + 60 * seed,
    steps: 5000,
    eval_seconds: 1,
    results: "",
    cells: [],
  });
  const t = studyTable([
    { config: STUDY[1], runs: [r(0, 1, 0.25), r(1, 0.98, 0.5), r(2, 1, 0)] },
    { config: STUDY[2], runs: [] },
  ]).split("\n");
  strictEqual(t.length, 3); // header, rule, one row: a config without runs is left out
  ok(t[2].includes("| 99.3 (100.0, 98.0, 100.0) | 25.0 (25.0, 50.0, 0.0) | 3.0 |"), t[2]);
  ok(t[2].includes("`deno task bench generalisation --only upstream-2x64`"));
});

Deno.test("bench generalisation refuses an unknown config or seed list in one line", async () => {
  await rejects(
    () => run(["--only", "demo,nope"]),
    /Unknown study config "nope": choose from demo, /,
  );
  await rejects(() => run(["--seeds", "1,a"]), /Cannot parse --seeds "1,a"/);
  await rejects(() => run(["--samples", "0"]), /Cannot parse --samples "0"/);
});

Deno.test("bench generalisation --report prints the saved figures without training", async () => {
  const base = await Deno.makeTempDir();
  const dir = `${base}/generalisation/gen-demo-s0`;
  await Deno.mkdir(dir, { recursive: true });
  const saved: RecipeRun = {
    name: "gen-demo-s0",
    seed: 0,
    in_distribution: 1,
    out_of_distribution: 0.875,
    train_seconds: 300,
    steps: 5000,
    eval_seconds: 60,
    results: "",
    cells: [],
  };
  await Deno.writeTextFile(`${dir}/figures.json`, JSON.stringify(saved));
  const lines: string[] = [];
  const log = console.log;
  console.log = (m: string) => lines.push(m);
  try {
    await run(["--report", "--only", "demo,upstream-2x64", "--seeds", "0", "--base-dir", base]);
  } finally {
    console.log = log;
  }
  const table = lines.join("\n").trim().split("\n");
  strictEqual(table.length, 3);
  ok(table[2].startsWith("| demo |") && table[2].includes("| 87.5 (87.5) | 5.0 |"), table[2]);
  await Deno.remove(base, { recursive: true });
});
