/**
 * `deno task bench generalisation [--only A,B] [--seeds 0,1,2] [--samples N] [--base-dir DIR]
 * [--report] [--json]`: the length-generalisation study behind the demo preset. Each
 * configuration (a change to `preset=demo`, a training range and a grid reaching at least twice
 * it) is trained and evaluated for every seed with abacus itself; the figures of each run are
 * kept under `<base_dir>/generalisation/`, so a rerun skips what is done and `--report` prints
 * the table (markdown, as in docs/length-generalisation.md) without training anything.
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { resolveBaseDir, userCwd } from "../../cli/config.ts";
import { writeFileAtomic } from "../../core/checkpoint.ts";
import { meanOf } from "../eval/results.ts";
import { type Recipe, type RecipeRun, runRecipe } from "../demo/recipes.ts";

/** One configuration of the study. */
export interface StudyConfig extends Recipe {
  /** Name (`--only NAME`). */
  name: string;
  /** What differs from the demo preset, in words. */
  what: string;
}

const UPSTREAM = ["arch.embedding.abacus_random_spacing=0", "arch.embedding.max_abacus_len=20"];

/**
 * The configurations, in the order the study runs them. `demo` is the demo preset itself;
 * `upstream-*` use upstream's Abacus positions (a shift k in 0..20 per batch, no spacing).
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { STUDY } from "./generalisation.ts";
 * ok(STUDY[0].name === "demo" && STUDY[0].keys.length === 0);
 * ```
 */
export const STUDY: readonly StudyConfig[] = Object.freeze([
  { name: "demo", what: "the demo preset: 2x1, width 64, spacing 0.7, k <= 14", keys: [] },
  { name: "upstream-2x64", what: "no spacing, k <= 20 (the previous demo)", keys: UPSTREAM },
  {
    name: "upstream-4x64",
    what: "no spacing, k <= 20, 4 layers",
    keys: [...UPSTREAM, "arch.layers_in_recurrent_block=4"],
  },
  {
    name: "upstream-looped-2x2",
    what: "no spacing, k <= 20, a 2-layer block looped twice (input injection), 4 at eval",
    keys: [...UPSTREAM, "arch.maximal_recurrence=2"],
    maxRec: 4,
  },
  {
    name: "upstream-2x256",
    what: "no spacing, k <= 20, width 256, lr 1e-3, 2400 steps",
    keys: [
      ...UPSTREAM,
      "arch.hidden_size=256",
      "arch.intermed_size=512",
      "train.optim.lr=1e-3",
      "train.budget_steps=2400",
    ],
  },
  {
    name: "spaced-looped-2x2",
    what: "a 2-layer block looped twice (input injection), 4 recurrences at eval",
    keys: ["arch.maximal_recurrence=2"],
    maxRec: 4,
  },
  {
    name: "spaced-k24",
    what: "k <= 24 (positions up to 30)",
    keys: ["arch.embedding.max_abacus_len=24"],
  },
  { name: "spaced-2500", what: "2500 steps", keys: ["train.budget_steps=2500"] },
  {
    name: "spaced-b128",
    what: "batch 128, 2500 steps (the same samples)",
    keys: ["train.batch_size=128", "impl.microbatch_size=128", "train.budget_steps=2500"],
  },
  { name: "spaced-lr1e-3", what: "lr 1e-3", keys: ["train.optim.lr=1e-3"] },
  {
    name: "spaced-w32-h2",
    what: "width 32 (FFN 64), 2 heads",
    keys: ["arch.hidden_size=32", "arch.intermed_size=64", "arch.attention.num_attention_heads=2"],
  },
  {
    name: "spaced-always",
    what: "spacing 1 (every batch spaced, never shifted)",
    keys: ["arch.embedding.abacus_random_spacing=1"],
  },
  {
    name: "upstream-range8",
    what: "no spacing, k <= 20, trained on 1..8 digits",
    keys: UPSTREAM,
    range: 8,
    grid: 16,
  },
  { name: "spaced-range8", what: "trained on 1..8 digits", keys: [], range: 8, grid: 16 },
].map((c) => ({ range: 5, grid: 12, ...c })));

/** The figures of one configuration over its seeds. */
export interface StudyRow {
  /** The configuration. */
  config: StudyConfig;
  /** Each seed's run, in seed order. */
  runs: RecipeRun[];
}

function pct(x: number | null): string {
  return x === null ? "n/a" : (100 * x).toFixed(1);
}

/**
 * The study's table in markdown: one row per configuration with its mean and per-seed in- and
 * out-of-distribution exact match, training minutes and the command that reproduces it.
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { STUDY, studyTable } from "./generalisation.ts";
 * const run = { name: "r", seed: 0, in_distribution: 1, out_of_distribution: 0.5, train_seconds: 60,
 *   steps: 10, eval_seconds: 1, results: "", cells: [] };
 * ok(studyTable([{ config: STUDY[0], runs: [run] }]).includes("| 50.0 (50.0) |"));
 * ```
 */
export function studyTable(rows: readonly StudyRow[]): string {
  const lines = [
    "| config | change from the demo preset | train / grid | steps | seeds | ID % mean (per seed) | OOD % mean (per seed) | train min | command |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const { config: c, runs } of rows) {
    if (runs.length === 0) continue;
    const per = (f: (r: RecipeRun) => number | null) =>
      `${pct(meanOf(runs.map(f)))} (${runs.map((r) => pct(f(r))).join(", ")})`;
    const minutes = meanOf(runs.map((r) => r.train_seconds / 60)) ?? 0;
    lines.push(
      `| ${c.name} | ${c.what} | 1..${c.range} / 1..${c.grid} | ${runs[0].steps} | ` +
        `${runs.map((r) => r.seed).join(",")} | ${per((r) => r.in_distribution)} | ` +
        `${per((r) => r.out_of_distribution)} | ${minutes.toFixed(1)} | ` +
        `\`deno task bench generalisation --only ${c.name}\` |`,
    );
  }
  return lines.join("\n");
}

/** A run's saved figures, or null when it has none yet. */
function saved(dir: string): Promise<RecipeRun | null> {
  return Deno.readTextFile(join(dir, "figures.json")).then(JSON.parse).catch(() => null);
}

/**
 * Runs the study (or reports it).
 *
 * @example
 * ```ts ignore
 * await run(["--only", "demo,upstream-2x64", "--seeds", "0,1,2"]);
 * ```
 */
export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      only: { type: "string" },
      seeds: { type: "string", default: "0,1,2" },
      samples: { type: "string", default: "100" },
      "base-dir": { type: "string" },
      report: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  const names = values.only?.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = names?.filter((n) => !STUDY.some((c) => c.name === n)) ?? [];
  if (unknown.length) {
    throw new Error(
      `Unknown study config "${unknown[0]}": choose from ${STUDY.map((c) => c.name).join(", ")}`,
    );
  }
  const seeds = values.seeds.split(",").map((s) => Number(s.trim()));
  if (seeds.some((s) => !Number.isSafeInteger(s) || s < 0)) {
    throw new Error(`Cannot parse --seeds "${values.seeds}": expected integers like 0,1,2`);
  }
  const samples = Number(values.samples);
  if (!Number.isInteger(samples) || samples < 1) {
    throw new Error(`Cannot parse --samples "${values.samples}": expected a positive integer`);
  }
  const base = resolveBaseDir(values["base-dir"] ?? null, { cwd: userCwd() });
  const root = join(base, "generalisation");
  const rows: StudyRow[] = [];
  for (const c of STUDY.filter((c) => !names || names.includes(c.name))) {
    const row: StudyRow = { config: c, runs: [] };
    rows.push(row);
    for (const seed of seeds) {
      const name = `gen-${c.name}-s${seed}`;
      const dir = join(root, name);
      let r = await saved(dir);
      if (!r && !values.report) {
        if (!values.json) console.log(`\n== ${c.name}, seed ${seed}: ${c.what} ==`);
        r = await runRecipe(c, { name, seed, baseDir: root, samples, quiet: values.json });
        await Deno.mkdir(dir, { recursive: true });
        await writeFileAtomic(join(dir, "figures.json"), JSON.stringify(r) + "\n");
        if (!values.json) {
          console.log(
            `ID ${pct(r.in_distribution)}%, OOD ${pct(r.out_of_distribution)}%, ` +
              `${(r.train_seconds / 60).toFixed(1)} min training, ${
                r.eval_seconds.toFixed(0)
              } s eval`,
          );
        }
      }
      if (r) row.runs.push(r);
    }
  }
  if (values.json) {
    console.log(JSON.stringify(
      rows.map((r) => ({ ...r, runs: r.runs.map(({ cells: _, ...rest }) => rest) })),
      null,
      2,
    ));
  } else console.log("\n" + studyTable(rows));
}
