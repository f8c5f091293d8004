/**
 * Grid arithmetic behind the layout: dense percentage grids from sparse cells, the mean shown in
 * sorting titles, and which lengths get a tick label. Kept apart from drawing so it is easy to
 * test and to reuse (e.g. for summaries).
 * @module
 */
import type { HeatmapPanel } from "./types.ts";

/** A panel's cells as a dense row-major grid of percentages (null where a cell has no result). */
export interface Grid {
  /** First row's length `i`. */
  i0: number;
  /** First column's length `j`. */
  j0: number;
  rows: number;
  cols: number;
  /** `rows * cols` percentages 0..100, row-major. */
  percent: (number | null)[];
}

const STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000];

/**
 * Fills a dense grid spanning a panel's smallest to largest `i` and `j`.
 *
 * Each cell becomes `100 * correct / total`. Throws on an empty panel, non-integer or negative
 * lengths, counts that are not a rate, and a cell given twice with different counts.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { toGrid } from "./grid.ts";
 * const g = toGrid({ cells: [{ i: 2, j: 3, correct: 1, total: 4 }, { i: 3, j: 4, correct: 4, total: 4 }] });
 * deepStrictEqual(g, { i0: 2, j0: 3, rows: 2, cols: 2, percent: [25, null, null, 100] });
 * ```
 */
export function toGrid(panel: HeatmapPanel): Grid {
  const label = panel.title ? `panel "${panel.title}"` : "a panel";
  if (panel.cells.length === 0) throw new Error(`Cannot plot ${label}: it has no cells`);
  let i0 = Infinity, i1 = -Infinity, j0 = Infinity, j1 = -Infinity;
  for (const c of panel.cells) {
    if (![c.i, c.j].every((v) => Number.isInteger(v) && v >= 0)) {
      throw new Error(`Cannot plot cell (${c.i}, ${c.j}): lengths must be integers >= 0`);
    }
    if (!(c.total > 0 && c.correct >= 0 && c.correct <= c.total)) {
      throw new Error(`Cannot plot cell (${c.i}, ${c.j}): ${c.correct}/${c.total} is not a rate`);
    }
    [i0, i1, j0, j1] = [Math.min(i0, c.i), Math.max(i1, c.i), Math.min(j0, c.j), Math.max(j1, c.j)];
  }
  const rows = i1 - i0 + 1, cols = j1 - j0 + 1;
  const percent: (number | null)[] = new Array(rows * cols).fill(null);
  for (const c of panel.cells) {
    const k = (c.i - i0) * cols + (c.j - j0), v = (100 * c.correct) / c.total;
    if (percent[k] !== null && percent[k] !== v) {
      throw new Error(`Cannot plot cell (${c.i}, ${c.j}) of ${label}: it is given twice`);
    }
    percent[k] = v;
  }
  return { i0, j0, rows, cols, percent };
}

/**
 * Averages the percentages of the cells that have results, unweighted (upstream's `np.mean`).
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { meanOf } from "./grid.ts";
 * strictEqual(meanOf({ i0: 1, j0: 1, rows: 1, cols: 3, percent: [50, null, 100] }), 75);
 * ```
 */
export function meanOf(g: Grid): number {
  const v = g.percent.filter((p): p is number => p !== null);
  return v.reduce((s, p) => s + p, 0) / v.length;
}

/**
 * Picks the smallest "nice" tick step (1, 2, 5, 10, 20, 25, 50, ...) of at least `need` cells.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { niceStep } from "./grid.ts";
 * strictEqual(niceStep(1), 1);
 * strictEqual(niceStep(6), 10);
 * ```
 * @param need the minimum spacing between labels, in cells
 */
export function niceStep(need: number): number {
  return STEPS.find((s) => s >= need) ?? STEPS[STEPS.length - 1];
}

/**
 * Lists the lengths to label on an axis: multiples of `step`, and the first length when it is at
 * least `step` cells before the first multiple (so labels never crowd).
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { tickValues } from "./grid.ts";
 * deepStrictEqual(tickValues(1, 5, 1), [1, 2, 3, 4, 5]);
 * deepStrictEqual(tickValues(1, 30, 10), [10, 20, 30]);
 * deepStrictEqual(tickValues(26, 15, 10), [30, 40]);
 * deepStrictEqual(tickValues(101, 60, 10), [110, 120, 130, 140, 150, 160]);
 * ```
 * @param first the first length on the axis
 * @returns the lengths to label, ascending
 */
export function tickValues(first: number, n: number, step: number): number[] {
  const last = first + n - 1;
  const m = Math.ceil(first / step) * step; // first multiple of step in range
  const out: number[] = m - first >= step || m > last ? [first] : [];
  for (let v = m; v <= last; v += step) out.push(v);
  return out;
}
