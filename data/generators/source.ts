// The contract between generators and the dataset writer: a `SampleSource` writes one sample's
// token ids straight into the writer's byte buffer, so no per-sample strings exist on the hot
// path. Also holds the helpers every generator shares: a decimal-digit drawer that gets nine
// digits from one 32-bit draw, and upstream's random-space insertion.

import type { Rng } from "../../kernels/rng.ts";
import { SPACE } from "../tokenizer.ts";
import { type DataSpec, maxSampleChars, sampleCount, spaceBudget } from "../spec.ts";

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
 * Draws uniform decimal digits, nine per accepted 32-bit draw (rejection above 4e9).
 *
 * @example
 * ```ts
 * import { DigitDrawer } from "./source.ts";
 * import { Rng } from "../../kernels/rng.ts";
 * import assert from "node:assert/strict";
 *
 * const d = new DigitDrawer(new Rng(1));
 * const digits = new Uint8Array(5);
 * d.number(digits, 0, 5, false);
 * assert(digits[4] !== 0 && digits.every((x) => x < 10));
 * ```
 */
export class DigitDrawer {
  #rng: Rng;
  #pool = 0;
  #left = 0;

  /** @param rng The generator to draw from. */
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
   *
   * @param count Digits (at least 1).
   * @param allowZero Whether a 1-digit number may be 0.
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
 * What every source shares: its sample count and token bound from the spec, and upstream's
 * random spaces (before each character, while `float() < q`, q starting at p and shrinking
 * x0.1, insert a space; at most `spaceBudget` per sample). A subclass writes the bare sample.
 *
 * @example
 * ```ts
 * import { SpacedSource } from "./source.ts";
 * import { resolveSpec } from "../spec.ts";
 * import { Rng } from "../../kernels/rng.ts";
 * import assert from "node:assert/strict";
 *
 * class Twos extends SpacedSource {
 *   protected write(dst: Uint8Array, o: number): number {
 *     dst.fill(6, o, o + 5);
 *     return o + 5;
 *   }
 * }
 * const src = new Twos(resolveSpec({ op: "+", n: 1, m: 1, p: 0.5, limit: 1 }), new Rng(1));
 * const out = new Uint8Array(src.maxTokens);
 * assert.deepEqual([...out.subarray(0, src.next(out, 0))].filter((t) => t !== 18), [6, 6, 6, 6, 6]);
 * ```
 */
export abstract class SpacedSource implements SampleSource {
  /** Samples this source produces. */
  readonly total: number;
  /** Most tokens of one sample, spaces included (EOS excluded). */
  readonly maxTokens: number;
  #rng: Rng;
  #p: number;
  #budget: number;
  #scratch: Uint8Array;

  /** @param rng The generator (consumed in order; same state gives the same samples). */
  constructor(spec: DataSpec, rng: Rng) {
    this.total = sampleCount(spec);
    const chars = maxSampleChars(spec);
    this.#budget = spaceBudget(spec.p, chars);
    this.maxTokens = chars + this.#budget;
    this.#rng = rng;
    this.#p = spec.p;
    this.#scratch = new Uint8Array(spec.p > 0 ? chars : 0);
  }

  /** Writes the next sample at `out[offset..]` and returns its length. */
  next(out: Uint8Array, offset: number): number {
    if (this.#p <= 0) return this.write(out, offset) - offset;
    const src = this.#scratch, len = this.write(src, 0);
    let o = offset, left = this.#budget;
    for (let k = 0; k < len; k++) {
      let q = this.#p;
      while (this.#rng.float() < q) {
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
