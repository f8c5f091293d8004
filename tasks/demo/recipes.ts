// What the demo and the length-generalisation study share: a recipe (a training preset with
// extra keys, the task it learns and the grid it is evaluated on), and one function that trains
// a recipe for one seed, evaluates its grid with the task's own scoring and reports the figures.
// Addition recipes train on reversed 1..n-digit operands (the study varies n; sets other than
// the demo's 1..5 are generated on first use); multiplication and sorting use their presets' data.

import { join } from "node:path";
import { listCheckpoints, readCheckpointState } from "../../core/checkpoint.ts";
import { loadConfig } from "../../cli/config.ts";
import { ensureDataset } from "../../data/generate.ts";
import { datasetDir, datasetName } from "../../data/presets.ts";
import { resolveSpec } from "../../data/spec.ts";
import type { Cell } from "../plot/types.ts";
import { train } from "../train/run.ts";
import { evaluate } from "../eval.ts";
import type { Accuracies } from "../eval/results.ts";

/** The tasks a recipe can train: the three of the paper. */
export type RecipeTask = "addition" | "multiplication" | "sorting";

/** Training samples of a generated 1..n addition set (as the `demo-addition` preset). */
const SAMPLES = 200_000;

/** One training configuration and its evaluation grid. */
export interface Recipe {
  /** What is learnt (default addition): picks the evaluation grid and its scoring. */
  task?: RecipeTask;
  /** Training preset (default `demo`). */
  preset?: string;
  /** Training keys on top of the preset (`key=value`, as `deno task train` takes them). */
  keys: readonly string[];
  /**
   * Training lengths: addition operands of 1..range digits (its data set follows); for the
   * other tasks the preset's data, which must match (multiplication 1..range x 1..range digits,
   * sorting 1..range numbers of 1..range digits).
   */
  range: number;
  /** The grid is 1..grid x 1..grid (sorting: maximum digits x list length). */
  grid: number;
  /** Recurrences at evaluation (default: the training value). */
  maxRec?: number;
}

/** One trained and evaluated seed of a recipe. */
export interface RecipeRun {
  /** Run name under the base folder. */
  name: string;
  seed: number;
  /** Mean exact match over cells with both operands in the training range (a fraction). */
  in_distribution: number | null;
  /** Mean exact match over the other cells: an operand longer than any trained on. */
  out_of_distribution: number | null;
  /** Sorting: the same means for a right first label (upstream's top-1). */
  first_element?: Accuracies;
  /** Sorting: the same means for a first label naming a minimum-value number. */
  min_element?: Accuracies;
  /** Training wall-clock seconds, as the final checkpoint records them (resumes included). */
  train_seconds: number;
  /** Optimizer steps trained. */
  steps: number;
  /** Evaluation wall-clock seconds of this call (0 when every cell was already done). */
  eval_seconds: number;
  /** The grid's results folder. */
  results: string;
  /** The grid's cells. */
  cells: Cell[];
}

// The `data.dataset` key that trains on 1..range-digit reversed additions: the `demo-addition`
// preset for 1..5, else a 200k-sample bucketed set generated into `<base_dir>/data/` on first
// use (upstream's folder name).
async function datasetKey(range: number, baseDir: string): Promise<string> {
  if (range === 5) return "data.dataset=demo-addition";
  const spec = { op: "+" as const, n: range, m: range, limit: SAMPLES, reverseAll: true };
  const name = datasetName(resolveSpec(spec));
  await ensureDataset({ spec, name, out: datasetDir(baseDir, name) });
  return `data.dataset=${name}`;
}

/** The eval keys that pick each task's grid and scoring (upstream's flags). */
const TASK_KEYS: Readonly<Record<RecipeTask, readonly string[]>> = {
  addition: [],
  multiplication: ["mul=True"],
  sorting: ["tokenizer_type=sort"],
};

/**
 * Trains a recipe for one seed (or resumes, or reuses a finished run of the same name) and
 * evaluates its grid, printing the trainer's and evaluator's progress unless `quiet`.
 *
 * @example
 * ```ts ignore
 * const run = await runRecipe({ keys: [], range: 5, grid: 12 }, {
 *   name: "demo-abacus", seed: 0, baseDir: "/tmp/demo", samples: 100,
 * });
 * console.log(run.out_of_distribution);
 * ```
 */
export async function runRecipe(
  recipe: Recipe,
  o: {
    name: string;
    seed: number;
    baseDir: string;
    samples: number;
    quiet?: boolean;
  },
): Promise<RecipeRun> {
  const task = recipe.task ?? "addition";
  const common = [`name=${o.name}`, `base_dir=${o.baseDir}`];
  const cfg = await loadConfig(
    [
      `preset=${recipe.preset ?? "demo"}`,
      ...common,
      `seed=${o.seed}`,
      ...(task === "addition" ? [await datasetKey(recipe.range, o.baseDir)] : []),
      ...recipe.keys,
    ],
    "pretrain",
    { log: () => {} },
  );
  // The trainer prints its progress: silence it when quiet.
  const log = console.log;
  if (o.quiet) console.log = () => {};
  let trained, ev, t0;
  try {
    trained = await train(cfg);
    t0 = performance.now();
    ev = await evaluate([
      ...common,
      ...TASK_KEYS[task],
      `eval.grid=1..${recipe.grid}x1..${recipe.grid}`,
      ...(recipe.maxRec ? [`max_rec=${recipe.maxRec}`] : []),
    ], { samples: o.samples, quiet: o.quiet });
  } finally {
    console.log = log;
  }
  // A run finished earlier is not trained again: its newest final checkpoint holds the time.
  const final = trained.final?.dir ?? (await listCheckpoints(join(o.baseDir, o.name)))
    .findLast((c) => c.name.startsWith("FINAL_"))?.path;
  const sorting = task === "sorting"
    ? { first_element: ev.summary.first_element, min_element: ev.summary.min_element }
    : {};
  return {
    name: o.name,
    seed: o.seed,
    in_distribution: ev.summary.in_distribution,
    out_of_distribution: ev.summary.out_of_distribution,
    ...sorting,
    train_seconds: final ? (await readCheckpointState(final)).elapsed_seconds : 0,
    steps: trained.step,
    eval_seconds: (performance.now() - t0) / 1000,
    results: ev.dir,
    cells: ev.cells,
  };
}

/**
 * Pools the cells of several runs of one grid (sums of correct and total per cell), so a
 * heatmap shows the seeds together.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { poolCells } from "./recipes.ts";
 * const a = [{ i: 1, j: 1, correct: 9, total: 10 }], b = [{ i: 1, j: 1, correct: 7, total: 10 }];
 * deepStrictEqual(poolCells([a, b]), [{ i: 1, j: 1, correct: 16, total: 20 }]);
 * ```
 * @returns one cell per (i, j), ordered by i then j
 */
export function poolCells(runs: readonly (readonly Cell[])[]): Cell[] {
  const byKey = new Map<string, Cell>();
  for (const c of runs.flat()) {
    const k = `${c.i},${c.j}`;
    const have = byKey.get(k);
    if (have) {
      have.correct += c.correct;
      have.total += c.total;
    } else byKey.set(k, { i: c.i, j: c.j, correct: c.correct, total: c.total });
  }
  return [...byKey.values()].sort((a, b) => a.i - b.i || a.j - b.j);
}
