/**
 * Shared vocabulary of the plotting and evaluation code: grid kinds, the per-cell results a
 * heatmap shows, training ranges and panels.
 * @module
 */

/** The evaluation grids abacus plots; each sets axis labels and the annotation format. */
export type GridKind = "addition" | "multiplication" | "sorting" | "or";

/**
 * Lists every grid kind in a fixed order.
 *
 * Used to validate `--kind` and the `grid` field of result files, and in their error messages.
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { GRID_KINDS } from "./types.ts";
 * ok(GRID_KINDS.includes("sorting"));
 * ```
 */
export const GRID_KINDS: readonly GridKind[] = ["addition", "multiplication", "sorting", "or"];

/** One evaluated cell: `correct` of `total` samples with operand lengths `i` (row) and `j`. */
export interface Cell {
  /** First operand length (sorting: maximum digits), drawn on the y axis. */
  i: number;
  /** Second operand length (sorting: list length), drawn on the x axis. */
  j: number;
  /** Samples answered exactly right. */
  correct: number;
  /** Samples evaluated, > 0. */
  total: number;
}

/** An inclusive training range: `[[iMin, iMax], [jMin, jMax]]`. */
export type TrainRange = [[number, number], [number, number]];

/** One heatmap in a figure: a run's grid of results, drawn with its own title. */
export interface HeatmapPanel {
  /** Cells to draw; the grid spans their minimum to maximum `i` and `j`. Absent cells are grey. */
  cells: Cell[];
  /** The title above the grid (sorting adds the mean accuracy). Default: none. */
  title?: string;
  /** The grid kind, which picks axis labels and annotation decimals. Default "addition". */
  kind?: GridKind;
  /** Training lengths, outlined in red; `null` or absent draws no box. */
  trainRange?: TrainRange | null;
}
