// A small, fast, seeded PRNG that everything in abacus can share (data generation, weight init,
// Abacus offsets, dropout-free sampling). Its whole state is six numbers, so training can
// checkpoint it and resume bit-exactly. It imports nothing from the project on purpose.
// Reference: sfc32 (Chris Doty-Humphrey, PractRand) seeded through splitmix32 / murmur3 fmix32.

const TWO_32 = 4294967296;
const TWO_53 = 9007199254740992;
const INV_TWO_32 = 1 / TWO_32;

/** murmur3's 32-bit finaliser: a bijective avalanche mix of one 32-bit word. */
function fmix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * Seeded pseudo-random number generator (sfc32 core, splitmix32 seeding).
 *
 * Same `(seed, stream)` gives the same sequence on every platform; different streams of one seed
 * are statistically independent sequences. `getState()` / `setState()` capture and restore the
 * generator exactly, including a cached normal deviate.
 *
 * @example
 * ```ts
 * import { Rng } from "./rng.ts";
 * import assert from "node:assert/strict";
 *
 * const a = new Rng(42);
 * const b = Rng.from(42, 0);
 * assert.deepEqual(a.nextU32(), b.nextU32());
 * const saved = a.getState();
 * const x = a.int(1, 6);
 * a.setState(saved);
 * assert.deepEqual(a.int(1, 6), x);
 * ```
 */
export class Rng {
  #a = 0;
  #b = 0;
  #c = 0;
  #d = 0;
  #hasSpare = false;
  #spare = 0;

  /**
   * Creates a generator from a seed and an optional stream number.
   *
   * @param seed Any safe integer (negative allowed).
   * @param stream A non-negative safe integer selecting an independent sequence (default 0).
   */
  constructor(seed: number, stream = 0) {
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(`Cannot seed Rng: seed ${seed} is not a safe integer`);
    }
    if (!Number.isSafeInteger(stream) || stream < 0) {
      throw new RangeError(`Cannot seed Rng: stream ${stream} is not a non-negative safe integer`);
    }
    const seedHi = Math.floor(seed / TWO_32) >>> 0;
    const streamHi = Math.floor(stream / TWO_32) >>> 0;
    let s = fmix32((seed >>> 0) ^ 0x243f6a88);
    s = fmix32(s ^ seedHi ^ 0x85a308d3);
    s = fmix32(s ^ (stream >>> 0) ^ 0x13198a2e);
    s = fmix32(s ^ streamHi ^ 0x03707344);
    // splitmix32: a Weyl sequence through the mixer fills the four state words.
    s = (s + 0x9e3779b9) | 0;
    this.#a = fmix32(s);
    s = (s + 0x9e3779b9) | 0;
    this.#b = fmix32(s);
    s = (s + 0x9e3779b9) | 0;
    this.#c = fmix32(s);
    this.#d = 1;
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /**
   * Creates a generator for one stream of a seed; same as `new Rng(seed, stream)`.
   *
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   * import assert from "node:assert/strict";
   *
   * assert.notDeepEqual(Rng.from(7, 0).nextU32(), Rng.from(7, 1).nextU32());
   * ```
   *
   * @param stream A non-negative safe integer (default 0).
   */
  static from(seed: number, stream = 0): Rng {
    return new Rng(seed, stream);
  }

  /**
   * Returns the next uniform 32-bit unsigned integer.
   *
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   * import assert from "node:assert/strict";
   *
   * const u = new Rng(1).nextU32();
   * assert(Number.isInteger(u) && u >= 0 && u < 2 ** 32);
   * ```
   *
   * @returns An integer in [0, 2^32).
   */
  nextU32(): number {
    const a = this.#a, b = this.#b, c = this.#c, d = this.#d;
    const t = (((a + b) | 0) + d) | 0;
    this.#d = (d + 1) | 0;
    this.#a = b ^ (b >>> 9);
    this.#b = (c + (c << 3)) | 0;
    this.#c = (((c << 21) | (c >>> 11)) + t) | 0;
    return t >>> 0;
  }

  /**
   * Returns a uniform float in [0, 1) with 32 bits of resolution.
   *
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   * import assert from "node:assert/strict";
   *
   * const x = new Rng(3).float();
   * assert(x >= 0 && x < 1);
   * ```
   *
   * @returns A number in [0, 1).
   */
  float(): number {
    return this.nextU32() * INV_TWO_32;
  }

  /**
   * Returns a uniform integer in [lo, hi], both ends included, without modulo bias.
   *
   * Ranges up to 2^32 values use one 32-bit draw (rejection sampling); larger ranges, up to 2^53,
   * use 53-bit draws.
   *
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   * import assert from "node:assert/strict";
   *
   * const d = new Rng(5).int(1, 6);
   * assert(d >= 1 && d <= 6);
   * ```
   *
   * @param lo Smallest value (safe integer).
   * @param hi Largest value, included (safe integer, at least lo).
   * @returns An integer in [lo, hi].
   */
  int(lo: number, hi: number): number {
    const range = hi - lo + 1;
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || !(range >= 1)) {
      throw new RangeError(`Cannot draw an integer from [${lo}, ${hi}]: empty or invalid range`);
    }
    if (range <= TWO_32) {
      const limit = TWO_32 - (TWO_32 % range);
      let u = this.nextU32();
      while (u >= limit) u = this.nextU32();
      return lo + (u % range);
    }
    if (range > TWO_53) {
      throw new RangeError(`Cannot draw an integer from [${lo}, ${hi}]: range exceeds 2^53`);
    }
    const limit = TWO_53 - (TWO_53 % range);
    for (;;) {
      const x = (this.nextU32() >>> 11) * TWO_32 + this.nextU32();
      if (x < limit) return lo + (x % range);
    }
  }

  /**
   * Returns a standard normal deviate (mean 0, variance 1) by the Box-Muller transform.
   *
   * Each transform yields two deviates; the second is cached and is part of `getState()`.
   *
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   * import assert from "node:assert/strict";
   *
   * const rng = new Rng(9);
   * let sum = 0;
   * for (let i = 0; i < 10000; i++) sum += rng.normal();
   * assert(Math.abs(sum / 10000) < 0.05);
   * ```
   */
  normal(): number {
    if (this.#hasSpare) {
      this.#hasSpare = false;
      return this.#spare;
    }
    const u1 = 1 - this.float(); // (0, 1]: log stays finite
    const u2 = this.float();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    this.#spare = r * Math.sin(theta);
    this.#hasSpare = true;
    return r * Math.cos(theta);
  }

  /**
   * Shuffles an array or typed array in place (Fisher-Yates) and returns it.
   *
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   * import assert from "node:assert/strict";
   *
   * const xs = new Rng(1).shuffle([1, 2, 3, 4, 5]);
   * assert.deepEqual([...xs].sort(), [1, 2, 3, 4, 5]);
   * ```
   *
   * @returns The same array, permuted.
   */
  shuffle<A extends { length: number; [index: number]: unknown }>(array: A): A {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const t = array[i];
      array[i] = array[j];
      array[j] = t;
    }
    return array;
  }

  /**
   * Returns the full generator state as six numbers, for checkpoints.
   *
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   * import assert from "node:assert/strict";
   *
   * assert.deepEqual(new Rng(1).getState().length, 6);
   * ```
   *
   * @returns `[a, b, c, d, hasSpare, spare]`, JSON-safe.
   */
  getState(): number[] {
    return [
      this.#a >>> 0,
      this.#b >>> 0,
      this.#c >>> 0,
      this.#d >>> 0,
      this.#hasSpare ? 1 : 0,
      this.#spare,
    ];
  }

  /**
   * Restores a state captured by `getState()`.
   *
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   * import assert from "node:assert/strict";
   *
   * const a = new Rng(11);
   * const b = new Rng(0);
   * b.setState(a.getState());
   * assert.deepEqual(a.normal(), b.normal());
   * ```
   *
   * @param state Six numbers from `getState()`.
   */
  setState(state: readonly number[]): void {
    if (state.length !== 6 || !state.every((x) => Number.isFinite(x))) {
      throw new RangeError(`Cannot restore Rng state: expected 6 finite numbers`);
    }
    this.#a = state[0] | 0;
    this.#b = state[1] | 0;
    this.#c = state[2] | 0;
    this.#d = state[3] | 0;
    this.#hasSpare = state[4] !== 0;
    this.#spare = state[5];
  }

  /**
   * Derives an independent child generator, advancing this one by two draws.
   *
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   * import assert from "node:assert/strict";
   *
   * assert.deepEqual(new Rng(2).fork().nextU32(), new Rng(2).fork().nextU32());
   * ```
   *
   * @returns A new generator whose sequence is determined by this one's state.
   */
  fork(): Rng {
    const lo = this.nextU32();
    const hi = this.nextU32() & 0x1fffff;
    return new Rng(hi * TWO_32 + lo, 0x5eed);
  }
}
