/**
 * Layout copies: slice along one axis (with its backward pass), concat (whose gradient is
 * slices), and any permutation of a tensor's axes (splitting and merging attention heads,
 * transposes; the backward pass is the inverse permutation). They move 4-byte words of any dtype
 * bit-exactly, so they serve f32 values and i32 ids alike; vec4 words whenever the runs allow it.
 * Shapes travel in uniforms, so a changing sequence length (decoding) reuses one pipeline (per
 * rank, for permutes).
 * @module
 */
import type { Buf, FloatArray, KernelContext } from "./context.ts";
import { type Kernel, program, type Scalar } from "./program.ts";

/** Arrays the layout references accept: any 4-byte typed array (copies are exact). */
type WordArray = FloatArray | Int32Array | Uint32Array;

const word = (k: { vec: boolean }) => `alias W = ${k.vec ? "vec4u" : "u32"};`;

// out[row * dstRow + dstOff + m] = src[row * srcRow + srcOff + m] for m < rowLen: one strided
// block copy serves slice, slice's backward without zeroing, concat and concat's backward.
const BLOCK = program({
  label: "block_copy",
  inputs: { src: "W" },
  outputs: { dst: "W" },
  uniforms: { rowLen: "u32", srcRow: "u32", srcOff: "u32", dstRow: "u32", dstOff: "u32" },
  workgroup: 256,
  head: word,
  body: () =>
    `let row = i / p.rowLen;
  let m = i - row * p.rowLen;
  dst[row * p.dstRow + p.dstOff + m] = src[row * p.srcRow + p.srcOff + m];`,
});

// Slice backward: the whole input gradient in one pass, the sliced range from dOut, zeros outside.
const PAD = program({
  label: "slice_backward",
  inputs: { src: "W" },
  outputs: { dst: "W" },
  uniforms: { rowLen: "u32", lo: "u32", hi: "u32" },
  workgroup: 256,
  head: word,
  body: () =>
    `let row = i / p.rowLen;
  let m = i - row * p.rowLen;
  var v = W(0u);
  if (m >= p.lo && m < p.hi) { v = src[row * (p.hi - p.lo) + m - p.lo]; }
  dst[i] = v;`,
});

interface Block {
  rows: number;
  rowLen: number;
  srcRow: number;
  srcOff: number;
  dstRow: number;
  dstOff: number;
}

function blockCopy(ctx: KernelContext, src: Buf, dst: Buf, b: Block): void {
  const n = b.rows * b.rowLen;
  const { rowLen, srcRow, srcOff, dstRow, dstOff } = b;
  const vec = [rowLen, srcRow, srcOff, dstRow, dstOff].every((x) => x % 4 === 0);
  const w = vec ? 4 : 1;
  const params = {
    rowLen: rowLen / w,
    srcRow: srcRow / w,
    srcOff: srcOff / w,
    dstRow: dstRow / w,
    dstOff: dstOff / w,
  };
  BLOCK.run(ctx, { key: { vec }, bind: { src, dst }, params, count: n / w });
}

function blockCopyCpu(src: WordArray, dst: WordArray, b: Block): void {
  for (let r = 0; r < b.rows; r++) {
    for (let m = 0; m < b.rowLen; m++) {
      dst[r * b.dstRow + b.dstOff + m] = src[r * b.srcRow + b.srcOff + m];
    }
  }
}

/**
 * Arguments of `sliceKernel` / `sliceBackwardKernel`: the input viewed as (outer, dim, inner), the
 * slice taking `length` entries of the middle axis from `start`.
 */
export interface SliceArgs<B> {
  /** Forward: the input, (outer, dim, inner); backward: the output's gradient. */
  a: B;
  /** Forward: the output, (outer, length, inner); backward: the input's gradient (all written). */
  out: B;
  /** Product of the axes before the sliced one. */
  outer: number;
  /** Length of the sliced axis in the input. */
  dim: number;
  /** Product of the axes after the sliced one. */
  inner: number;
  /** First index taken. */
  start: number;
  /** Entries taken. */
  length: number;
}

function sliceBlock(s: SliceArgs<unknown>): Block {
  return {
    rows: s.outer,
    rowLen: s.length * s.inner,
    srcRow: s.dim * s.inner,
    srcOff: s.start * s.inner,
    dstRow: s.length * s.inner,
    dstOff: 0,
  };
}

/** Arguments of `concatKernel`: k tensors (outer, dims[i], inner) joined on the middle axis. */
export interface ConcatArgs<B> {
  /** The pieces. */
  parts: B[];
  /** The joined tensor. */
  whole: B;
  /** Product of the axes before the joined one. */
  outer: number;
  /** Each piece's length along the joined axis. */
  dims: number[];
  /** Product of the axes after the joined one. */
  inner: number;
}

function concatBlocks(c: ConcatArgs<unknown>): Block[] {
  const total = c.dims.reduce((x, d) => x + d, 0);
  let off = 0;
  return c.dims.map((d) => {
    const b = {
      rows: c.outer,
      rowLen: d * c.inner,
      srcRow: d * c.inner,
      srcOff: 0,
      dstRow: total * c.inner,
      dstOff: off * c.inner,
    };
    off += d;
    return b;
  });
}

/**
 * Takes `length` entries of the middle axis from `start`: `out[o, j, i] = a[o, start + j, i]`,
 * (outer, dim, inner) to (outer, length, inner); any 4-byte words.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { sliceKernel } from "./layout.ts";
 * const a = new Float32Array([1, 2, 3, 4, 5, 6]), out = new Float32Array(4); // (2, 3, 1)
 * sliceKernel.cpu({ a, out, outer: 2, dim: 3, inner: 1, start: 1, length: 2 });
 * assert(out[0] === 2 && out[3] === 6);
 * ```
 */
export const sliceKernel: Kernel<SliceArgs<Buf>, SliceArgs<WordArray>> = {
  gpu(ctx, s) {
    blockCopy(ctx, s.a, s.out, sliceBlock(s));
  },
  cpu(s) {
    blockCopyCpu(s.a, s.out, sliceBlock(s));
  },
};

/**
 * Backward of the slice: `a` is the output's gradient (outer, length, inner), `out` the input's
 * (outer, dim, inner), equal to it inside the range and zero outside.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { sliceBackwardKernel } from "./layout.ts";
 * const a = new Float32Array([1, 2, 3, 4]); // (2, 2, 1) -> (2, 3, 1)
 * const out = new Float32Array(6).fill(9);
 * sliceBackwardKernel.cpu({ a, out, outer: 2, dim: 3, inner: 1, start: 1, length: 2 });
 * assert(out[0] === 0 && out[2] === 2 && out[4] === 3);
 * ```
 */
export const sliceBackwardKernel: Kernel<SliceArgs<Buf>, SliceArgs<WordArray>> = {
  // One pass over the input's gradient, zeros included (no separate zero fill).
  gpu(ctx, s) {
    const rowLen = s.dim * s.inner, n = s.outer * rowLen;
    const lo = s.start * s.inner, hi = (s.start + s.length) * s.inner;
    const vec = [rowLen, lo, hi].every((x) => x % 4 === 0), w = vec ? 4 : 1;
    PAD.run(ctx, {
      key: { vec },
      bind: { src: s.a, dst: s.out },
      params: { rowLen: rowLen / w, lo: lo / w, hi: hi / w },
      count: n / w,
    });
  },
  cpu(s) {
    s.out.fill(0, 0, s.outer * s.dim * s.inner);
    blockCopyCpu(s.a, s.out, {
      ...sliceBlock(s),
      srcRow: s.length * s.inner,
      srcOff: 0,
      dstRow: s.dim * s.inner,
      dstOff: s.start * s.inner,
    });
  },
};

/**
 * Joins `parts`, each (outer, dims[k], inner), along the middle axis into `whole`
 * (outer, sum(dims), inner).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { concatKernel } from "./layout.ts";
 * const whole = new Float32Array(6);
 * const parts = [new Float32Array([1, 2]), new Float32Array([3, 4, 5, 6])];
 * concatKernel.cpu({ parts, whole, outer: 2, dims: [1, 2], inner: 1 }); // (2, 1, 1) and (2, 2, 1)
 * assert(whole[1] === 3 && whole[3] === 2 && whole[5] === 6); // [1, 3, 4, 2, 5, 6]
 * ```
 */
export const concatKernel: Kernel<ConcatArgs<Buf>, ConcatArgs<WordArray>> = {
  gpu(ctx, c) {
    concatBlocks(c).forEach((b, i) => blockCopy(ctx, c.parts[i], c.whole, b));
  },
  cpu(c) {
    concatBlocks(c).forEach((b, i) => blockCopyCpu(c.parts[i], c.whole, b));
  },
};

const AXES = [0, 1, 2, 3, 4, 5, 6, 7];
const uniforms = Object.fromEntries(
  AXES.flatMap((d) => [[`d${d}`, "u32"], [`s${d}`, "u32"]]),
) as Record<`${"d" | "s"}${number}`, Scalar>;

// Permute: one invocation per output word; the output index is decomposed innermost first and
// mapped through the input strides (shape and strides of the merged permutation in `p`).
const PERMUTE = program({
  label: "permute",
  inputs: { src: "W" },
  outputs: { dst: "W" },
  uniforms,
  workgroup: 256,
  head: (k: { rank: number; vec: boolean }) => `alias W = ${k.vec ? "vec4u" : "u32"};`,
  body: (k) =>
    `var rem = i;
  var s = 0u;
${
      AXES.slice(0, k.rank).reverse().map((d) =>
        `  { let q = rem / p.d${d}; s += (rem - q * p.d${d}) * p.s${d}; rem = q; }`
      ).join("\n")
    }
  dst[i] = src[s];`,
});
const params = Object.fromEntries(Object.keys(uniforms).map((u) => [u, 0])) as Record<
  keyof typeof uniforms,
  number
>;

/** A permutation with size-1 axes dropped and axes that stay adjacent merged. */
interface Merged {
  /** Input shape after merging. */
  shape: number[];
  /** Output axis k reads merged input axis perm[k]. */
  perm: number[];
}

function mergePermutation(shape: readonly number[], perm: readonly number[]): Merged {
  // Input axes longer than 1, numbered in memory order.
  const rankOf = new Map<number, number>();
  shape.forEach((d, a) => d !== 1 && rankOf.set(a, rankOf.size));
  const keep = perm.filter((a) => shape[a] !== 1);
  // Runs of axes adjacent in memory that stay adjacent in the output become one axis.
  const groups: number[][] = [];
  for (const a of keep) {
    const last = groups[groups.length - 1];
    if (last && rankOf.get(last[last.length - 1])! + 1 === rankOf.get(a)) last.push(a);
    else groups.push([a]);
  }
  const byInput = groups.map((g, k) => ({
    first: g[0],
    k,
    size: g.reduce((p, a) => p * shape[a], 1),
  }))
    .sort((x, y) => x.first - y.first);
  const merged = byInput.map((g) => g.size);
  const where = new Map(byInput.map((g, i) => [g.k, i]));
  return { shape: merged, perm: groups.map((_, k) => where.get(k)!) };
}

/** Arguments of `permuteKernel`. */
export interface PermuteArgs<B> {
  /** The input (shape). */
  a: B;
  /** The output, with out.shape[k] = shape[perm[k]]. */
  out: B;
  /** The input's shape. */
  shape: readonly number[];
  /** Output axis k is input axis perm[k]. */
  perm: readonly number[];
}

/**
 * Copies `a` into a permuted layout, output axis k being input axis `perm[k]`
 * (`out.shape[k] = shape[perm[k]]`); any 4-byte words, bit-exact.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { permuteKernel } from "./layout.ts";
 * const a = new Int32Array([0, 1, 2, 3, 4, 5]), out = new Int32Array(6); // (2, 3) -> (3, 2)
 * permuteKernel.cpu({ a, out, shape: [2, 3], perm: [1, 0] });
 * assert(out[1] === 3 && out[4] === 2); // [0, 3, 1, 4, 2, 5]
 * ```
 */
export const permuteKernel: Kernel<PermuteArgs<Buf>, PermuteArgs<WordArray>> = {
  /**
   * Size-1 axes are dropped and axes that stay adjacent are merged first (so a (B, T, N, D) to
   * (B, N, T, D) head split is a rank-4 copy with D-long runs); vec4 words when the innermost input
   * axis stays innermost with a length divisible by 4. At most 8 axes after merging.
   */
  gpu(ctx, p) {
    const m = mergePermutation(p.shape, p.perm);
    const n = m.shape.reduce((x, d) => x * d, 1);
    if (n === 0) return;
    if (m.shape.length === 0) {
      m.shape.push(1);
      m.perm.push(0);
    }
    const rank = m.shape.length;
    if (rank > 8) throw new Error(`Cannot permute ${rank} axes after merging: at most 8`);
    const inner = m.shape[rank - 1];
    const vec = m.perm[rank - 1] === rank - 1 && inner % 4 === 0 ? 4 : 1;
    const shape = m.shape.map((d, i) => (i === rank - 1 ? d / vec : d));
    const strides = new Array<number>(rank);
    for (let i = rank - 1, s = 1; i >= 0; i--) {
      strides[i] = s;
      s *= shape[i];
    }
    m.perm.forEach((a, k) => {
      params[`d${k}`] = shape[a];
      params[`s${k}`] = strides[a];
    });
    const key = { rank, vec: vec === 4 };
    PERMUTE.run(ctx, { key, bind: { src: p.a, dst: p.out }, params, count: n / vec });
  },
  // Any rank.
  cpu(p) {
    const r = p.shape.length;
    const inStrides = new Array<number>(r);
    for (let i = r - 1, s = 1; i >= 0; i--) {
      inStrides[i] = s;
      s *= p.shape[i];
    }
    const outShape = p.perm.map((a) => p.shape[a]);
    const n = outShape.reduce((x, d) => x * d, 1);
    for (let i = 0; i < n; i++) {
      let rem = i, s = 0;
      for (let k = r - 1; k >= 0; k--) {
        s += (rem % outShape[k]) * inStrides[p.perm[k]];
        rem = Math.floor(rem / outShape[k]);
      }
      p.out[i] = p.a[s];
    }
  },
};
