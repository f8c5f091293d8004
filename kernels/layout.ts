/**
 * Layout copies along one axis: slice (with its backward pass) and concat (whose gradient is
 * slices; permutes live in `permute.ts`). They move 4-byte words of any dtype, so they serve f32 values and i32 ids
 * alike; vec4 words whenever the runs allow it. Shapes travel in uniforms, so a changing sequence
 * length (decoding) reuses one pipeline.
 * @module
 */
import type { Buf, FloatArray, KernelContext } from "./context.ts";
import { type Kernel, program } from "./program.ts";

/** Arrays the layout references accept: any 4-byte typed array (copies are exact). */
export type WordArray = FloatArray | Int32Array | Uint32Array;

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
 * Arguments of `sliceForward` / `sliceBackward`: the input viewed as (outer, dim, inner), the
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

function checkSlice(s: SliceArgs<unknown>): void {
  if (s.start < 0 || s.length < 0 || s.start + s.length > s.dim) {
    throw new Error(
      `Cannot slice [${s.start}, ${s.start + s.length}) from an axis of length ${s.dim}`,
    );
  }
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

/** Copies a range of one axis on the GPU: out[o, j, i] = a[o, start + j, i]. */
function sliceForward(ctx: KernelContext, s: SliceArgs<Buf>): void {
  checkSlice(s);
  blockCopy(ctx, s.a, s.out, sliceBlock(s));
}

/**
 * Backward of `slice` on the GPU: the input's gradient is the output's gradient inside the range
 * and zero outside, written in one pass (no separate zero fill).
 *
 * @param s `a` = gradient of the output, `out` = gradient of the input, sizes
 */
function sliceBackward(ctx: KernelContext, s: SliceArgs<Buf>): void {
  checkSlice(s);
  const rowLen = s.dim * s.inner, n = s.outer * rowLen;
  const lo = s.start * s.inner, hi = (s.start + s.length) * s.inner;
  const vec = [rowLen, lo, hi].every((x) => x % 4 === 0), w = vec ? 4 : 1;
  PAD.run(ctx, {
    key: { vec },
    bind: { src: s.a, dst: s.out },
    params: { rowLen: rowLen / w, lo: lo / w, hi: hi / w },
    count: n / w,
  });
}

/** CPU reference of `sliceForward`. */
function sliceForwardCpu(s: SliceArgs<WordArray>): void {
  checkSlice(s);
  blockCopyCpu(s.a, s.out, sliceBlock(s));
}

/**
 * CPU reference of `sliceBackward`.
 *
 * @param s `a` = gradient of the output, `out` = gradient of the input, sizes
 */
function sliceBackwardCpu(s: SliceArgs<WordArray>): void {
  checkSlice(s);
  s.out.fill(0, 0, s.outer * s.dim * s.inner);
  blockCopyCpu(s.a, s.out, {
    ...sliceBlock(s),
    srcRow: s.length * s.inner,
    srcOff: 0,
    dstRow: s.dim * s.inner,
    dstOff: s.start * s.inner,
  });
}

/**
 * Arguments of `concatForward` / `concatBackward`: k tensors viewed as (outer, dims[i], inner)
 * joined along the middle axis into (outer, sum(dims), inner).
 */
export interface ConcatArgs<B> {
  /** The pieces (forward: inputs; backward: their gradients, written). */
  parts: B[];
  /** The joined tensor (forward: output; backward: the output's gradient). */
  whole: B;
  /** Product of the axes before the joined one. */
  outer: number;
  /** Each piece's length along the joined axis. */
  dims: number[];
  /** Product of the axes after the joined one. */
  inner: number;
}

function concatBlocks(c: ConcatArgs<unknown>): Block[] {
  if (c.parts.length !== c.dims.length) {
    throw new Error(`Cannot concat ${c.parts.length} parts with ${c.dims.length} lengths`);
  }
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

/** Joins tensors along one axis on the GPU (one block copy per piece). */
function concatForward(ctx: KernelContext, c: ConcatArgs<Buf>): void {
  concatBlocks(c).forEach((b, i) => blockCopy(ctx, c.parts[i], c.whole, b));
}

/** CPU reference of `concatForward`. */
function concatForwardCpu(c: ConcatArgs<WordArray>): void {
  concatBlocks(c).forEach((b, i) => blockCopyCpu(c.parts[i], c.whole, b));
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
  gpu: sliceForward,
  cpu: sliceForwardCpu,
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
  gpu: sliceBackward,
  cpu: sliceBackwardCpu,
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
  gpu: concatForward,
  cpu: concatForwardCpu,
};
