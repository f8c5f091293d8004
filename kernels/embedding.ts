/**
 * Embedding lookup: gathers rows of a (V, H) table by integer ids; ids outside [0, V) give a zero
 * row (and no gradient). The backward pass, a deterministic scatter-add without float atomics,
 * lives in `embedding_backward.ts`.
 * @module
 */
import type { Buf, FloatArray, KernelContext } from "./context.ts";
import { type Kernel, kernel, program } from "./program.ts";

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

/**
 * Arguments of `embeddingForward`: `B` is a GPU buffer for the launcher, a float array for the
 * reference; `I` the matching id storage.
 */
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

/** Arguments of `embeddingBackward`. */
/**
 * Gathers table rows by id on the GPU: out[n, :] = table[ids[n], :], or zeros for an id outside
 * [0, V).
 *
 * V and H are baked into the shader, N is a uniform; vec4 copies when H is a multiple of 4.
 */
function embeddingForward(ctx: KernelContext, e: EmbeddingArgs<Buf>): void {
  if (e.n * e.dim === 0) return;
  const vec = e.dim % 4 === 0, hu = vec ? e.dim / 4 : e.dim;
  FORWARD.run(ctx, {
    key: { hu, vec },
    bind: { table: e.table, ids: e.ids, out: e.out },
    params: { vocab: e.vocab },
    count: e.n * hu,
  });
}

/** CPU reference of `embeddingForward`. */
function embeddingForwardCpu(e: EmbeddingArgs<FloatArray, Int32Array | Uint32Array>): void {
  const h = e.dim;
  for (let i = 0; i < e.n; i++) {
    const id = e.ids[i];
    const valid = Number.isInteger(id) && id >= 0 && id < e.vocab;
    for (let j = 0; j < h; j++) e.out[i * h + j] = valid ? e.table[id * h + j] : 0;
  }
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
> = kernel(embeddingForward, embeddingForwardCpu);
