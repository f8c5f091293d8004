// Seeded sample generators, one entry point (`createSource`) from a spec to its source, so the
// writer, the bench and the tests never pick generator classes themselves. A source writes one
// sample's token ids straight into the writer's byte buffer, so no per-sample strings exist on
// the hot path; the seed and stream of the spec fully determine the samples.
//
// - Addition, subtraction and multiplication, `{a}{op}{b}={c}` as upstream writes them, computed
//   on little-endian digit arrays (no BigInt): upstream's bucket method (every length pair (i, j)
//   equally often, in a seeded random order), its plain sampler (`--num-samples`, `--exact`, used
//   for eval cells), reversal, index hints (with upstream's addition bug fixed), random spaces,
//   and (not upstream) a multiplication scratchpad of partial products.
// - Sorting, `label:number,...=label,...`, as upstream's `uniform_distribution_sort_basic` and
//   `bucket_uniform_distribution`: L labelled numbers whose digit counts are uniform in 1..D; the
//   answer lists the labels in stable ascending order of value. Labels are L consecutive symbols
//   of the 102-symbol cyclic list from a random offset, so they never repeat in a sample.
// - Bitwise OR one-hot variants, as upstream's `create_pos_or_variants.py`: for every length pair
//   (i, j) and every index < min(i, j), the shorter operand is one-hot at that index and the
//   other all zeros (a coin decides when i == j); the answer is one-hot at the index with length
//   max(i, j), e.g. `0000+010=0100`. All cases are enumerated, shuffled and cut to `max`.

import { Rng } from "../kernels/rng.ts";
import { CHAR_SET, DIGIT_FIRST, EQUALS, getTokenizer, SPACE } from "./tokenizer.ts";
import { type DataSpec, maxSampleChars, sampleCount, spaceBudget } from "./spec.ts";

/** A deterministic stream of samples, written as token ids. */
export interface SampleSource {
  /** Number of samples `next` will produce. */
  readonly total: number;
  /** Upper bound of tokens per sample, spaces included, EOS excluded. */
  readonly maxTokens: number;
  /**
   * Writes the next sample's token ids at `out[offset..]` and returns how many it wrote.
   * A space is written as `SPACE` (18); the writer stores it as PAD, like upstream.
   */
  next(out: Uint8Array, offset: number): number;
}

/**
 * Creates the sample source of a resolved spec, seeded with `Rng.from(spec.seed, spec.stream)`.
 *
 * @example
 * ```ts
 * import { createSource } from "./generators.ts";
 * import { resolveSpec } from "./spec.ts";
 * import assert from "node:assert/strict";
 *
 * const src = createSource(resolveSpec({ op: "x", n: 2, m: 2, limit: 10 }));
 * assert.deepEqual(src.total, 10);
 * ```
 */
export function createSource(spec: DataSpec): SampleSource {
  const rng = Rng.from(spec.seed, spec.stream);
  if (spec.op === "sort") return new SortSource(spec, rng);
  if (spec.op === "or") return new OrSource(spec, rng);
  return new ArithmeticSource(spec, rng);
}

/** Draws uniform decimal digits, nine per accepted 32-bit draw (rejection above 4e9). */
class DigitDrawer {
  #rng: Rng;
  #pool = 0;
  #left = 0;

  constructor(rng: Rng) {
    this.#rng = rng;
  }

  /** Returns one uniform digit 0..9. */
  digit(): number {
    if (this.#left === 0) {
      let u = this.#rng.nextU32();
      while (u >= 4e9) u = this.#rng.nextU32();
      this.#pool = (u % 1e9) | 0;
      this.#left = 9;
    }
    const pool = this.#pool;
    const q = (pool / 10) | 0; // pool < 1e9: exact int32 arithmetic
    this.#pool = q;
    this.#left--;
    return pool - q * 10;
  }

  /**
   * Writes a uniform number of exactly `count` digits, least significant first, at
   * `out[offset..offset+count)`: the top digit is 1..9 (0..9 when `allowZero` and count is 1).
   * This is uniform over [10^(count-1), 10^count - 1], as upstream's `random.randint`.
   */
  number(out: Uint8Array, offset: number, count: number, allowZero: boolean): void {
    const top = offset + count - 1;
    for (let k = offset; k < top; k++) out[k] = this.digit();
    let d = this.digit();
    if (!(allowZero && count === 1)) { while (d === 0) d = this.digit(); }
    out[top] = d;
  }
}

/**
 * The bucket method's order: a seeded random permutation of `total` bucket indices spread as
 * evenly as they divide over the buckets (length pairs, or list length and digits), drawn one at
 * a time in O(buckets) memory. This replaces upstream's "generate every pair in turn, then
 * shuffle the whole file" without holding the samples: a Fenwick tree over the remaining counts
 * picks the next bucket with probability remaining/total.
 */
class BucketSequence {
  #tree: Float64Array;
  #size: number;
  #top: number;
  #remaining: number;
  #rng: Rng;

  constructor(total: number, buckets: number, rng: Rng) {
    this.#size = buckets;
    this.#tree = new Float64Array(buckets + 1);
    this.#remaining = total;
    const base = Math.floor(total / buckets), extra = total % buckets;
    for (let i = 0; i < buckets; i++) {
      this.#tree[i + 1] += base + (i < extra ? 1 : 0);
      const parent = i + 1 + ((i + 1) & -(i + 1));
      if (parent <= this.#size) this.#tree[parent] += this.#tree[i + 1];
    }
    this.#top = 1;
    while (this.#top * 2 <= this.#size) this.#top *= 2;
    this.#rng = rng;
  }

  /** Removes and returns one bucket index, uniformly among the remaining items. */
  next(): number {
    if (this.#remaining <= 0) throw new Error("BucketSequence is exhausted");
    let u = this.#rng.int(0, this.#remaining - 1);
    let pos = 0;
    const tree = this.#tree;
    for (let bit = this.#top; bit > 0; bit >>= 1) {
      const nxt = pos + bit;
      if (nxt <= this.#size && tree[nxt] <= u) {
        pos = nxt;
        u -= tree[nxt];
      }
    }
    for (let i = pos + 1; i <= this.#size; i += i & -i) tree[i]--;
    this.#remaining--;
    return pos;
  }
}

/**
 * What every source shares: its sample count and token bound from the spec, and upstream's
 * random spaces (before each character, while `float() < q`, q starting at p and shrinking
 * x0.1, insert a space; at most `spaceBudget` per sample). A subclass writes the bare sample.
 */
abstract class SpacedSource implements SampleSource {
  readonly total: number;
  readonly maxTokens: number;
  /** The spec and the generator (consumed in order; same state gives the same samples). */
  protected readonly spec: DataSpec;
  protected readonly rng: Rng;
  #budget: number;
  #scratch: Uint8Array;

  constructor(spec: DataSpec, rng: Rng) {
    this.spec = spec;
    this.rng = rng;
    this.total = sampleCount(spec);
    const chars = maxSampleChars(spec);
    this.#budget = spaceBudget(spec.p, chars);
    this.maxTokens = chars + this.#budget;
    this.#scratch = new Uint8Array(spec.p > 0 ? chars : 0);
  }

  next(out: Uint8Array, offset: number): number {
    const p = this.spec.p;
    if (p <= 0) return this.write(out, offset) - offset;
    const src = this.#scratch, len = this.write(src, 0);
    let o = offset, left = this.#budget;
    for (let k = 0; k < len; k++) {
      let q = p;
      while (this.rng.float() < q) {
        q *= 0.1;
        if (left > 0) {
          out[o++] = SPACE;
          left--;
        }
      }
      out[o++] = src[k];
    }
    return o - offset;
  }

  /** Writes the sample without spaces at `dst[o..]`; returns the index after it. */
  protected abstract write(dst: Uint8Array, o: number): number;
}

const OP_TOKEN = { "+": 14, "-": 15, "x": 16 } as const;
const MINUS = 15;
const HINT_FIRST = 19;

/**
 * Adds, subtracts or multiplies little-endian digit arrays a (la digits) and b (lb digits) into
 * c (capacity la + lb + 1; acc is multiplication scratch of la + lb). Returns the answer's digit
 * count, negated when a subtraction's answer is below zero. Seven positional arguments because
 * it runs once per sample on the hot path.
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

/** Sample source for `+`, `-` and `x` specs (bucket or plain method). */
class ArithmeticSource extends SpacedSource {
  #op: "+" | "-" | "x";
  #digits: DigitDrawer;
  #seq: BucketSequence | null;
  #a: Uint8Array;
  #b: Uint8Array;
  #c: Uint8Array;
  #acc: Int32Array;
  #partial: Uint8Array;
  #hintStart = 0;

  constructor(spec: DataSpec, rng: Rng) {
    super(spec, rng);
    this.#op = spec.op as "+" | "-" | "x";
    this.#digits = new DigitDrawer(rng);
    const pairs = spec.n * spec.m;
    this.#seq = spec.method === "bucket" ? new BucketSequence(this.total, pairs, rng) : null;
    this.#a = new Uint8Array(spec.n);
    this.#b = new Uint8Array(spec.m);
    this.#c = new Uint8Array(spec.n + spec.m + 1);
    this.#acc = new Int32Array(spec.n + spec.m);
    this.#partial = new Uint8Array(spec.n + spec.m + 1);
  }

  protected write(dst: Uint8Array, o: number): number {
    const s = this.spec;
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
    if (s.indexHints) this.#hintStart = this.rng.int(0, CHAR_SET.length - 1);
    o = this.#emit(dst, o, this.#a, la, s.reverseAll, false);
    dst[o++] = OP_TOKEN[this.#op];
    o = this.#emit(dst, o, this.#b, lb, s.reverseAll, false);
    dst[o++] = EQUALS;
    if (s.scratchpad) o = this.#partialProducts(dst, o, la, lb);
    const rev = s.reverseAll || s.reverseAnswer;
    return this.#emit(dst, o, this.#c, Math.abs(signed), rev, signed < 0);
  }

  /**
   * Writes the scratchpad `p0+p1+...+p(lb-1)=`, p_k = a * b_k * 10^k with its k zeros written
   * (also when a * b_k is 0), each reversed like the answer.
   * Reference: a * b = sum_k a * b_k * 10^k.
   */
  #partialProducts(dst: Uint8Array, o: number, la: number, lb: number): number {
    const rev = this.spec.reverseAll || this.spec.reverseAnswer, p = this.#partial;
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
    if (!this.spec.indexHints) return o;
    // Index hints: hint symbol h0+c (cyclic) before the c-th character, spread from the end.
    for (let c = o - start - 1; c >= 0; c--) {
      dst[start + 2 * c + 1] = dst[start + c];
      dst[start + 2 * c] = HINT_FIRST + ((this.#hintStart + c) % CHAR_SET.length);
    }
    return start + 2 * (o - start);
  }
}

const COMMA = 15;
const COLON = 16;

/**
 * Insertion-sorts item indices by value into `order`, equal values keeping input order (stable).
 * Number k is `digits[k*width ..]`, `lens[k]` digits, least significant first. Positional
 * arguments for the per-sample hot path.
 */
function stableOrder(
  digits: Uint8Array,
  lens: Uint16Array,
  count: number,
  width: number,
  order: Uint8Array,
): Uint8Array {
  const less = (x: number, y: number): boolean => {
    if (lens[x] !== lens[y]) return lens[x] < lens[y];
    for (let k = lens[x] - 1; k >= 0; k--) {
      const dx = digits[x * width + k], dy = digits[y * width + k];
      if (dx !== dy) return dx < dy;
    }
    return false;
  };
  for (let k = 0; k < count; k++) {
    let t = k;
    while (t > 0 && less(k, order[t - 1])) {
      order[t] = order[t - 1];
      t--;
    }
    order[t] = k;
  }
  return order;
}

/**
 * Sample source for sorting specs: bucket method over (length L <= m, max digits D <= n), each
 * bucket `limit // (n*m)` samples in a seeded random order, or exactly m numbers of up to n
 * digits (`sample` method, the eval cells).
 */
class SortSource extends SpacedSource {
  #digits: DigitDrawer;
  #seq: BucketSequence | null;
  #labelIds: Uint8Array;
  #values: Uint8Array;
  #lens: Uint16Array;
  #order: Uint8Array;

  constructor(spec: DataSpec, rng: Rng) {
    super(spec, rng);
    this.#digits = new DigitDrawer(rng);
    // Buckets: length L outer, max digits D inner, as upstream.
    const pairs = spec.n * spec.m;
    this.#seq = spec.method === "bucket" ? new BucketSequence(this.total, pairs, rng) : null;
    this.#labelIds = Uint8Array.from(CHAR_SET, getTokenizer("sort").idOf);
    this.#values = new Uint8Array(spec.m * spec.n);
    this.#lens = new Uint16Array(spec.m);
    this.#order = new Uint8Array(spec.m);
  }

  protected write(dst: Uint8Array, o: number): number {
    const s = this.spec, rng = this.rng, n = s.n, nLabels = CHAR_SET.length;
    let count = s.m, maxDigits = s.n;
    if (this.#seq) {
      const q = this.#seq.next();
      count = Math.floor(q / s.n) + 1;
      maxDigits = q - (count - 1) * s.n + 1;
    }
    // Uniform over the 102 offsets (upstream's randint(0, 102) makes offset 0 twice as likely).
    const labelStart = rng.int(0, nLabels - 1);
    const hintStart = s.indexHints ? rng.int(0, nLabels - 1) : 0;
    for (let k = 0; k < count; k++) {
      const len = rng.int(1, maxDigits);
      this.#lens[k] = len;
      this.#digits.number(this.#values, k * n, len, false);
    }
    for (let k = 0; k < count; k++) {
      if (k > 0) dst[o++] = COMMA;
      dst[o++] = this.#labelIds[(labelStart + k) % nLabels];
      dst[o++] = COLON;
      const base = k * n, len = this.#lens[k];
      for (let t = 0; t < len; t++) {
        if (s.indexHints) dst[o++] = this.#labelIds[(hintStart + t) % nLabels];
        dst[o++] = DIGIT_FIRST + this.#values[base + (s.reverseAll ? t : len - 1 - t)];
      }
    }
    dst[o++] = EQUALS;
    const order = stableOrder(this.#values, this.#lens, count, n, this.#order);
    for (let k = 0; k < count; k++) {
      if (k > 0) dst[o++] = COMMA;
      dst[o++] = this.#labelIds[(labelStart + order[k]) % nLabels];
    }
    return o;
  }
}

/** Sample source for `or` specs (operator written as `+`, as upstream's default `--op`). */
class OrSource extends SpacedSource {
  #cases: Uint32Array;
  #next = 0;

  constructor(spec: DataSpec, rng: Rng) {
    super(spec, rng);
    // Every case (i, j, index) packed as (i * 4096 + j) * 4096 + index, then shuffled.
    const cases: number[] = [];
    const i0 = spec.exact ? spec.n : 1, j0 = spec.exact ? spec.m : 1;
    for (let i = i0; i <= spec.n; i++) {
      for (let j = j0; j <= spec.m; j++) {
        for (let idx = 0; idx < Math.min(i, j); idx++) cases.push((i * 4096 + j) * 4096 + idx);
      }
    }
    this.#cases = rng.shuffle(Uint32Array.from(cases)).subarray(0, sampleCount(spec));
  }

  protected write(dst: Uint8Array, o: number): number {
    const c = this.#cases[this.#next++];
    const idx = c % 4096, j = Math.floor(c / 4096) % 4096, i = Math.floor(c / 16777216);
    const firstHot = i < j || (i === j && this.rng.float() > 0.5);
    const rev = this.spec.reverseAll;
    const vec = (len: number, hot: boolean, reversed: boolean) => {
      for (let k = 0; k < len; k++) {
        const pos = reversed ? len - 1 - k : k;
        dst[o++] = DIGIT_FIRST + (hot && pos === idx ? 1 : 0);
      }
    };
    vec(i, firstHot, rev);
    dst[o++] = OP_TOKEN["+"];
    vec(j, !firstHot, rev);
    dst[o++] = EQUALS;
    vec(Math.max(i, j), true, rev || this.spec.reverseAnswer);
    return o;
  }
}
