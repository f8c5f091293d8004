// Bitwise OR one-hot variants, as upstream's `create_pos_or_variants.py`: for every length pair
// (i, j) and every index < min(i, j), the shorter operand is one-hot at that index and the other
// all zeros (a coin decides when i == j); the answer is one-hot at the index with length
// max(i, j), e.g. `0000+010=0100`. All cases are enumerated, shuffled and cut to `max`.

import type { Rng } from "../../kernels/rng.ts";
import { DIGIT_FIRST, EQUALS } from "../tokenizer.ts";
import { type DataSpec, sampleCount } from "../spec.ts";
import { maxSampleChars, spaceBudget } from "../row_length.ts";
import { type SampleSource, SpaceInserter } from "./source.ts";

const PLUS = 14;
const ZERO = DIGIT_FIRST;
const ONE = DIGIT_FIRST + 1;

/**
 * Sample source for `or` specs (operator written as `+`, as upstream's default `--op`).
 *
 * @example
 * ```ts
 * import { OrSource } from "./bitwise_or.ts";
 * import { resolveSpec } from "../spec.ts";
 * import { getTokenizer } from "../tokenizer.ts";
 * import { Rng } from "../../kernels/rng.ts";
 * import assert from "node:assert/strict";
 *
 * const src = new OrSource(resolveSpec({ op: "or", n: 1, m: 3, exact: true }), new Rng(1));
 * const row = new Uint8Array(src.maxTokens);
 * assert.deepEqual(getTokenizer("pad").decode(row.subarray(0, src.next(row, 0))), "1+000=100");
 * ```
 */
export class OrSource implements SampleSource {
  /** Samples this source produces. */
  readonly total: number;
  /** Most tokens of one sample (EOS excluded). */
  readonly maxTokens: number;
  #spec: DataSpec;
  #rng: Rng;
  #spaces: SpaceInserter | null = null;
  #cases: Uint32Array;
  #next = 0;
  #scratch: Uint8Array;

  constructor(spec: DataSpec, rng: Rng) {
    if (spec.op !== "or") throw new Error(`OrSource cannot generate op ${spec.op}`);
    this.#spec = spec;
    this.#rng = rng;
    this.total = sampleCount(spec);
    const chars = maxSampleChars(spec);
    const budget = spaceBudget(spec.p, chars);
    this.maxTokens = chars + budget;
    if (spec.p > 0) this.#spaces = new SpaceInserter(rng, spec.p, budget);
    // Every case (i, j, index) packed as (i * 4096 + j) * 4096 + index, then shuffled.
    const cases: number[] = [];
    const i0 = spec.exact ? spec.n : 1, j0 = spec.exact ? spec.m : 1;
    for (let i = i0; i <= spec.n; i++) {
      for (let j = j0; j <= spec.m; j++) {
        for (let idx = 0; idx < Math.min(i, j); idx++) cases.push((i * 4096 + j) * 4096 + idx);
      }
    }
    this.#cases = rng.shuffle(Uint32Array.from(cases)).subarray(0, this.total);
    this.#scratch = new Uint8Array(chars);
  }

  /** Writes the next sample at `out[offset..]`. */
  next(out: Uint8Array, offset: number): number {
    const c = this.#cases[this.#next++];
    const idx = c % 4096, j = Math.floor(c / 4096) % 4096, i = Math.floor(c / 16777216);
    const firstHot = i < j || (i === j && this.#rng.float() > 0.5);
    const rev = this.#spec.reverseAll;
    const dst = this.#spaces ? this.#scratch : out;
    let o = this.#spaces ? 0 : offset;
    const vec = (len: number, hot: boolean, reversed: boolean) => {
      for (let k = 0; k < len; k++) {
        const pos = reversed ? len - 1 - k : k;
        dst[o++] = hot && pos === idx ? ONE : ZERO;
      }
    };
    vec(i, firstHot, rev);
    dst[o++] = PLUS;
    vec(j, !firstHot, rev);
    dst[o++] = EQUALS;
    vec(Math.max(i, j), true, rev || this.#spec.reverseAnswer);
    if (this.#spaces) return this.#spaces.insert(this.#scratch, o, out, offset);
    return o - offset;
  }
}
