/**
 * Fill and copy: the simplest kernels, used to zero gradients, poison outputs in tests and copy
 * ranges of buffers. Each kernel file pairs a WGSL launcher with a plain-TypeScript reference.
 * @module
 */
import { bindingChunks, type Buf, subRange } from "./context.ts";
import { type Kernel, program } from "./program.ts";

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
  workgroup: 256,
  body: () => "out[i] = a[i];",
});

/** Arguments of `fillKernel`: `B` is `GPUBuffer` on the GPU, a typed array on the CPU. */
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

/** Arguments of `copyKernel`: the first `n` 4-byte elements (of any type) of `a` into `out`. */
export interface CopyArgs<B> {
  a: B;
  out: B;
  n: number;
}

/** Most elements a non-zero fill writes by an upload (`KernelContext.upload`) rather than a dispatch. */
const SMALL_FILL = 64;

/**
 * Sets the first `n` elements of `out` to `value` (bits of an f32, i32 or u32). On the GPU a
 * zero fill is a buffer clear and a fill of up to 64 elements an upload when the context records
 * them (`KernelContext.clearBuffer`, `KernelContext.upload`).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { fillKernel } from "./fill.ts";
 * const out = new Int32Array(3);
 * fillKernel.cpu({ out, n: 2, value: -7, dtype: "i32" });
 * assert(out[1] === -7 && out[2] === 0);
 * ```
 */
export const fillKernel: Kernel<FillArgs<Buf>, FillArgs<Float32Array | Int32Array | Uint32Array>> =
  {
    gpu(ctx, a) {
      const bits = bitsOf(a.value, a.dtype);
      if (bits === 0 && ctx.clearBuffer) return ctx.clearBuffer(a.out, a.n * 4);
      // A few elements (a loss gradient's seed): a recorded copy, not a dispatch, which on CPU
      // adapters wakes every worker thread.
      if (a.n <= SMALL_FILL && ctx.upload) {
        return ctx.upload(a.out, new Uint32Array(a.n).fill(bits));
      }
      const chunks = bindingChunks(ctx, a.n);
      for (const [start, count] of chunks) {
        const out = chunks.length > 1 ? subRange(a.out, start, count) : a.out;
        FILL.run(ctx, {
          key: {},
          bind: { out },
          params: { bits },
          count,
        });
      }
    },
    cpu(a) {
      a.out.fill(a.value, 0, a.n);
    },
  };

/**
 * Copies the first `n` 4-byte elements of `a` into `out`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { copyKernel } from "./fill.ts";
 * const out = new Float32Array(3);
 * copyKernel.cpu({ a: new Float32Array([1, 2, 3]), out, n: 2 });
 * assert(out[0] === 1 && out[1] === 2 && out[2] === 0);
 * ```
 */
export const copyKernel: Kernel<CopyArgs<Buf>, CopyArgs<Float32Array | Int32Array | Uint32Array>> =
  {
    gpu(ctx, c) {
      COPY.run(ctx, { key: {}, bind: { a: c.a, out: c.out }, count: c.n });
    },
    cpu(c) {
      c.out.set(c.a.subarray(0, c.n));
    },
  };
