/**
 * Embedding backward: a deterministic scatter-add of output gradients into the (V, H) table
 * gradient, built on a counting sort of positions by id, so repeated ids are summed in ascending
 * position order without float atomics and the gradient is bit-identical run after run.
 * @module
 */
import {
  type Buf,
  checkLoopBudget,
  type FloatArray,
  grid1d,
  type KernelContext,
} from "./context.ts";

const WG = 256;
const WG_ID = 64;

// Backward pass 1: per id v, how many positions hold it.
function countCode(vocab: number): string {
  return /* wgsl */ `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> ids: array<i32>;
@group(0) @binding(1) var<storage, read_write> counts: array<u32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${WG_ID})
fn main(@builtin(global_invocation_id) g: vec3u) {
  let v = g.x;
  if (v >= ${vocab}u) { return; }
  var c = 0u;
  for (var k = 0u; k < p.n; k++) { c += select(0u, 1u, ids[k] == i32(v)); }
  counts[v] = c;
}`;
}

// Backward pass 2: exclusive prefix sum of the counts, offsets (V + 1), in one workgroup: each
// invocation sums a contiguous chunk, the chunk totals are scanned, then chunks are written.
function scanCode(vocab: number): string {
  const chunk = Math.ceil(vocab / WG_ID);
  return /* wgsl */ `
const VOCAB: u32 = ${vocab}u;
const CHUNK: u32 = ${chunk}u;
@group(0) @binding(0) var<storage, read> counts: array<u32>;
@group(0) @binding(1) var<storage, read_write> offsets: array<u32>;
var<workgroup> totals: array<u32, ${WG_ID}>;
@compute @workgroup_size(${WG_ID})
fn main(@builtin(local_invocation_id) l: vec3u) {
  let lo = min(l.x * CHUNK, VOCAB);
  let hi = min(lo + CHUNK, VOCAB);
  var s = 0u;
  for (var v = lo; v < hi; v++) { s += counts[v]; }
  totals[l.x] = s;
  workgroupBarrier();
  var base = 0u;
  for (var t = 0u; t < l.x; t++) { base += totals[t]; }
  for (var v = lo; v < hi; v++) {
    offsets[v] = base;
    base += counts[v];
  }
  if (l.x == ${WG_ID - 1}u) { offsets[VOCAB] = base; }
}`;
}

// Backward pass 3: per id v, its positions in ascending order at offsets[v]...
function placeCode(vocab: number): string {
  return /* wgsl */ `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> ids: array<i32>;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read_write> order: array<u32>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${WG_ID})
fn main(@builtin(global_invocation_id) g: vec3u) {
  let v = g.x;
  if (v >= ${vocab}u) { return; }
  var at = offsets[v];
  for (var k = 0u; k < p.n; k++) {
    if (ids[k] == i32(v)) {
      order[at] = k;
      at++;
    }
  }
}`;
}

// Backward pass 4: per (id, column) the sum of the gradient rows of its positions, in order.
function sumCode(vocab: number, hu: number, vec: number, accumulate: boolean): string {
  return /* wgsl */ `
alias V = ${vec === 4 ? "vec4f" : "f32"};
const HU: u32 = ${hu}u;
@group(0) @binding(0) var<storage, read> dOut: array<V>;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read_write> dTable: array<V>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.x + g.y * nw.x * ${WG}u;
  if (i >= ${vocab * hu}u) { return; }
  let v = i / HU;
  let u = i - v * HU;
  var s = V(0.0);
  for (var k = offsets[v]; k < offsets[v + 1u]; k++) { s += dOut[order[k] * HU + u]; }
  dTable[i] = ${accumulate ? "dTable[i] + s" : "s"};
}`;
}

export interface EmbeddingBackwardArgs<B, I = B> {
  /** Token ids, (N), i32; ids outside [0, V) contribute nothing. */
  ids: I;
  /** Gradient of the output, (N, H). */
  dOut: B;
  /** Gradient of the table, (V, H): overwritten, or added to when `accumulate`. */
  dTable: B;
  /** Positions N. */
  n: number;
  /** Vocabulary size V. */
  vocab: number;
  /** Row width H. */
  dim: number;
  /** Add into `dTable` instead of overwriting it. */
  accumulate?: boolean;
}

/**
 * Scatter-adds output gradients into the table gradient on the GPU, deterministically.
 *
 * Four dispatches, no atomics: count positions per id, prefix-sum the counts, list each id's
 * positions in ascending order (a counting sort), then per (id, column) sum the gradient rows of
 * those positions in that order. Ids that never occur get zero rows (or are left as they were
 * with `accumulate`). Scratch: 4 (2V + N + 1) bytes.
 *
 * @example
 * ```ts ignore
 * embeddingBackward(ctx, { ids, dOut, dTable, n: 4096, vocab: 20, dim: 128 });
 * ```
 * @param ctx kernel context
 * @param e buffers and sizes
 */
export function embeddingBackward(ctx: KernelContext, e: EmbeddingBackwardArgs<Buf>): void {
  if (e.vocab * e.dim === 0) return;
  // The count and place passes walk every position in one invocation per id.
  checkLoopBudget(
    ctx,
    e.n,
    `Embedding backward over ${e.n} positions (lower the microbatch: impl.microbatch_size)`,
  );
  const vec = e.dim % 4 === 0 ? 4 : 1;
  const hu = e.dim / vec;
  const idGroups: [number] = [Math.ceil(e.vocab / WG_ID)];
  const counts = ctx.scratch(e.vocab * 4);
  const offsets = ctx.scratch((e.vocab + 1) * 4);
  const order = ctx.scratch(Math.max(1, e.n) * 4);
  const n = new Uint32Array([e.n]);
  if (e.n > 0) {
    ctx.dispatch({
      code: countCode(e.vocab),
      bindings: [e.ids, counts],
      params: n,
      workgroups: idGroups,
      label: "embedding_backward_count",
    });
    ctx.dispatch({
      code: scanCode(e.vocab),
      bindings: [counts, offsets],
      workgroups: [1],
      label: "embedding_backward_scan",
    });
    ctx.dispatch({
      code: placeCode(e.vocab),
      bindings: [e.ids, offsets, order],
      params: n,
      workgroups: idGroups,
      label: "embedding_backward_place",
    });
  } else {
    ctx.dispatch({
      code: `@group(0) @binding(0) var<storage, read_write> o: array<u32>;
@compute @workgroup_size(${WG_ID}) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x <= ${e.vocab}u) { o[g.x] = 0u; }
}`,
      bindings: [offsets],
      workgroups: [Math.ceil((e.vocab + 1) / WG_ID)],
      label: "embedding_backward_empty",
    });
  }
  ctx.dispatch({
    code: sumCode(e.vocab, hu, vec, e.accumulate ?? false),
    bindings: [e.dOut, offsets, order, e.dTable],
    workgroups: grid1d(Math.ceil((e.vocab * hu) / WG), ctx.maxWorkgroups),
    label: "embedding_backward_sum",
  });
}

/**
 * CPU reference of `embeddingBackward`: per id, the sum of its positions' gradient rows in
 * ascending position order (in doubles), then stored or added.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { embeddingBackwardCpu } from "./embedding_backward.ts";
 * const dTable = new Float32Array(4);
 * const dOut = new Float32Array([1, 2, 10, 20, 5, 5]); // (3, 2)
 * embeddingBackwardCpu({
 *   ids: new Int32Array([1, 1, -1]), dOut, dTable, n: 3, vocab: 2, dim: 2,
 * });
 * assert(dTable[0] === 0 && dTable[2] === 11 && dTable[3] === 22);
 * ```
 * @param e arrays and sizes
 */
export function embeddingBackwardCpu(
  e: EmbeddingBackwardArgs<FloatArray, Int32Array | Uint32Array>,
): void {
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
}
