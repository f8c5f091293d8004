/**
 * Abacus embeddings, usable on their own: each maximal run of digit tokens gets positions
 * 1, 2, 3, ... (0 for every other token), shifted during training by one random offset per batch,
 * and looked up in a learned table that is added to the token embeddings. With reversed numbers,
 * position 1 is every operand's least significant digit, so digits of equal significance line up.
 * Reference: McLeish et al. 2024, "Transformers Can Do Arithmetic with the Right Embeddings", §3.
 *
 * Beyond upstream, a training batch may instead get randomly spaced positions (`spacing`): the
 * p-th digit of every number gets the p-th smallest of a random subset of 1..longest+maxK, so the
 * table learns to relate positions further apart than the training numbers are long.
 * Reference: Ruoss et al. 2023, "Randomized Positional Encodings Boost Length Generalization of
 * Transformers", applied to Abacus positions.
 * @module
 */
import { embedding } from "../ops/embedding.ts";
import { type Backend, defaultBackend } from "../backend.ts";
import { Tensor } from "../tensor.ts";

/** Upstream's digit token ids: `0`..`9` are 4..13 in every abacus vocabulary. */
export const DIGIT_IDS: readonly number[] = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13];

/**
 * Computes Abacus position indices for a batch of token rows.
 *
 * Every maximal run of digit tokens gets 1, 2, 3, ... in order; non-digits get 0. A number
 * `shift` (the training shift k) is added to digit positions only; a position map instead maps
 * the p-th digit of a run to `shift[p]` (a map from `drawAbacusPositions`, long enough for
 * every run).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { abacusIndices } from "./abacus.ts";
 * // "12+345=" as ids: 1 -> 5, 2 -> 6, + -> 14, 3 -> 7, 4 -> 8, 5 -> 9, = -> 17
 * const idx = abacusIndices([5, 6, 14, 7, 8, 9, 17], 7);
 * assert(idx.join(",") === "1,2,0,1,2,3,0");
 * assert(abacusIndices([5, 6, 14], 3, 10).join(",") === "11,12,0");
 * assert(abacusIndices([5, 6, 14], 3, [0, 4, 9]).join(",") === "4,9,0");
 * ```
 * @param ids token ids, row-major (B, T)
 * @param shift offset added to digit positions, or a position map
 * @param digitIds the digit token ids (default 4..13)
 * @returns the indices, (B, T)
 * @throws RangeError when a run is longer than the position map covers
 */
export function abacusIndices(
  ids: ArrayLike<number>,
  T: number,
  shift: number | ArrayLike<number> = 0,
  digitIds: readonly number[] = DIGIT_IDS,
): Int32Array {
  const [offset, map] = typeof shift === "number" ? [shift, null] : [0, shift];
  const digits = new Set(digitIds);
  const out = new Int32Array(ids.length);
  for (let i = 0, run = 0; i < ids.length; i++) {
    run = digits.has(ids[i]) ? (i % T === 0 ? 0 : run) + 1 : 0; // runs end with their row
    if (run === 0) continue;
    if (map && run >= map.length) {
      throw new RangeError(
        `Abacus position map covers runs of ${map.length - 1} digits, not ${run}`,
      );
    }
    out[i] = map ? map[run] : run + offset;
  }
  return out;
}

/**
 * The longest run of digit tokens in any row: how many Abacus positions a batch needs.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { longestDigitRun } from "./abacus.ts";
 * // "12+345=" and a row of padding
 * assert(longestDigitRun([5, 6, 14, 7, 8, 9, 17, 0, 0, 0, 0, 0, 0, 0], 7) === 3);
 * ```
 * @param ids token ids, row-major (B, T)
 * @param digits the digit token ids (default 4..13)
 * @returns the length of the longest run (0 without digits)
 */
export function longestDigitRun(
  ids: ArrayLike<number>,
  T: number,
  digits: readonly number[] = DIGIT_IDS,
): number {
  const isDigit = new Set(digits);
  let best = 0;
  for (let i = 0, run = 0; i < ids.length; i++) {
    run = isDigit.has(ids[i]) ? (i % T === 0 ? 0 : run) + 1 : 0;
    if (run > best) best = run;
  }
  return best;
}

/** A source of uniform draws (the project's `Rng` is one). */
export interface UniformSource {
  /** A float in [0, 1). */
  float(): number;
  /** An integer in [lo, hi], both included. */
  int(lo: number, hi: number): number;
}

/**
 * Draws one training batch's Abacus positions: `map[p]` is the table row of the p-th digit of
 * every number in the batch (`map[0] = 0`, for non-digits), for runs of up to `longest` digits.
 *
 * With probability `1 - spacing` the run is consecutive and shifted: `map[p] = p + k` with one
 * k ~ U{0..maxK} (upstream's Abacus). With probability `spacing` the positions are a sorted
 * uniform random subset of 1..longest+maxK, so neighbouring digits may be several rows apart
 * (the same range of rows as the shift uses). With `spacing` 0 exactly one integer is drawn,
 * as upstream, so runs without spacing draw the same numbers as before it existed.
 * Reference: Ruoss et al. 2023 (randomised positions), on McLeish et al. 2024's Abacus indices.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { drawAbacusPositions } from "./abacus.ts";
 * import { Rng } from "../../kernels/rng.ts";
 * const shifted = drawAbacusPositions(4, 10, 0, new Rng(1)); // [0, k+1, k+2, k+3, k+4]
 * assert(shifted[2] - shifted[1] === 1 && shifted[1] >= 1 && shifted[4] <= 14);
 * const spaced = drawAbacusPositions(4, 10, 1, new Rng(1)); // increasing, within 1..14
 * for (let p = 1; p <= 4; p++) assert(spaced[p] > spaced[p - 1] && spaced[p] <= 14);
 * ```
 * @param longest the longest digit run to cover
 * @param maxK the largest shift (upstream's `max_abacus_len`)
 * @param spacing probability of randomly spaced positions, in [0, 1]
 * @returns the map, `longest + 1` entries
 */
export function drawAbacusPositions(
  longest: number,
  maxK: number,
  spacing: number,
  rng: UniformSource,
): Int32Array {
  const map = new Int32Array(longest + 1);
  if (spacing > 0 && rng.float() < spacing) {
    // Selection sampling (Knuth's Algorithm S): each of 1..n in turn, kept with probability
    // (still needed) / (still available), gives a uniform subset already in order.
    const n = longest + maxK;
    let p = 1;
    for (let v = 1; v <= n && p <= longest; v++) {
      if (rng.float() * (n - v + 1) < longest - p + 1) map[p++] = v;
    }
    return map;
  }
  const k = rng.int(0, maxK);
  for (let p = 1; p <= longest; p++) map[p] = p + k;
  return map;
}

/** Options of `AbacusEmbedding`. */
export interface AbacusOptions {
  /** Embedding width H. */
  hidden: number;
  /** Table rows (upstream: `data.seq_length`, 512). Indices must stay below it. */
  tableSize?: number;
  /** Largest training shift k (upstream: `arch.embedding.max_abacus_len`, 100). */
  maxK?: number;
  /**
   * Probability that a training batch gets randomly spaced positions instead of a shifted run
   * (`arch.embedding.abacus_random_spacing`; 0, the default, is upstream's Abacus).
   */
  spacing?: number;
  /** Digit token ids (default 4..13). */
  digits?: readonly number[];
  /** Where the table lives (default: the default backend). */
  backend?: Backend;
  /** An existing (tableSize, H) table to use instead of a fresh N(0, 1/sqrt(H)) one. */
  weight?: Tensor;
  /** Random source for the table init and the shift: returns a float in [0, 1). */
  random?: () => number;
}

/**
 * The learned Abacus table with its index rule.
 *
 * `forward(ids, T, training)` returns the (B, T, H) embeddings to add to the word embeddings.
 * In training mode one shift k ~ U{0..maxK} is drawn per call (per batch, as upstream);
 * in evaluation k = 0.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { AbacusEmbedding } from "./abacus.ts";
 * import { CPU } from "../backend.ts";
 * const ab = new AbacusEmbedding({ hidden: 8, tableSize: 32, backend: CPU });
 * const e = ab.forward(new Int32Array([5, 6, 14, 7]), 4, false); // (1, 4, 8)
 * assert(e.shape.join(",") === "1,4,8");
 * ```
 */
export class AbacusEmbedding {
  /** The (tableSize, H) table; a parameter. */
  readonly weight: Tensor;
  readonly maxK: number;
  readonly spacing: number;
  readonly tableSize: number;
  #digits: readonly number[];
  #source: UniformSource;

  /** Makes the table. */
  constructor(options: AbacusOptions) {
    this.tableSize = options.tableSize ?? 512;
    this.maxK = options.maxK ?? 100;
    this.spacing = options.spacing ?? 0;
    if (!(this.spacing >= 0 && this.spacing <= 1)) {
      throw new RangeError(`Abacus spacing ${this.spacing} is not a probability in [0, 1]`);
    }
    this.#digits = options.digits ?? DIGIT_IDS;
    const random = options.random ?? Math.random;
    this.#source = {
      float: random,
      int: (lo, hi) => lo + Math.floor(random() * (hi - lo + 1)),
    };
    if (options.weight) {
      this.weight = options.weight;
    } else {
      const n = this.tableSize * options.hidden;
      const v = new Float32Array(n);
      const std = 1 / Math.sqrt(options.hidden);
      for (let i = 0; i < n; i += 2) {
        const u1 = 1 - random(), u2 = random();
        const r = Math.sqrt(-2 * Math.log(u1));
        v[i] = std * r * Math.cos(2 * Math.PI * u2);
        if (i + 1 < n) v[i + 1] = std * r * Math.sin(2 * Math.PI * u2);
      }
      this.weight = Tensor.fromArray(v, [this.tableSize, options.hidden], {
        backend: options.backend ?? defaultBackend(),
      });
      this.weight.requiresGrad = true;
    }
  }

  /**
   * Draws a training batch's positions (`drawAbacusPositions` with this table's maxK and
   * spacing, sized for the batch's longest digit run).
   *
   * @param ids token ids (B, T)
   */
  drawPositions(ids: ArrayLike<number>, T: number): Int32Array {
    const longest = longestDigitRun(ids, T, this.#digits);
    return drawAbacusPositions(longest, this.maxK, this.spacing, this.#source);
  }

  /**
   * Indices for a batch, shifted by k or mapped by a drawn position map (checked against the
   * table size).
   *
   * @param ids token ids (B, T)
   * @param shift the offset k, or a position map from `drawPositions`
   * @returns indices (B, T)
   * @throws Error when an index would fall outside the table
   */
  indices(ids: ArrayLike<number>, T: number, shift: number | ArrayLike<number> = 0): Int32Array {
    const idx = abacusIndices(ids, T, shift, this.#digits);
    const max = idx.reduce((m, v) => Math.max(m, v), 0);
    if (max >= this.tableSize) {
      throw new Error(
        `Abacus index ${max} exceeds the table (${this.tableSize} rows): numbers too long for ` +
          `this model (raise data.seq_length or shorten the operands)`,
      );
    }
    return idx;
  }

  /**
   * Embeds a batch.
   *
   * @param ids token ids (B, T), row-major
   * @param training draw positions (a shift, or a random spacing) or use 1, 2, 3, ... (false)
   * @returns (B, T, H) embeddings
   */
  forward(ids: ArrayLike<number>, T: number, training: boolean): Tensor {
    const idx = this.indices(ids, T, training ? this.drawPositions(ids, T) : 0);
    const t = Tensor.fromArray(idx, [ids.length / T, T], {
      dtype: "i32",
      backend: this.weight.backend,
    });
    // The ids tensor stays alive for backward; the caller's scope frees it.
    return embedding(this.weight, t);
  }
}
