// Addition, subtraction and multiplication samples, `{a}{op}{b}={c}` as upstream writes them,
// computed on little-endian digit arrays (no BigInt) and written straight as token ids.
// Covers upstream's bucket method (every length pair (i, j) equally often, in a seeded random
// order), its plain sampler (`--num-samples`, `--exact`, used for eval cells), reversal,
// index hints (with upstream's addition bug fixed), random spaces, and (not upstream) a
// multiplication scratchpad of partial products.

import type { Rng } from "../../kernels/rng.ts";
import { CHAR_SET, DIGIT_FIRST, EQUALS } from "../tokenizer.ts";
import type { DataSpec } from "../spec.ts";
import { BucketSequence } from "./bucket_sequence.ts";
import { DigitDrawer, SpacedSource } from "./source.ts";

const OP_TOKEN = { "+": 14, "-": 15, "x": 16 } as const;
const MINUS = 15;
const HINT_FIRST = 19;

/**
 * Adds, subtracts or multiplies little-endian digit arrays a (la digits) and b (lb digits) into
 * c (capacity la + lb + 1; acc is multiplication scratch of la + lb). Returns the answer's digit
 * count, negated when a subtraction's answer is below zero. Seven positional arguments because
 * it runs once per sample on the hot path; it is not exported.
 */
function digitArithmetic(
  op: "+" | "-" | "x",
  a: Uint8Array,
  la: number,
  b: Uint8Array,
  lb: number,
  c: Uint8Array,
  acc: Int32Array,
): number {
  if (op === "+") {
    const len = la > lb ? la : lb;
    let carry = 0;
    for (let k = 0; k < len; k++) {
      const v = (k < la ? a[k] : 0) + (k < lb ? b[k] : 0) + carry;
      carry = v >= 10 ? 1 : 0;
      c[k] = v - carry * 10;
    }
    if (carry) c[len] = 1;
    return len + carry;
  }
  if (op === "x") {
    const len = la + lb;
    acc.fill(0, 0, len);
    for (let i = 0; i < la; i++) {
      const ai = a[i];
      if (ai === 0) continue;
      for (let j = 0; j < lb; j++) acc[i + j] += ai * b[j];
    }
    let carry = 0;
    for (let k = 0; k < len; k++) {
      const v = acc[k] + carry;
      const d = v % 10;
      c[k] = d;
      carry = (v - d) / 10;
    }
    return trimmed(c, len);
  }
  // Subtraction: |a - b| by borrowing from the larger magnitude.
  let cmp = la - lb;
  for (let k = la - 1; cmp === 0 && k >= 0; k--) cmp = a[k] - b[k];
  const [x, lx, y, ly] = cmp >= 0 ? [a, la, b, lb] : [b, lb, a, la];
  let borrow = 0;
  for (let k = 0; k < lx; k++) {
    let v = x[k] - (k < ly ? y[k] : 0) - borrow;
    borrow = v < 0 ? 1 : 0;
    v += borrow * 10;
    c[k] = v;
  }
  const len = trimmed(c, lx);
  return cmp < 0 ? -len : len;
}

function trimmed(c: Uint8Array, len: number): number {
  while (len > 1 && c[len - 1] === 0) len--;
  return len;
}

/**
 * Sample source for `+`, `-` and `x` specs (bucket or plain method).
 *
 * @example
 * ```ts
 * import { ArithmeticSource } from "./arithmetic.ts";
 * import { resolveSpec } from "../spec.ts";
 * import { getTokenizer } from "../tokenizer.ts";
 * import { Rng } from "../../kernels/rng.ts";
 * import assert from "node:assert/strict";
 *
 * const src = new ArithmeticSource(resolveSpec({ op: "+", n: 3, m: 3, limit: 9 }), new Rng(1));
 * const row = new Uint8Array(src.maxTokens);
 * const len = src.next(row, 0);
 * assert.match(getTokenizer("pad").decode(row.subarray(0, len)), /^[1-9]\d*\+[1-9]\d*=\d+$/);
 * ```
 */
export class ArithmeticSource extends SpacedSource {
  #spec: DataSpec;
  #op: "+" | "-" | "x";
  #rng: Rng;
  #digits: DigitDrawer;
  #seq: BucketSequence | null = null;
  #a: Uint8Array;
  #b: Uint8Array;
  #c: Uint8Array;
  #acc: Int32Array;
  #partial: Uint8Array;
  #hintStart = 0;

  /** @param rng The generator (consumed in order; same state gives the same samples). */
  constructor(spec: DataSpec, rng: Rng) {
    super(spec, rng);
    this.#spec = spec;
    this.#op = spec.op as "+" | "-" | "x";
    this.#rng = rng;
    this.#digits = new DigitDrawer(rng);
    if (spec.method === "bucket") {
      const pairs = spec.n * spec.m;
      const base = Math.floor(spec.limit / pairs), extra = spec.limit % pairs;
      const counts = Array.from({ length: pairs }, (_, q) => base + (q < extra ? 1 : 0));
      this.#seq = new BucketSequence(counts, rng);
    }
    this.#a = new Uint8Array(spec.n);
    this.#b = new Uint8Array(spec.m);
    this.#c = new Uint8Array(spec.n + spec.m + 1);
    this.#acc = new Int32Array(spec.n + spec.m);
    this.#partial = new Uint8Array(spec.n + spec.m + 1);
  }

  /** Writes the next sample (without spaces) at `dst[o..]`. */
  protected write(dst: Uint8Array, o: number): number {
    const s = this.#spec;
    let i = s.n, j = s.m, la: number, lb: number;
    if (this.#seq) {
      const q = this.#seq.next();
      i = Math.floor(q / s.m) + 1;
      j = q - (i - 1) * s.m + 1;
    }
    if (this.#seq || s.exact) {
      this.#digits.number(this.#a, 0, i, s.keep0ForLen1 && i === 1);
      this.#digits.number(this.#b, 0, j, s.keep0ForLen1 && j === 1);
      la = i;
      lb = j;
    } else {
      // Uniform in [0, 10^n - 1]: n free digits, leading zeros dropped.
      for (let k = 0; k < i; k++) this.#a[k] = this.#digits.digit();
      for (let k = 0; k < j; k++) this.#b[k] = this.#digits.digit();
      la = trimmed(this.#a, i);
      lb = trimmed(this.#b, j);
    }
    const signed = digitArithmetic(this.#op, this.#a, la, this.#b, lb, this.#c, this.#acc);
    // Uniform over the 102 offsets (upstream's randint(0, 102) makes offset 0 twice as likely).
    if (s.indexHints) this.#hintStart = this.#rng.int(0, CHAR_SET.length - 1);
    o = this.#emit(dst, o, this.#a, la, s.reverseAll, false);
    dst[o++] = OP_TOKEN[this.#op];
    o = this.#emit(dst, o, this.#b, lb, s.reverseAll, false);
    dst[o++] = EQUALS;
    if (s.scratchpad) o = this.#partialProducts(dst, o, la, lb);
    return this.#emit(
      dst,
      o,
      this.#c,
      Math.abs(signed),
      s.reverseAll || s.reverseAnswer,
      signed < 0,
    );
  }

  /**
   * Writes the scratchpad `p0+p1+...+p(lb-1)=`, p_k = a * b_k * 10^k with its k zeros written
   * (also when a * b_k is 0), each reversed like the answer.
   * Reference: a * b = sum_k a * b_k * 10^k.
   */
  #partialProducts(dst: Uint8Array, o: number, la: number, lb: number): number {
    const rev = this.#spec.reverseAll || this.#spec.reverseAnswer, p = this.#partial;
    for (let k = 0; k < lb; k++) {
      if (k > 0) dst[o++] = OP_TOKEN["+"];
      p.fill(0, 0, k);
      const bk = this.#b.subarray(k, k + 1);
      const digits = digitArithmetic("x", this.#a, la, bk, 1, p.subarray(k), this.#acc);
      o = this.#emit(dst, o, p, k + digits, rev, false);
    }
    dst[o++] = EQUALS;
    return o;
  }

  /** Writes one number as its decimal string, or that string reversed (sign last). */
  #emit(
    dst: Uint8Array,
    o: number,
    d: Uint8Array,
    len: number,
    rev: boolean,
    neg: boolean,
  ): number {
    const start = o;
    if (neg && !rev) dst[o++] = MINUS;
    if (rev) { for (let k = 0; k < len; k++) dst[o++] = DIGIT_FIRST + d[k]; }
    else for (let k = len - 1; k >= 0; k--) dst[o++] = DIGIT_FIRST + d[k];
    if (neg && rev) dst[o++] = MINUS;
    if (!this.#spec.indexHints) return o;
    // Index hints: hint symbol h0+c (cyclic) before the c-th character, spread from the end.
    for (let c = o - start - 1; c >= 0; c--) {
      dst[start + 2 * c + 1] = dst[start + c];
      dst[start + 2 * c] = HINT_FIRST + ((this.#hintStart + c) % CHAR_SET.length);
    }
    return start + 2 * (o - start);
  }
}
