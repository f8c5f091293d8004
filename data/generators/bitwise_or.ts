// Bitwise OR one-hot variants, as upstream's `create_pos_or_variants.py`: for every length pair
// (i, j) and every index < min(i, j), the shorter operand is one-hot at that index and the other
// all zeros (a coin decides when i == j); the answer is one-hot at the index with length
// max(i, j), e.g. `0000+010=0100`. All cases are enumerated, shuffled and cut to `max`.

import type { Rng } from "../../kernels/rng.ts";
import { DIGIT_FIRST, EQUALS } from "../tokenizer.ts";
import { type DataSpec, sampleCount } from "../spec.ts";
import { SpacedSource } from "./source.ts";

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
export class OrSource extends SpacedSource {
  #spec: DataSpec;
  #rng: Rng;
  #cases: Uint32Array;
  #next = 0;

  constructor(spec: DataSpec, rng: Rng) {
    super(spec, rng);
    this.#spec = spec;
    this.#rng = rng;
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

  /** Writes the next sample (without spaces) at `dst[o..]`. */
  protected write(dst: Uint8Array, o: number): number {
    const c = this.#cases[this.#next++];
    const idx = c % 4096, j = Math.floor(c / 4096) % 4096, i = Math.floor(c / 16777216);
    const firstHot = i < j || (i === j && this.#rng.float() > 0.5);
    const rev = this.#spec.reverseAll;
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
    return o;
  }
}
