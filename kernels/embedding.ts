/**
 * Embedding lookup: gathers rows of a (V, H) table by integer ids; ids outside [0, V) give a zero
 * row (and no gradient). The backward pass is a deterministic scatter-add of output gradients into
 * the (V, H) table gradient, built on a counting sort of positions by id (or, for up to 32 ids,
 * one pass over the positions), so repeated ids are summed in ascending position order without
 * float atomics and the gradient is bit-identical run after run.
 * @module
 */
import { type Buf, checkLoopBudget, type FloatArray } from "./context.ts";
import { fillKernel } from "./fill.ts";
import { type Kernel, program } from "./program.ts";

const FORWARD = program({
  label: "embedding",
  inputs: { table: "V", ids: "i32" },
  outputs: { out: "V" },
  uniforms: { vocab: "i32" },
  workgroup: 256,
  head: (k: { hu: number; vec: boolean }) =>
    `alias V = ${k.vec ? "vec4f" : "f32"};\nconst HU: u32 = ${k.hu}u;`,
  body: () =>
    `let row = i / HU;
  let id = ids[row];
  var v = V(0.0);
  if (id >= 0 && id < p.vocab) { v = table[u32(id) * HU + (i - row * HU)]; }
  out[i] = v;`,
});

/** Arguments of `embeddingKernel` (`I`: the storage of the ids). */
export interface EmbeddingArgs<B, I = B> {
  /** The table, (V, H). */
  table: B;
  /** Token ids, (N), i32; ids outside [0, V) give a zero row. */
  ids: I;
  /** Output rows, (N, H). */
  out: B;
  /** Positions N. */
  n: number;
  /** Vocabulary size V (table rows). */
  vocab: number;
  /** Row width H. */
  dim: number;
}

/**
 * Gathers table rows by id: `out[i, :] = table[ids[i], :]` (N, H) from a (V, H) table; an id
 * outside [0, V) gives a zero row.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { embeddingKernel } from "./embedding.ts";
 * const table = new Float32Array([1, 2, 3, 4, 5, 6]), out = new Float32Array(4); // (3, 2)
 * embeddingKernel.cpu({ table, ids: new Int32Array([2, 7]), out, n: 2, vocab: 3, dim: 2 });
 * assert(out[0] === 5 && out[1] === 6 && out[2] === 0); // id 7 is out of range
 * ```
 */
export const embeddingKernel: Kernel<
  EmbeddingArgs<Buf>,
  EmbeddingArgs<FloatArray, Int32Array | Uint32Array>
> = {
  // H is baked into the shader, V is a uniform; vec4 copies when H is a multiple of 4.
  gpu(ctx, e) {
    const vec = e.dim % 4 === 0, hu = vec ? e.dim / 4 : e.dim;
    FORWARD.run(ctx, {
      key: { hu, vec },
      bind: { table: e.table, ids: e.ids, out: e.out },
      params: { vocab: e.vocab },
      count: e.n * hu,
    });
  },
  cpu(e) {
    const h = e.dim;
    for (let i = 0; i < e.n; i++) {
      const id = e.ids[i];
      const valid = Number.isInteger(id) && id >= 0 && id < e.vocab;
      for (let j = 0; j < h; j++) e.out[i * h + j] = valid ? e.table[id * h + j] : 0;
    }
  },
};

const WG_ID = 64;

// Backward pass 1: per id v, how many positions hold it.
const COUNT = program({
  label: "embedding_backward_count",
  inputs: { ids: "i32" },
  outputs: { counts: "u32" },
  uniforms: { positions: "u32" },
  workgroup: WG_ID,
  index: "v",
  body: () =>
    `var c = 0u;
  for (var k = 0u; k < p.positions; k++) { c += select(0u, 1u, ids[k] == i32(v)); }
  counts[v] = c;`,
});

// Backward pass 2: exclusive prefix sum of the counts, offsets (V + 1), in one workgroup: each
// invocation sums a contiguous chunk, the chunk totals are scanned, then chunks are written.
const SCAN = program({
  label: "embedding_backward_scan",
  inputs: { counts: "u32" },
  outputs: { offsets: "u32" },
  workgroup: WG_ID,
  per: "none",
  head: (k: { vocab: number }) =>
    `const VOCAB: u32 = ${k.vocab}u;
const CHUNK: u32 = ${Math.ceil(k.vocab / WG_ID)}u;
var<workgroup> totals: array<u32, ${WG_ID}>;`,
  body: () =>
    `let lo = min(lid * CHUNK, VOCAB);
  let hi = min(lo + CHUNK, VOCAB);
  var s = 0u;
  for (var v = lo; v < hi; v++) { s += counts[v]; }
  totals[lid] = s;
  workgroupBarrier();
  var base = 0u;
  for (var t = 0u; t < lid; t++) { base += totals[t]; }
  for (var v = lo; v < hi; v++) {
    offsets[v] = base;
    base += counts[v];
  }
  if (lid == ${WG_ID - 1}u) { offsets[VOCAB] = base; }`,
});

// Backward pass 3: per id v, its positions in ascending order at offsets[v]...
const PLACE = program({
  label: "embedding_backward_place",
  inputs: { ids: "i32", offsets: "u32" },
  outputs: { order: "u32" },
  uniforms: { positions: "u32" },
  workgroup: WG_ID,
  index: "v",
  body: () =>
    `var at = offsets[v];
  for (var k = 0u; k < p.positions; k++) {
    if (ids[k] == i32(v)) {
      order[at] = k;
      at++;
    }
  }`,
});

// Backward pass 4: per (id, column) the sum of the gradient rows of its positions, in order.
const SUM = program({
  label: "embedding_backward_sum",
  inputs: { dOut: "V", offsets: "u32", order: "u32" },
  outputs: { dTable: "V" },
  workgroup: 256,
  head: (k: { hu: number; vec: boolean; acc: boolean }) =>
    `alias V = ${k.vec ? "vec4f" : "f32"};\nconst HU: u32 = ${k.hu}u;`,
  body: (k) =>
    `let v = i / HU;
  let u = i - v * HU;
  var s = V(0.0);
  for (var k = offsets[v]; k < offsets[v + 1u]; k++) { s += dOut[order[k] * HU + u]; }
  dTable[i] = ${k.acc ? "dTable[i] + s" : "s"};`,
});

/** Largest vocabulary the one-pass backward (`SMALL`) serves: one accumulator per id per lane. */
const SMALL_VOCAB = 32;

// Backward for a small vocabulary (arithmetic tasks have ~20 tokens), one dispatch: each lane owns
// a vec4 column of the table and walks the positions in ascending order, adding each gradient row
// to the accumulator of its id (ids are the same in every lane, so each test is a branch the
// lanes take together). The same sums, in the same order, as the counting-sort path.
const SMALL = program({
  label: "embedding_backward_small",
  inputs: { ids: "i32", dOut: "vec4f" },
  outputs: { dTable: "vec4f" },
  workgroup: 8,
  per: "workgroup",
  index: "w",
  flat: () => ["dOut"],
  head: (k: { hu: number; vocab: number; n: number; acc: boolean }) =>
    `const HU: u32 = ${k.hu}u;\nconst POSITIONS: u32 = ${k.n}u;`,
  body: (k) => {
    const ids = Array.from({ length: k.vocab }, (_, v) => v);
    const store = (v: number) => {
      const at = `${v}u * HU + col`;
      return `dTable[${at}] = ${k.acc ? `dTable[${at}] + s${v}` : `s${v}`};`;
    };
    return `let col = w * 8u + lid;
  let c = min(col, HU - 1u);
  ${ids.map((v) => `var s${v} = vec4f(0.0);`).join("\n  ")}
  for (var t = 0u; t < POSITIONS; t++) {
    let id = ids[t];
    let d = load_dOut(t * HU + c);
    ${ids.map((v) => `if (id == ${v}) { s${v} += d; }`).join("\n    ")}
  }
  if (col < HU) {
    ${ids.map(store).join("\n    ")}
  }`;
  },
});

/** Arguments of `embeddingBackwardKernel`: the forward's ids and sizes, and the gradients. */
export interface EmbeddingBackwardArgs<B, I = B>
  extends Omit<EmbeddingArgs<B, I>, "table" | "out"> {
  /** Gradient of the output, (N, H). */
  dOut: B;
  /** Gradient of the table, (V, H): overwritten, or added to when `accumulate`. */
  dTable: B;
  /** Add into `dTable` instead of overwriting it. */
  accumulate?: boolean;
}

/**
 * Table gradient of the gather: `dTable[v, :]` (V, H) is the sum of `dOut[i, :]` over the positions
 * with `ids[i] = v` (ascending, deterministic), stored or (`accumulate`) added.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { embeddingBackwardKernel } from "./embedding.ts";
 * const dTable = new Float32Array(4), dOut = new Float32Array([1, 2, 3, 4, 5, 6]); // (3, 2)
 * const ids = new Int32Array([1, 0, 1]);
 * embeddingBackwardKernel.cpu({ ids, dOut, dTable, n: 3, vocab: 2, dim: 2 });
 * assert(dTable[0] === 3 && dTable[2] === 6 && dTable[3] === 8); // row 1 = dOut[0] + dOut[2]
 * ```
 */
export const embeddingBackwardKernel: Kernel<
  EmbeddingBackwardArgs<Buf>,
  EmbeddingBackwardArgs<FloatArray, Int32Array | Uint32Array>
> = {
  // Up to 32 ids with rows of a multiple of 4: one pass over the positions (`SMALL`). Otherwise
  // four dispatches, no atomics: count positions per id, prefix-sum the counts, list each id's
  // positions in ascending order (a counting sort), then per (id, column) sum the gradient rows of
  // those positions in that order. Scratch: 4 (2V + N + 1) bytes.
  gpu(ctx, e) {
    if (e.vocab * e.dim === 0) return;
    // The count and place passes walk every position in one invocation per id.
    checkLoopBudget(
      ctx,
      e.n,
      `Embedding backward over ${e.n} positions (lower the microbatch: impl.microbatch_size)`,
    );
    const vec = e.dim % 4 === 0, hu = vec ? e.dim / 4 : e.dim;
    const { ids, vocab } = e;
    if (vec && vocab <= SMALL_VOCAB) {
      SMALL.run(ctx, {
        key: { hu, vocab, n: e.n, acc: e.accumulate ?? false },
        bind: { ids, dOut: e.dOut, dTable: e.dTable },
        floats: { dOut: e.n * e.dim },
        count: Math.ceil(hu / 8),
      });
      return;
    }
    const counts = ctx.scratch(vocab * 4);
    const offsets = ctx.scratch((vocab + 1) * 4);
    const order = ctx.scratch(Math.max(1, e.n) * 4);
    const positions = { positions: e.n };
    if (e.n > 0) {
      COUNT.run(ctx, { key: {}, bind: { ids, counts }, params: positions, count: vocab });
      SCAN.run(ctx, { key: { vocab }, bind: { counts, offsets }, workgroups: [1] });
      PLACE.run(ctx, { key: {}, bind: { ids, offsets, order }, params: positions, count: vocab });
    } else fillKernel.gpu(ctx, { out: offsets, n: vocab + 1, value: 0, dtype: "u32" });
    SUM.run(ctx, {
      key: { hu, vec, acc: e.accumulate ?? false },
      bind: { dOut: e.dOut, offsets, order, dTable: e.dTable },
      count: vocab * hu,
    });
  },
  cpu(e) {
    const h = e.dim;
    const sums = new Float64Array(e.vocab * h);
    for (let i = 0; i < e.n; i++) {
      const id = e.ids[i];
      if (!(id >= 0 && id < e.vocab)) continue;
      for (let j = 0; j < h; j++) sums[id * h + j] += e.dOut[i * h + j];
    }
    for (let k = 0; k < e.vocab * h; k++) {
      e.dTable[k] = e.accumulate ? e.dTable[k] + sums[k] : sums[k];
    }
  },
};
