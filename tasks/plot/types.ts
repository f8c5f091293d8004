/**
 * Shared vocabulary of the plotting code: grid kinds with their axis labels, the per-cell results a
 * heatmap shows, and the small display list (rectangles, outlines, lines, text, a colour bar) that
 * the layout emits and the SVG writer draws; the PNG is rendered from that SVG, so both agree.
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

/**
 * Gives each grid kind's axis labels and annotation decimals, as upstream's plotters write them.
 *
 * `y` labels the first operand length (rows), `x` the second (columns); `decimals` is 0 (`.0f`)
 * except for sorting (`.1f`).
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { KIND_STYLE } from "./types.ts";
 * strictEqual(KIND_STYLE.addition.y, "1st Number Length");
 * strictEqual(KIND_STYLE.sorting.decimals, 1);
 * ```
 */
export const KIND_STYLE: Record<GridKind, { y: string; x: string; decimals: number }> = {
  addition: { y: "1st Number Length", x: "2nd Number Length", decimals: 0 },
  multiplication: { y: "1st Number Length", x: "2nd Number Length", decimals: 0 },
  or: { y: "1st Number Length", x: "2nd Number Length", decimals: 0 },
  sorting: { y: "Maximum n-digit number (1-n)", x: "Length of array to sort", decimals: 1 },
};

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

/** Layout options shared by every panel of a figure. */
export interface HeatmapOptions {
  /** Write the percentage in each cell. Default: only when the grid is at most 30x30. */
  annotate?: boolean;
  /** Label every n-th length on both axes. Default: the smallest of 1, 2, 5, 10, ... that fits. */
  tickStep?: number;
  /** Append the mean accuracy over drawn cells to each title. Default: only for sorting. */
  showMean?: boolean;
  /** PNG pixels per SVG unit (the SVG is unaffected). Default 1. */
  scale?: number;
}

/** A filled rectangle; heatmap cells carry their grid position and value. */
export interface RectShape {
  kind: "rect";
  x: number;
  y: number;
  w: number;
  h: number;
  fill: string;
  /** Set on heatmap cells (value null for a cell without results). */
  cell?: { i: number; j: number; percent: number | null };
}

/** A rectangle outline whose stroke is centred on the rectangle's edges. */
export interface BoxShape {
  kind: "box";
  x: number;
  y: number;
  w: number;
  h: number;
  stroke: string;
  width: number;
  /** What the outline marks ("train" for the training range). */
  role: string;
}

/** A straight line (axis ticks), `width` units thick. */
export interface LineShape {
  kind: "line";
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  stroke: string;
  width: number;
}

/** One line of text centred vertically on `y`; `rotate` turns it to read bottom to top. */
export interface TextShape {
  kind: "text";
  x: number;
  y: number;
  text: string;
  /** Text size: the font size is `10 * size` units (DejaVu Sans capitals about `7 * size`). */
  size: number;
  fill: string;
  anchor: "start" | "middle" | "end";
  rotate: boolean;
}

/** A vertical YlGnBu colour bar, 100% at the top and 0% at the bottom. */
export interface ColorBarShape {
  kind: "colorbar";
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Anything the layout draws. */
export type Shape = RectShape | BoxShape | LineShape | TextShape | ColorBarShape;

/** A laid-out figure: its size in units (1 unit = 1 PNG pixel at scale 1) and shapes in order. */
export interface Figure {
  width: number;
  height: number;
  background: string;
  shapes: Shape[];
}
