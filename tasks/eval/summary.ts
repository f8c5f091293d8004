// Turns a grid's cell results into the numbers a paper table needs: mean in-distribution,
// out-of-distribution and extended accuracy.

import type { TrainRange } from "../plot/types.ts";
import type { EvalTask } from "./grids.ts";
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
export function summarize(
  cells: readonly CellResult[],
  options: { gridName: string; task: EvalTask; trainRange: TrainRange | null },
): Summary {
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
