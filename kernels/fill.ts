/**
 * Fill and copy: the simplest kernels, used to zero gradients, poison outputs in tests and copy
 * ranges of buffers. Each kernel file pairs a WGSL launcher with a plain-TypeScript reference.
 * @module
 */
import { bindingChunks, type Buf, type KernelContext, subRange } from "./context.ts";
import { type Kernel, kernel, program } from "./program.ts";

const FILL = program({
  label: "fill",
  outputs: { out: "u32" },
  uniforms: { bits: "u32" },
  workgroup: 256,
  body: () => "out[i] = p.bits;",
});

const COPY = program({
  label: "copy",
  inputs: { a: "u32" },
  outputs: { out: "u32" },
  uniforms: { src: "u32", dst: "u32" },
  workgroup: 256,
  body: () => "out[p.dst + i] = a[p.src + i];",
});

/** Arguments of `fill`: `B` is `GPUBuffer` for the launcher, a typed array for the reference. */
export interface FillArgs<B> {
  /** Destination, (n). */
  out: B;
  /** Element count. */
  n: number;
  value: number;
  /** Interpret `value` as f32 (default) or as an integer. */
  dtype?: "f32" | "i32" | "u32";
}

function bitsOf(value: number, dtype: "f32" | "i32" | "u32" = "f32"): number {
  if (dtype === "f32") return new Uint32Array(new Float32Array([value]).buffer)[0];
  return new Uint32Array(new Int32Array([value]).buffer)[0];
}

/** Sets `n` elements of a buffer to one value. */
function fill(ctx: KernelContext, a: FillArgs<Buf>): void {
  if (a.n === 0) return;
  const chunks = bindingChunks(ctx, a.n);
  for (const [start, count] of chunks) {
    const out = chunks.length > 1 ? subRange(a.out, start, count) : a.out;
    FILL.run(ctx, { key: {}, bind: { out }, params: { bits: bitsOf(a.value, a.dtype) }, count });
  }
}

/** CPU reference of `fill`. */
function fillCpu(a: FillArgs<Float32Array | Int32Array | Uint32Array>): void {
  a.out.fill(a.value, 0, a.n);
}

/** Arguments of `copy`: element ranges of two buffers (4-byte elements of any type). */
export interface CopyArgs<B> {
  /** Source. */
  a: B;
  /** Destination. */
  out: B;
  /** Elements to copy. */
  n: number;
  /** First source element. */
  srcOffset?: number;
  /** First destination element. */
  dstOffset?: number;
}

/** Copies `n` 4-byte elements between buffers at element offsets. */
function copy(ctx: KernelContext, c: CopyArgs<Buf>): void {
  const params = { src: c.srcOffset ?? 0, dst: c.dstOffset ?? 0 };
  COPY.run(ctx, { key: {}, bind: { a: c.a, out: c.out }, params, count: c.n });
}

/** CPU reference of `copy`. */
function copyCpu(c: CopyArgs<Float32Array | Int32Array | Uint32Array>): void {
  const s = c.srcOffset ?? 0, d = c.dstOffset ?? 0;
  c.out.set(c.a.subarray(s, s + c.n), d);
}

/** `fill` paired with `fillCpu`, for `core/ops/_run.ts`. */
export const fillKernel: Kernel<FillArgs<Buf>, FillArgs<Float32Array | Int32Array | Uint32Array>> =
  kernel(fill, fillCpu);

/** `copy` paired with `copyCpu`, for `core/ops/_run.ts`. */
export const copyKernel: Kernel<CopyArgs<Buf>, CopyArgs<Float32Array | Int32Array | Uint32Array>> =
  kernel(copy, copyCpu);
