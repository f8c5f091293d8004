// Turns a grid's cell results into the numbers a paper table needs (mean in-distribution,
// out-of-distribution and extended accuracy) and combines the part/shard folders of one grid
// into the grid folder, refusing shards of different setups or a cell with two different results.
// After a merge the grid folder looks exactly like the output of one unsharded run.

import { basename, dirname, join } from "node:path";
import type { TrainRange } from "../plot/types.ts";
import type { DatasetMeta } from "../../data/meta.ts";
import { type EvalCell, EvalError, type EvalTask } from "./grids.ts";
import {
  cellFileName,
  jobFolders,
  type JobInfo,
  readCells,
  stampKey,
  writeJsonAtomic,
} from "./results.ts";
import type { CellResult } from "./scoring.ts";

/** Mean per-cell accuracy (a fraction) of each class of cells; null when a class is empty. */
export interface Accuracies {
  /** Cells with i and j inside the training lengths. */
  in_distribution: number | null;
  /** Every other cell. */
  out_of_distribution: number | null;
  /** Cells with a side beyond 100 (upstream's extended sets). */
  extended: number | null;
  /** All cells. */
  all: number | null;
}

/** Contents of `summary.json`. */
export interface Summary extends Accuracies {
  /** Grid folder name. */
  grid_name: string;
  task: EvalTask;
  /** Training lengths used for the split (null: unknown, so no in/out split). */
  train_range: TrainRange | null;
  /** Cells in all. */
  cells: number;
  in_distribution_cells: number;
  out_of_distribution_cells: number;
  /** Extended cells (also counted out of distribution). */
  extended_cells: number;
  /** Samples in all. */
  samples: number;
  /** Sorting: the same means for the first label (top-1). */
  first_element?: Accuracies;
  /** Sorting: the same means for a first label of minimum value. */
  min_element?: Accuracies;
}

/** Options of `summarize`. */
export interface SummaryOptions {
  /** Grid folder name. */
  gridName: string;
  task: EvalTask;
  /** Training lengths (null: unknown). */
  trainRange: TrainRange | null;
}

/**
 * Training lengths of a training set's meta: 1..n x 1..m (sorting: max digits x list length).
 *
 * @example
 * ```ts
 * import { trainRangeOf } from "./summary.ts";
 * import type { DatasetMeta } from "../../data/meta.ts";
 * import assert from "node:assert/strict";
 *
 * const meta = { generator: { n: 20, m: 20 } } as DatasetMeta;
 * assert.deepEqual(trainRangeOf(meta), [[1, 20], [1, 20]]);
 * ```
 *
 * @param meta The training dataset's `meta.json`.
 */
export function trainRangeOf(meta: DatasetMeta): TrainRange {
  return [[1, meta.generator.n], [1, meta.generator.m]];
}

function mean(xs: number[]): number | null {
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/**
 * Mean accuracies of a grid's cells: in distribution, out of distribution, extended and all.
 *
 * Each cell weighs the same (its correct / total). Without a training range the in/out split
 * is null.
 *
 * @example
 * ```ts
 * import { summarize } from "./summary.ts";
 * import assert from "node:assert/strict";
 *
 * const cells = [{ i: 1, j: 1, correct: 10, total: 10 }, { i: 5, j: 1, correct: 2, total: 10 }, { i: 120, j: 120, correct: 0, total: 10 }];
 * const s = summarize(cells, { gridName: "g", task: "addition", trainRange: [[1, 2], [1, 2]] });
 * assert.deepEqual([s.in_distribution, s.out_of_distribution, s.extended], [1, 0.1, 0]);
 * assert.deepEqual([s.in_distribution_cells, s.out_of_distribution_cells, s.extended_cells], [1, 2, 1]);
 * ```
 */
export function summarize(cells: readonly CellResult[], options: SummaryOptions): Summary {
  const r = options.trainRange;
  const isIn = (c: CellResult) =>
    r !== null && c.i >= r[0][0] && c.i <= r[0][1] && c.j >= r[1][0] && c.j <= r[1][1];
  const isExt = (c: CellResult) => Math.max(c.i, c.j) > 100;
  const means = (f: (c: CellResult) => number | undefined): Accuracies => {
    const pick = (keep: (c: CellResult) => boolean) =>
      cells.filter(keep).map((c) => (f(c) ?? 0) / c.total);
    return {
      in_distribution: r === null ? null : mean(pick(isIn)),
      out_of_distribution: r === null ? null : mean(pick((c) => !isIn(c))),
      extended: mean(pick(isExt)),
      all: mean(pick(() => true)),
    };
  };
  const inCells = r === null ? 0 : cells.filter(isIn).length;
  const s: Summary = {
    grid_name: options.gridName,
    task: options.task,
    train_range: r,
    ...means((c) => c.correct),
    cells: cells.length,
    in_distribution_cells: inCells,
    out_of_distribution_cells: r === null ? 0 : cells.length - inCells,
    extended_cells: cells.filter(isExt).length,
    samples: cells.reduce((a, c) => a + c.total, 0),
  };
  if (cells.some((c) => c.correct_first !== undefined)) {
    s.first_element = means((c) => c.correct_first);
  }
  if (cells.length > 0 && cells.every((c) => c.correct_min !== undefined)) {
    s.min_element = means((c) => c.correct_min);
  }
  return s;
}

/** The run name of `<base>/<name>/downstream/<grid>`, if the path has that shape. */
function runName(gridDir: string): string | undefined {
  const parent = dirname(gridDir);
  return basename(parent) === "downstream" ? basename(dirname(parent)) : undefined;
}

/**
 * Writes `summary.json` and `results.json` (all cells in one file, the plot task's grid-file
 * format) into a results folder.
 *
 * @example
 * ```ts
 * import { writeSummary } from "./summary.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const s = await writeSummary(dir, [{ i: 1, j: 1, correct: 1, total: 2 }], { gridName: "g", task: "addition", trainRange: null });
 * assert.deepEqual(s.all, 0.5);
 * assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/results.json`)).cells.length, 1);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeSummary(
  dir: string,
  cells: readonly CellResult[],
  options: SummaryOptions,
): Promise<Summary> {
  const summary = summarize(cells, options);
  const sorted = [...cells].sort((a, b) => a.i - b.i || a.j - b.j);
  const name = runName(dir);
  await writeJsonAtomic(join(dir, "results.json"), {
    grid: options.task,
    ...(name ? { name } : {}),
    train_range: options.trainRange,
    cells: sorted,
  });
  await writeJsonAtomic(join(dir, "summary.json"), summary);
  return summary;
}

/** What `mergeResults` did. */
export interface MergeResult {
  /** Every cell of the grid, sorted. */
  cells: CellResult[];
  /** The grid's summary (also in `summary.json`). */
  summary: Summary;
  /** Folders merged. */
  sources: string[];
  /** Cells of `expected` that no folder holds. */
  missing: EvalCell[];
}

function sameResult(a: CellResult, b: CellResult): boolean {
  return a.correct === b.correct && a.total === b.total &&
    a.correct_first === b.correct_first && a.correct_min === b.correct_min;
}

/**
 * Combines a grid's part and shard folders into the grid folder (cells, samples, job.json,
 * results.json, summary.json), so it looks like one unsharded run.
 *
 * Every folder must have the same grid, task and stamp; a cell present twice with different
 * results is an error. Cells already in the grid folder stay.
 *
 * @example
 * ```ts
 * import { mergeResults } from "./summary.ts";
 * import { ResultStore } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * const gridDir = await Deno.makeTempDir();
 * for (const [part, j] of [["shard_1_of_2", 1], ["shard_2_of_2", 2]] as const) {
 *   const s = await ResultStore.open({ gridDir, grid: "g", task: "addition", part });
 *   await s.writeCell({ i: 1, j, correct: j, total: 4 });
 * }
 * const merged = await mergeResults(gridDir, { expected: [{ i: 1, j: 1 }, { i: 1, j: 2 }, { i: 1, j: 3 }] });
 * assert.deepEqual([merged.cells.length, merged.missing], [2, [{ i: 1, j: 3 }]]);
 * await Deno.remove(gridDir, { recursive: true });
 * ```
 *
 * @param options Cells the grid should have (to report missing ones) and a training range
 *   (default: the folders' own).
 */
export async function mergeResults(
  gridDir: string,
  options: { expected?: readonly EvalCell[]; trainRange?: TrainRange | null } = {},
): Promise<MergeResult> {
  const folders = await jobFolders(gridDir);
  const jobs = folders.filter((f) => f.job !== null) as { dir: string; job: JobInfo }[];
  if (jobs.length === 0) {
    throw new EvalError(`Cannot merge ${gridDir}: no job.json in it or its subfolders`);
  }
  const ref = jobs[0];
  for (const { dir, job } of jobs) {
    const what = job.grid_name !== ref.job.grid_name || job.task !== ref.job.task
      ? `grids ${ref.job.grid_name} and ${job.grid_name}`
      : stampKey(job.stamp) !== stampKey(ref.job.stamp)
      ? `settings ${JSON.stringify(ref.job.stamp)} and ${JSON.stringify(job.stamp)}`
      : null;
    if (what) throw new EvalError(`Cannot merge ${ref.dir} with ${dir}: they hold ${what}`);
  }
  const seen = new Map<string, { cell: CellResult; dir: string }>();
  for (const { dir } of folders) {
    for (const c of await readCells(dir)) {
      const k = `${c.i},${c.j}`, prev = seen.get(k);
      if (!prev) seen.set(k, { cell: c, dir });
      else if (!sameResult(prev.cell, c)) {
        throw new EvalError(
          `Cannot merge cell (${c.i}, ${c.j}): ${c.correct}/${c.total} in ${dir} but ${prev.cell.correct}/${prev.cell.total} in ${prev.dir}`,
        );
      }
    }
  }
  const trainRange = options.trainRange !== undefined
    ? options.trainRange
    : jobs.find((j) => j.job.train_range !== null)?.job.train_range ?? null;
  const top: JobInfo = { ...ref.job, part: null, train_range: trainRange };
  await writeJsonAtomic(join(gridDir, "job.json"), top);
  for (const { cell, dir } of seen.values()) {
    if (dir === gridDir) continue;
    const name = cellFileName(cell.i, cell.j);
    const from = join(dir, "samples", name), to = join(gridDir, "samples", name);
    try {
      await Deno.mkdir(join(gridDir, "samples"), { recursive: true });
      await Deno.copyFile(from, `${to}.tmp`);
      await Deno.rename(`${to}.tmp`, to);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    await writeJsonAtomic(join(gridDir, name), {
      ...cell,
      grid: top.task,
      train_range: trainRange ?? undefined,
    });
  }
  const cells = [...seen.values()].map((v) => v.cell).sort((a, b) => a.i - b.i || a.j - b.j);
  const summary = await writeSummary(gridDir, cells, {
    gridName: top.grid_name,
    task: top.task,
    trainRange,
  });
  const missing = (options.expected ?? []).filter((c) => !seen.has(`${c.i},${c.j}`));
  return { cells, summary, sources: folders.map((f) => f.dir), missing };
}
