// The generator arguments of one dataset (`DataSpec`), their defaults and validation, and what
// must be known from the arguments alone before streaming starts, so the writer never has to
// buffer samples: the sample count and the row length (the longest possible sample, plus a cap
// on random spaces that keeps that bound finite; upstream's space insertion is unbounded).

import { CHAR_SET, type TokenizerType } from "./tokenizer.ts";

/** The operations abacus can generate: arithmetic, sorting and bitwise OR. */
export type DataOp = "+" | "-" | "x" | "sort" | "or";

/** The exact arguments of one generated dataset; stored verbatim in `meta.json`. */
export interface DataSpec {
  /** `+`, `-`, `x`, `sort` or `or`. */
  op: DataOp;
  /** Arithmetic/OR: digits of the first operand (max). Sorting: max digits of each number. */
  n: number;
  /** Arithmetic/OR: digits of the second operand (max). Sorting: max list length. */
  m: number;
  /**
   * `bucket`: upstream's bucket method (every length pair equally often; `limit` samples).
   * `sample`: one shape, `numSamples` samples (upstream's `generate_dataset`; eval cells).
   * OR ignores it (it enumerates every case, see `max`).
   */
  method: "bucket" | "sample";
  /** Bucket method: total samples (sorting: `limit // (n*m)` per bucket). */
  limit: number;
  /** Sample method: number of samples. */
  numSamples: number;
  /** Sample method: operands of exactly n and m digits (else uniform in [0, 10^n - 1]). OR: only (n, m). */
  exact: boolean;
  /** Write operands and answer least-significant digit first. */
  reverseAll: boolean;
  /** Write only the answer least-significant digit first. */
  reverseAnswer: boolean;
  /** Probability of inserting a space before a character (decaying x0.1 per extra space). */
  p: number;
  /** Let 1-digit operands be 0 (bucket method). */
  keep0ForLen1: boolean;
  /** Prefix every digit with a cyclic index-hint symbol (`index` vocabulary). */
  indexHints: boolean;
  /**
   * Multiplication: write a partial-product scratchpad before the answer, `a x b = p0+p1+...=c`
   * with p_k = a * b_k * 10^k (b_k the k-th least significant digit of b, its zeros written),
   * each reversed like the answer. Not an upstream option (see docs/multiplication-sorting.md).
   */
  scratchpad: boolean;
  /** OR: keep at most this many cases, drawn without replacement (-1 = all). */
  max: number;
  /** Seed of the generator. */
  seed: number;
  /** Independent stream of the seed (0 for training sets; one per eval cell). */
  stream: number;
}

/**
 * Default arguments (upstream's argparse defaults where they exist; seed 42).
 *
 * `resolveSpec` fills every argument that a request leaves out from here.
 *
 * @example
 * ```ts
 * import { DEFAULT_SPEC } from "./spec.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_SPEC.seed, 42);
 * ```
 */
export const DEFAULT_SPEC: Readonly<DataSpec> = Object.freeze({
  op: "+",
  n: 2,
  m: 2,
  method: "bucket",
  limit: 1_000_000,
  numSamples: 100,
  exact: false,
  reverseAll: false,
  reverseAnswer: false,
  p: 0,
  keep0ForLen1: false,
  indexHints: false,
  scratchpad: false,
  max: -1,
  seed: 42,
  stream: 0,
});

/**
 * An error caused by bad user input; the data task prints its message (sentence case, no final
 * period) as one line.
 *
 * Other errors are bugs or system failures; the task prints those as one line too.
 *
 * @example
 * ```ts
 * import { DataError, resolveSpec } from "./spec.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => resolveSpec({ n: 0 }), DataError);
 * ```
 */
export class DataError extends Error {
  /** `DataError`, so a caught error can be told apart without importing the class. */
  override name: string = "DataError";
}

const OPS: readonly DataOp[] = ["+", "-", "x", "sort", "or"];

/** Throws the one-line `DataError` "Cannot generate <what>". */
function fail(what: string): never {
  throw new DataError(`Cannot generate ${what}`);
}

function checkInt(what: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    fail(`data: ${what} must be an integer of at least ${min}, got ${value}`);
  }
}

/**
 * Fills defaults and validates a spec, throwing a `DataError` with a one-line message.
 *
 * @example
 * ```ts
 * import { resolveSpec } from "./spec.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(resolveSpec({ op: "x", n: 3, m: 3 }).seed, 42);
 * assert.throws(() => resolveSpec({ op: "sort", n: 3, m: 120 }), /120 numbers but only 102 labels/);
 * ```
 */
export function resolveSpec(partial: Partial<DataSpec>): DataSpec {
  const given = Object.entries(partial).filter(([, v]) => v !== undefined);
  const s: DataSpec = { ...DEFAULT_SPEC, ...Object.fromEntries(given) };
  if (!OPS.includes(s.op)) {
    fail(`data: unknown op ${JSON.stringify(s.op)} (expected +, -, x, sort or or)`);
  }
  if (s.method !== "bucket" && s.method !== "sample") {
    fail(`data: unknown method ${JSON.stringify(s.method)}`);
  }
  checkInt("n", s.n, 1);
  checkInt("m", s.m, 1);
  checkInt("limit", s.limit, 1);
  checkInt("num-samples", s.numSamples, 1);
  checkInt("stream", s.stream, 0);
  if (!Number.isSafeInteger(s.seed)) fail(`data: seed must be an integer, got ${s.seed}`);
  if (!(s.p >= 0 && s.p < 1)) fail(`data: p must be in [0, 1), got ${s.p}`);
  if (s.max !== -1) checkInt("max", s.max, 1);
  if (s.reverseAll && s.reverseAnswer) fail(`data: choose reverse-all or reverse-answer, not both`);
  if (s.op === "or" && Math.max(s.n, s.m) > 4095) fail(`or data: n and m must be at most 4095`);
  if (s.op === "sort" && s.m > CHAR_SET.length) {
    fail(`sorting data: ${s.m} numbers but only ${CHAR_SET.length} labels`);
  }
  const buckets = s.n * s.m;
  if (s.op === "sort" && s.method === "bucket" && s.limit < buckets) {
    fail(`sorting data: limit ${s.limit} is less than one sample per bucket (${buckets} buckets)`);
  }
  if (s.scratchpad && s.op !== "x") {
    fail(`${s.op} data with a scratchpad: it is for multiplication (op x)`);
  }
  if (s.indexHints && s.op === "or") fail(`or data with index hints`);
  const longest = s.op === "sort" ? s.n : answerDigits(s);
  if (s.indexHints && longest > CHAR_SET.length) {
    const symbols = `${CHAR_SET.length} hint symbols`;
    fail(`index hints: numbers of up to ${longest} characters but only ${symbols}`);
  }
  return s;
}

/** Digits (plus a minus sign) of the longest answer: max(n, m) + 1 for `+` and `-`, n + m for `x`. */
function answerDigits(s: DataSpec): number {
  return s.op === "x" ? s.n + s.m : Math.max(s.n, s.m) + 1;
}

/**
 * The vocabulary a spec needs: `sort` for sorting, `index` with index hints, else `pad`.
 *
 * @example
 * ```ts
 * import { resolveSpec, tokenizerFor } from "./spec.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(tokenizerFor(resolveSpec({ op: "+", indexHints: true })), "index");
 * ```
 */
export function tokenizerFor(spec: DataSpec): TokenizerType {
  if (spec.op === "sort") return "sort";
  return spec.indexHints ? "index" : "pad";
}

/**
 * Total number of samples a spec produces, known before generation.
 *
 * @example
 * ```ts
 * import { resolveSpec, sampleCount } from "./spec.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(sampleCount(resolveSpec({ op: "sort", n: 10, m: 10, limit: 1005 })), 1000);
 * assert.deepEqual(sampleCount(resolveSpec({ op: "or", n: 2, m: 2 })), 5);
 * ```
 */
export function sampleCount(spec: DataSpec): number {
  if (spec.op === "or") {
    let total = 0;
    const is = spec.exact ? [spec.n] : Array.from({ length: spec.n }, (_, k) => k + 1);
    const js = spec.exact ? [spec.m] : Array.from({ length: spec.m }, (_, k) => k + 1);
    for (const i of is) for (const j of js) total += Math.min(i, j);
    return spec.max >= 0 ? Math.min(total, spec.max) : total;
  }
  if (spec.method === "sample") return spec.numSamples;
  if (spec.op === "sort") return Math.floor(spec.limit / (spec.n * spec.m)) * spec.n * spec.m;
  return spec.limit;
}

/**
 * Most spaces one sample may receive: mean + 6 standard deviations + 4 (upstream has no cap;
 * exceeding it has probability far below 1e-9 per sample). Further space draws are skipped.
 *
 * @example
 * ```ts
 * import { spaceBudget } from "./spec.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(spaceBudget(0, 64), 0);
 * ```
 *
 * @param chars Most characters of a sample before spaces.
 */
export function spaceBudget(p: number, chars: number): number {
  if (p <= 0) return 0;
  // Mean and variance of the spaces before one character, from P(at least k) = p^k 0.1^(k(k-1)/2).
  let mean = 0, second = 0, tail = 1;
  for (let k = 1; k < 30; k++) {
    tail *= p * 0.1 ** (k - 1);
    mean += tail;
    second += (2 * k - 1) * tail;
  }
  const variance = second - mean * mean;
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
 * import { maxSampleChars, resolveSpec } from "./spec.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(maxSampleChars(resolveSpec({ op: "+", n: 20, m: 20 })), 63);
 * assert.deepEqual(maxSampleChars(resolveSpec({ op: "sort", n: 10, m: 10 })), 149);
 * ```
 */
export function maxSampleChars(spec: DataSpec): number {
  const h = spec.indexHints ? 2 : 1;
  if (spec.op === "sort") return spec.m * (spec.n * h + 5) - 1;
  if (spec.op === "or") return spec.n + spec.m + 2 + Math.max(spec.n, spec.m);
  return (spec.n + spec.m + answerDigits(spec)) * h + 2 + scratchpadChars(spec);
}

/**
 * Characters a multiplication scratchpad adds: its m partial products (the k-th at most n + 1 + k
 * digits: m * (n + 1) + m * (m - 1) / 2, doubled by index hints), m - 1 `+` and the second `=`.
 *
 * @example
 * ```ts
 * import { resolveSpec, scratchpadChars } from "./spec.ts";
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
 * import { resolveSpec, rowLength } from "./spec.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(rowLength(resolveSpec({ op: "x", n: 15, m: 15 })), 63);
 * ```
 */
export function rowLength(spec: DataSpec): number {
  const chars = maxSampleChars(spec);
  return chars + spaceBudget(spec.p, chars) + 1;
}
