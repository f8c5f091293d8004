// The row-length rule: the longest possible sample of a spec, computed from its arguments alone
// so that the writer can fix the row length before streaming. Also the cap on random spaces
// that keeps that bound finite (upstream's space insertion is unbounded in principle).

import { answerDigits, type DataSpec } from "./spec.ts";

/** Expected and variance of spaces inserted before one character with probability p. */
function spaceMoments(p: number): { mean: number; variance: number } {
  let mean = 0, second = 0, tail = 1;
  for (let k = 1; k < 30; k++) {
    tail *= p * 0.1 ** (k - 1); // P(at least k spaces)
    mean += tail;
    second += (2 * k - 1) * tail;
  }
  return { mean, variance: second - mean * mean };
}

/**
 * Most spaces one sample may receive: mean + 6 standard deviations + 4 (upstream has no cap;
 * exceeding it has probability far below 1e-9 per sample). Further space draws are skipped.
 *
 * @example
 * ```ts
 * import { spaceBudget } from "./row_length.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(spaceBudget(0, 64), 0);
 * ```
 *
 * @param chars Most characters of a sample before spaces.
 */
export function spaceBudget(p: number, chars: number): number {
  if (p <= 0) return 0;
  const { mean, variance } = spaceMoments(p);
  return Math.ceil(chars * mean + 6 * Math.sqrt(chars * variance) + 4);
}

/**
 * Longest possible sample of a spec in characters = tokens, before EOS and spaces.
 *
 * Arithmetic: n + 1 + m + 1 + answer, the answer being max(n, m) + 1 (a carry or a minus sign)
 * or n + m for `x`; index hints double each number; a multiplication scratchpad adds
 * {@link scratchpadChars}. Sorting: m * (n + 5) - 1 (n digits, or 2n with hints). OR: n + 1 + m +
 * 1 + max(n, m).
 *
 * @example
 * ```ts
 * import { maxSampleChars } from "./row_length.ts";
 * import { resolveSpec } from "./spec.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(maxSampleChars(resolveSpec({ op: "+", n: 20, m: 20 })), 63);
 * assert.deepEqual(maxSampleChars(resolveSpec({ op: "sort", n: 10, m: 10 })), 149);
 * ```
 *
 * @returns The bound in characters.
 */
export function maxSampleChars(spec: DataSpec): number {
  const h = spec.indexHints ? 2 : 1;
  if (spec.op === "sort") return spec.m * (spec.n * h + 5) - 1;
  if (spec.op === "or") return spec.n + spec.m + 2 + Math.max(spec.n, spec.m);
  const plain = (spec.n + spec.m + answerDigits(spec)) * h + 2;
  return spec.scratchpad ? plain + scratchpadChars(spec) : plain;
}

/**
 * Characters a multiplication scratchpad adds: its m partial products (the k-th at most n + 1 + k
 * digits: m * (n + 1) + m * (m - 1) / 2, doubled by index hints), m - 1 `+` and the second `=`.
 *
 * @example
 * ```ts
 * import { scratchpadChars } from "./row_length.ts";
 * import { resolveSpec } from "./spec.ts";
 * import assert from "node:assert/strict";
 *
 * // 3 x 3 digits: products of 4, 5 and 6 digits, two "+", one "=".
 * assert.equal(scratchpadChars(resolveSpec({ op: "x", n: 3, m: 3, scratchpad: true })), 18);
 * ```
 *
 * @returns The extra characters (0 without a scratchpad).
 */
export function scratchpadChars(spec: DataSpec): number {
  if (!spec.scratchpad) return 0;
  const h = spec.indexHints ? 2 : 1;
  return (spec.m * (spec.n + 1) + (spec.m * (spec.m - 1)) / 2) * h + spec.m;
}

/**
 * Row length of a dataset: longest possible sample plus its spaces budget plus EOS.
 *
 * For p = 0 this equals upstream's padded length of a large dataset (64 for 20+20 addition, 63
 * for 15x15 multiplication, 150 for 10x10 sorting).
 *
 * @example
 * ```ts
 * import { rowLength } from "./row_length.ts";
 * import { resolveSpec } from "./spec.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(rowLength(resolveSpec({ op: "x", n: 15, m: 15 })), 63);
 * ```
 *
 * @returns Tokens per stored row.
 */
export function rowLength(spec: DataSpec): number {
  const chars = maxSampleChars(spec);
  return chars + spaceBudget(spec.p, chars) + 1;
}
