// Which cells an evaluation covers: the paper's grids (addition 100x100 and its extended
// equal-length sets, multiplication 25x25, sorting 30x30, bitwise OR 40x40), `eval.grid=` ranges,
// and upstream's job-splitting flags (`big_eval_step_k`, `checkerboard`, `max_size_given`, ...)
// mapped onto one grid plus a cell filter, so upstream's 20-job recipe still works unchanged.
// Reference: upstream arithmetic_eval_quicker.py `grid_logic`, sort_eval.py (McLeish et al. 2024).

import type { GridKind } from "../plot/types.ts";
import { DEFAULT_SPEC, scratchpadChars } from "../../data/spec.ts";

/** The evaluation tasks; the same names as the plot task's grid kinds. */
export type EvalTask = GridKind;

/** One cell: operand lengths (sorting: i = maximum digits, j = list length). */
export interface EvalCell {
  /** First operand length, or the maximum digits of a sorting list. */
  i: number;
  /** Second operand length, or the length of a sorting list. */
  j: number;
}

/**
 * An error in evaluation input; its message is one line meant to be printed as is.
 *
 * @example
 * ```ts
 * import { EvalError, parseGridRange } from "./grids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => parseGridRange("x"), EvalError);
 * ```
 */
export class EvalError extends Error {
  /** @param message Sentence-case message without a trailing period. */
  constructor(message: string) {
    super(message);
    this.name = "EvalError";
  }
}

/** An inclusive rectangle of cells: i in `i[0]..i[1]`, j in `j[0]..j[1]`. */
export interface CellRange {
  /** First-side range. */
  i: [number, number];
  /** Second-side range. */
  j: [number, number];
}

/**
 * Upstream's `big_eval_step_k` bands of max(i, j) that split the 100x100 grid into 10 jobs of
 * roughly equal forward passes (k = index + 1).
 *
 * @example
 * ```ts
 * import { BIG_EVAL_BANDS } from "./grids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(BIG_EVAL_BANDS[0], [1, 46]);
 * assert.deepEqual(BIG_EVAL_BANDS.length, 10);
 * ```
 */
export const BIG_EVAL_BANDS: readonly (readonly [number, number])[] = Object.freeze(
  [
    [1, 46],
    [47, 58],
    [59, 67],
    [68, 74],
    [75, 80],
    [81, 85],
    [86, 90],
    [91, 94],
    [95, 97],
    [98, 100],
  ] as const,
);

/**
 * Upstream's extended equal-length addition sets (`extended_eval` with `big_eval_step_N`): the
 * lengths s of the cells (s, s).
 *
 * @example
 * ```ts
 * import { EXTENDED_SETS } from "./grids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual([EXTENDED_SETS[1][0], EXTENDED_SETS[1].at(-1)], [101, 160]);
 * assert.deepEqual(EXTENDED_SETS[2], [800, 1000]);
 * ```
 */
export const EXTENDED_SETS: Readonly<Record<number, readonly number[]>> = Object.freeze({
  1: Array.from({ length: 60 }, (_, k) => 101 + k),
  2: [800, 1000],
  3: [200, 700, 900],
  4: [300, 400, 500, 600],
});

/**
 * Each task's default grid: 1..N on both sides.
 *
 * @example
 * ```ts
 * import { DEFAULT_SIDES } from "./grids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(DEFAULT_SIDES, { addition: 100, multiplication: 25, sorting: 30, or: 40 });
 * ```
 */
export const DEFAULT_SIDES: Readonly<Record<EvalTask, number>> = Object.freeze({
  addition: 100,
  multiplication: 25,
  sorting: 30,
  or: 40,
});

/**
 * Parses an `eval.grid` value: `I..JxK..L`, where either side may be a single length.
 *
 * @example
 * ```ts
 * import { parseGridRange } from "./grids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseGridRange("1..12x1..12"), { i: [1, 12], j: [1, 12] });
 * assert.deepEqual(parseGridRange("5x7"), { i: [5, 5], j: [7, 7] });
 * assert.deepEqual(parseGridRange("1..20x3"), { i: [1, 20], j: [3, 3] });
 * assert.throws(() => parseGridRange("1..x3"), /Cannot parse eval.grid "1..x3": expected I..JxK..L/);
 * ```
 *
 * @param text The value, e.g. `1..100x1..100`.
 */
export function parseGridRange(text: string): CellRange {
  const m = /^\s*(\d+)(?:\.\.(\d+))?\s*x\s*(\d+)(?:\.\.(\d+))?\s*$/.exec(text);
  if (!m) throw new EvalError(`Cannot parse eval.grid "${text}": expected I..JxK..L`);
  const i: [number, number] = [+m[1], +(m[2] ?? m[1])];
  const j: [number, number] = [+m[3], +(m[4] ?? m[3])];
  for (const [lo, hi] of [i, j]) {
    if (lo < 1 || hi < lo || hi > 100_000) {
      throw new EvalError(
        `Cannot parse eval.grid "${text}": range ${lo}..${hi} must satisfy 1 <= start <= end`,
      );
    }
  }
  return { i, j };
}

/**
 * Lists the cells of a range, i outer and j inner.
 *
 * @example
 * ```ts
 * import { rangeCells } from "./grids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(rangeCells({ i: [1, 2], j: [3, 3] }), [{ i: 1, j: 3 }, { i: 2, j: 3 }]);
 * ```
 *
 * @returns Its cells in row-major order.
 */
export function rangeCells(range: CellRange): EvalCell[] {
  const cells: EvalCell[] = [];
  for (let i = range.i[0]; i <= range.i[1]; i++) {
    for (let j = range.j[0]; j <= range.j[1]; j++) cells.push({ i, j });
  }
  return cells;
}

/**
 * Longest prompt (up to and including `=`) and tokens to generate of a cell, EOS included.
 *
 * Addition `a+b=`: i + j + 2 tokens, answer up to max(i, j) + 1 digits; multiplication: up to
 * i + j digits; OR: max(i, j) digits; sorting `l:n,...=`: j * (i + 3) tokens, answer 2j - 1 tokens
 * (labels and commas; the EOS is not scored); a multiplication scratchpad adds its partial
 * products. Used for sharding costs and context checks.
 *
 * @example
 * ```ts
 * import { cellTokens } from "./grids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(cellTokens("addition", 3, 5), { prompt: 10, generate: 7 });
 * assert.deepEqual(cellTokens("sorting", 2, 4), { prompt: 20, generate: 7 });
 * // 3 x 3 digits with a scratchpad: "p0+p1+p2=" (4 + 5 + 6 digits, "+", "+", "=") then 6 and EOS.
 * assert.deepEqual(cellTokens("multiplication", 3, 3, true), { prompt: 8, generate: 25 });
 * ```
 */
export function cellTokens(
  task: EvalTask,
  i: number,
  j: number,
  scratchpad = false,
): { prompt: number; generate: number } {
  if (task === "sorting") return { prompt: j * (i + 3), generate: 2 * j - 1 };
  const answer = task === "multiplication"
    ? i + j
    : task === "or"
    ? Math.max(i, j)
    : Math.max(i, j) + 1;
  const pad = task === "multiplication" && scratchpad
    ? scratchpadChars({ ...DEFAULT_SPEC, op: "x", n: i, m: j, scratchpad: true })
    : 0;
  return { prompt: i + j + 2, generate: answer + pad + 1 };
}

/**
 * Samples of a cell in the data task's grid presets: 100, sorting 200, OR min(i, j) (every
 * one-hot position, at most 100).
 *
 * @example
 * ```ts
 * import { cellSamples } from "./grids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual([cellSamples("addition", 9, 9), cellSamples("or", 3, 30)], [100, 3]);
 * ```
 */
export function cellSamples(task: EvalTask, i: number, j: number): number {
  if (task === "sorting") return 200;
  if (task === "or") return Math.min(i, j, 100);
  return 100;
}

/**
 * Decoding cost of a cell: samples x (prompt tokens + tokens to generate).
 *
 * @example
 * ```ts
 * import { cellCost } from "./grids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(cellCost("addition", { i: 3, j: 5 }), 100 * (10 + 7));
 * assert.deepEqual(cellCost("addition", { i: 3, j: 5 }, 10), 10 * 17);
 * ```
 *
 * @param samples Samples per cell (default {@link cellSamples}).
 * @returns A cost in tokens.
 */
export function cellCost(task: EvalTask, cell: EvalCell, samples?: number): number {
  const { prompt, generate } = cellTokens(task, cell.i, cell.j);
  return (samples ?? cellSamples(task, cell.i, cell.j)) * (prompt + generate);
}

/**
 * Whether a cell lies in a band of max(i, j), the shape of `big_eval_step_k`, `ood_only`,
 * `up_to_40` and `up_to_50`.
 *
 * @example
 * ```ts
 * import { BIG_EVAL_BANDS, inBand } from "./grids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(inBand({ i: 50, j: 3 }, BIG_EVAL_BANDS[1]), true);
 * assert.deepEqual(inBand({ i: 59, j: 3 }, BIG_EVAL_BANDS[1]), false);
 * ```
 *
 * @param band Inclusive [lo, hi] of the longer side.
 * @returns True when lo <= max(i, j) <= hi.
 */
export function inBand(cell: EvalCell, band: readonly [number, number]): boolean {
  const m = Math.max(cell.i, cell.j);
  return m >= band[0] && m <= band[1];
}
