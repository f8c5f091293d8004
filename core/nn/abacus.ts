/**
 * Abacus embeddings, usable on their own: each maximal run of digit tokens gets positions
 * 1, 2, 3, ... (0 for every other token), shifted during training by one random offset per batch,
 * and looked up in a learned table that is added to the token embeddings. With reversed numbers,
 * position 1 is every operand's least significant digit, so digits of equal significance line up.
 * Reference: McLeish et al. 2024, "Transformers Can Do Arithmetic with the Right Embeddings", §3.
 * @module
 */
import { embedding } from "../ops/embedding.ts";
import { type Backend, defaultBackend, Tensor } from "../tensor.ts";

/** Upstream's digit token ids: `0`..`9` are 4..13 in every abacus vocabulary. */
export const DIGIT_IDS: readonly number[] = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13];

/**
 * Computes Abacus position indices for a batch of token rows.
 *
 * Every maximal run of digit tokens gets 1, 2, 3, ... in order; non-digits get 0. A non-zero
 * `offset` (the training shift k) is added to digit positions only.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { abacusIndices } from "./abacus.ts";
 * // "12+345=" as ids: 1 -> 5, 2 -> 6, + -> 14, 3 -> 7, 4 -> 8, 5 -> 9, = -> 17
 * const idx = abacusIndices([5, 6, 14, 7, 8, 9, 17], 7);
 * assert(idx.join(",") === "1,2,0,1,2,3,0");
 * assert(abacusIndices([5, 6, 14], 3, { offset: 10 }).join(",") === "11,12,0");
 * ```
 * @param ids token ids, row-major (B, T)
 * @param T row length
 * @param options `offset` added to digit positions; `digits` the digit token ids
 * @returns the indices, (B, T)
 */
export function abacusIndices(
  ids: ArrayLike<number>,
  T: number,
  options: { offset?: number; digits?: readonly number[] } = {},
): Int32Array {
  const offset = options.offset ?? 0;
  const digits = new Set(options.digits ?? DIGIT_IDS);
  const out = new Int32Array(ids.length);
  for (let r = 0; r < ids.length; r += T) {
    let run = 0;
    for (let t = 0; t < T && r + t < ids.length; t++) {
      if (digits.has(ids[r + t])) {
        run++;
        out[r + t] = run + offset;
      } else run = 0;
    }
  }
  return out;
}

/** Options of `AbacusEmbedding`. */
export interface AbacusOptions {
  /** Embedding width H. */
  hidden: number;
  /** Table rows (upstream: `data.seq_length`, 512). Indices must stay below it. */
  tableSize?: number;
  /** Largest training shift k (upstream: `arch.embedding.max_abacus_len`, 100). */
  maxK?: number;
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
 * import { CPU } from "../tensor.ts";
 * const ab = new AbacusEmbedding({ hidden: 8, tableSize: 32, backend: CPU });
 * const e = ab.forward(new Int32Array([5, 6, 14, 7]), 4, false); // (1, 4, 8)
 * assert(e.shape.join(",") === "1,4,8");
 * ```
 */
export class AbacusEmbedding {
  /** The (tableSize, H) table; a parameter. */
  readonly weight: Tensor;
  /** Largest training shift. */
  readonly maxK: number;
  /** Table rows. */
  readonly tableSize: number;
  #digits: readonly number[];
  #random: () => number;

  /**
   * Makes the table.
   *
   * @param options sizes, backend, random source
   */
  constructor(options: AbacusOptions) {
    this.tableSize = options.tableSize ?? 512;
    this.maxK = options.maxK ?? 100;
    this.#digits = options.digits ?? DIGIT_IDS;
    this.#random = options.random ?? Math.random;
    if (options.weight) {
      this.weight = options.weight;
    } else {
      const n = this.tableSize * options.hidden;
      const v = new Float32Array(n);
      const std = 1 / Math.sqrt(options.hidden);
      for (let i = 0; i < n; i += 2) {
        const u1 = 1 - this.#random(), u2 = this.#random();
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
   * Draws the training shift k ~ U{0..maxK}.
   *
   * @returns k
   */
  drawShift(): number {
    return Math.floor(this.#random() * (this.maxK + 1));
  }

  /**
   * Indices for a batch, with the shift applied (checked against the table size).
   *
   * @param ids token ids (B, T)
   * @param T row length
   * @param shift the offset k
   * @returns indices (B, T)
   * @throws Error when an index would fall outside the table
   */
  indices(ids: ArrayLike<number>, T: number, shift = 0): Int32Array {
    const idx = abacusIndices(ids, T, { offset: shift, digits: this.#digits });
    let max = 0;
    for (const v of idx) if (v > max) max = v;
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
   * @param T row length
   * @param training draw a shift (true) or use 0 (false)
   * @returns (B, T, H) embeddings
   */
  forward(ids: ArrayLike<number>, T: number, training: boolean): Tensor {
    const idx = this.indices(ids, T, training ? this.drawShift() : 0);
    const t = Tensor.fromArray(idx, [ids.length / T, T], {
      dtype: "i32",
      backend: this.weight.backend,
    });
    // The ids tensor stays alive for backward; the caller's scope frees it.
    return embedding(this.weight, t);
  }
}
