// `--shard k/N`: splits an evaluation's cells into N pieces of nearly equal decoding cost, so N
// jobs on N machines (a scheduler's job array, GNU parallel) cover a grid between them. The split
// is greedy longest-processing-time first and fully deterministic, so every job computes the
// same assignment independently and each cell lands in exactly one shard.

import { EvalError } from "./grids.ts";

/** Piece `index` (1-based) of `count`. */
export interface Shard {
  /** Which piece, 1..count. */
  index: number;
  /** Number of pieces. */
  count: number;
}

/**
 * Parses `k/N` (1 <= k <= N).
 *
 * @example
 * ```ts
 * import { parseShard } from "./shard.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseShard("2/8"), { index: 2, count: 8 });
 * assert.throws(() => parseShard("0/8"), /Cannot parse shard "0\/8": expected k\/N with 1 <= k <= N/);
 * ```
 *
 * @param text The value of `--shard` or `shard=`.
 */
export function parseShard(text: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = m ? Number(m[1]) : NaN, count = m ? Number(m[2]) : NaN;
  if (!m || index < 1 || index > count || count > 1_000_000) {
    throw new EvalError(`Cannot parse shard "${text}": expected k/N with 1 <= k <= N`);
  }
  return { index, count };
}

/**
 * Folder label of a shard: `shard_<k>_of_<N>`.
 *
 * @example
 * ```ts
 * import { shardLabel } from "./shard.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(shardLabel({ index: 3, count: 20 }), "shard_3_of_20");
 * ```
 */
export function shardLabel(shard: Shard): string {
  return `shard_${shard.index}_of_${shard.count}`;
}

/**
 * Splits cells into `count` pieces of nearly equal total cost (greedy LPT), deterministically.
 *
 * Cells go in order of decreasing cost (ties by i, then j) to the piece with the least cost so
 * far (ties to the lowest index). Each piece's most and least loaded differ by at most the cost
 * of one cell. Pieces list their cells in the input's order.
 *
 * @example
 * ```ts
 * import { splitCells } from "./shard.ts";
 * import assert from "node:assert/strict";
 *
 * const cells = [{ i: 1, j: 1 }, { i: 2, j: 2 }, { i: 3, j: 3 }, { i: 4, j: 4 }];
 * const pieces = splitCells(cells, 2, (c) => c.i);
 * assert.deepEqual(pieces.map((p) => p.map((c) => c.i)), [[1, 4], [2, 3]]);
 * ```
 *
 * @param cells The cells (any objects with i and j).
 * @param count Number of pieces (at least 1).
 * @param cost Cost of one cell (finite, non-negative).
 * @returns `count` arrays that together hold every cell once.
 */
export function splitCells<C extends { i: number; j: number }>(
  cells: readonly C[],
  count: number,
  cost: (cell: C) => number,
): C[][] {
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new EvalError(`Cannot split cells into ${count} shards: expected a positive integer`);
  }
  const costs = cells.map((c) => {
    const x = cost(c);
    if (!(x >= 0 && Number.isFinite(x))) {
      throw new EvalError(`Cannot split cells: cell (${c.i}, ${c.j}) has cost ${x}`);
    }
    return x;
  });
  const order = cells.map((_, k) => k).sort((a, b) =>
    costs[b] - costs[a] || cells[a].i - cells[b].i || cells[a].j - cells[b].j || a - b
  );
  // A binary min-heap of pieces keyed by (load, index): O(cells log count).
  const load = new Float64Array(count);
  const heap = Array.from({ length: count }, (_, k) => k);
  const less = (a: number, b: number) => load[a] < load[b] || (load[a] === load[b] && a < b);
  const owner = new Int32Array(cells.length);
  for (const k of order) {
    const top = heap[0];
    owner[k] = top;
    load[top] += costs[k];
    for (let p = 0;;) { // sift the grown root down
      const l = 2 * p + 1, r = l + 1;
      let m = p;
      if (l < count && less(heap[l], heap[m])) m = l;
      if (r < count && less(heap[r], heap[m])) m = r;
      if (m === p) break;
      [heap[p], heap[m]] = [heap[m], heap[p]];
      p = m;
    }
  }
  const pieces: C[][] = Array.from({ length: count }, () => []);
  cells.forEach((c, k) => pieces[owner[k]].push(c));
  return pieces;
}

/**
 * The cells of one shard: piece `shard.index` of {@link splitCells}.
 *
 * @example
 * ```ts
 * import { shardCells } from "./shard.ts";
 * import assert from "node:assert/strict";
 *
 * const cells = Array.from({ length: 10 }, (_, k) => ({ i: k + 1, j: 1 }));
 * const a = shardCells(cells, { index: 1, count: 3 }, (c) => c.i);
 * const b = shardCells(cells, { index: 2, count: 3 }, (c) => c.i);
 * const c = shardCells(cells, { index: 3, count: 3 }, (c) => c.i);
 * assert.deepEqual(a.length + b.length + c.length, 10);
 * ```
 *
 * @returns That piece's cells, in input order.
 */
export function shardCells<C extends { i: number; j: number }>(
  cells: readonly C[],
  shard: Shard,
  cost: (cell: C) => number,
): C[] {
  if (shard.index < 1 || shard.index > shard.count) {
    throw new EvalError(`Cannot use shard ${shard.index}/${shard.count}: expected 1 <= k <= N`);
  }
  return splitCells(cells, shard.count, cost)[shard.index - 1];
}
