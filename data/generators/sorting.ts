// Sorting samples, `label:number,...=label,...`, as upstream's `uniform_distribution_sort_basic`
// and `bucket_uniform_distribution`: L labelled numbers whose digit counts are uniform in 1..D;
// the answer lists the labels in stable ascending order of value. Labels are L consecutive
// symbols of the 102-symbol cyclic list from a random offset, so they never repeat in a sample.

import type { Rng } from "../../kernels/rng.ts";
import { CHAR_SET, DIGIT_FIRST, EQUALS, getTokenizer } from "../tokenizer.ts";
import type { DataSpec } from "../spec.ts";
import { BucketSequence } from "./bucket_sequence.ts";
import { DigitDrawer, SpacedSource } from "./source.ts";

const COMMA = 15;
const COLON = 16;

/**
 * Insertion-sorts item indices by value into `order`, equal values keeping input order (stable).
 * Number k is `digits[k*width ..]`, `lens[k]` digits, least significant first. Not exported:
 * positional arguments for the per-sample hot path.
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
 *
 * @example
 * ```ts
 * import { SortSource } from "./sorting.ts";
 * import { resolveSpec } from "../spec.ts";
 * import { getTokenizer } from "../tokenizer.ts";
 * import { Rng } from "../../kernels/rng.ts";
 * import assert from "node:assert/strict";
 *
 * const spec = resolveSpec({ op: "sort", method: "sample", n: 3, m: 4, numSamples: 1 });
 * const src = new SortSource(spec, new Rng(1));
 * const row = new Uint8Array(src.maxTokens);
 * const text = getTokenizer("sort").decode(row.subarray(0, src.next(row, 0)));
 * assert.match(text, /^(.:\d{1,3},){3}.:\d{1,3}=(.,){3}.$/u);
 * ```
 */
export class SortSource extends SpacedSource {
  #spec: DataSpec;
  #rng: Rng;
  #digits: DigitDrawer;
  #seq: BucketSequence | null = null;
  #labelIds: Uint8Array;
  #values: Uint8Array;
  #lens: Uint16Array;
  #order: Uint8Array;

  constructor(spec: DataSpec, rng: Rng) {
    super(spec, rng);
    this.#spec = spec;
    this.#rng = rng;
    this.#digits = new DigitDrawer(rng);
    if (spec.method === "bucket") {
      // Upstream's order: length L outer, max digits D inner.
      const per = Math.floor(spec.limit / (spec.n * spec.m));
      this.#seq = new BucketSequence(new Array(spec.n * spec.m).fill(per), rng);
    }
    const tok = getTokenizer("sort");
    this.#labelIds = Uint8Array.from(CHAR_SET, (c) => tok.idOf(c));
    this.#values = new Uint8Array(spec.m * spec.n);
    this.#lens = new Uint16Array(spec.m);
    this.#order = new Uint8Array(spec.m);
  }

  /** Writes the next sample (without spaces) at `dst[o..]`. */
  protected write(dst: Uint8Array, o: number): number {
    const s = this.#spec, rng = this.#rng, n = s.n, nLabels = CHAR_SET.length;
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
