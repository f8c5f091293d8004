// Emits bucket indices in a uniformly random order of a fixed multiset (each bucket appears
// exactly its count times), in O(buckets) memory. This replaces upstream's "generate every
// pair in turn, then shuffle the whole file" without holding the samples: a Fenwick tree over
// the remaining counts picks the next bucket with probability remaining/total.

import type { Rng } from "../../kernels/rng.ts";

/**
 * A seeded random permutation of a multiset of bucket indices, drawn one at a time.
 *
 * @example
 * ```ts
 * import { BucketSequence } from "./bucket_sequence.ts";
 * import { Rng } from "../../kernels/rng.ts";
 * import assert from "node:assert/strict";
 *
 * const seq = new BucketSequence([2, 0, 3], new Rng(1));
 * const seen = [0, 0, 0];
 * for (let k = 0; k < 5; k++) seen[seq.next()]++;
 * assert.deepEqual(seen, [2, 0, 3]);
 * ```
 */
export class BucketSequence {
  #tree: Float64Array;
  #size: number;
  #top: number;
  #remaining: number;
  #rng: Rng;

  /**
   * @param counts How many times each bucket index appears.
   */
  constructor(counts: ArrayLike<number>, rng: Rng) {
    this.#size = counts.length;
    this.#tree = new Float64Array(this.#size + 1);
    this.#remaining = 0;
    for (let i = 0; i < this.#size; i++) {
      this.#tree[i + 1] += counts[i];
      this.#remaining += counts[i];
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
