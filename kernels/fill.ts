/**
 * Fill and copy: the simplest kernels, used to zero gradients, poison outputs in tests and copy
 * ranges of buffers. Each kernel file pairs a WGSL launcher with a plain-TypeScript reference.
 * @module
 */
import { bindingChunks, type Buf, grid1d, type KernelContext, subRange } from "./context.ts";

const WG = 256;

const FILL = /* wgsl */ `
struct P { n: u32, bits: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.x + g.y * nw.x * ${WG}u;
  if (i < p.n) { out[i] = p.bits; }
}`;

const COPY = /* wgsl */ `
struct P { n: u32, src: u32, dst: u32 }
@group(0) @binding(0) var<storage, read> a: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.x + g.y * nw.x * ${WG}u;
  if (i < p.n) { out[p.dst + i] = a[p.src + i]; }
}`;

/** Arguments of `fill`: `B` is `GPUBuffer` for the launcher, a typed array for the reference. */
export interface FillArgs<B> {
  /** Destination, (n). */
  out: B;
  /** Element count. */
  n: number;
  /** The value. */
  value: number;
  /** Interpret `value` as f32 (default) or as an integer. */
  dtype?: "f32" | "i32" | "u32";
}

function bitsOf(value: number, dtype: "f32" | "i32" | "u32" = "f32"): number {
  if (dtype === "f32") return new Uint32Array(new Float32Array([value]).buffer)[0];
  return new Uint32Array(new Int32Array([value]).buffer)[0];
}

/**
 * Sets `n` elements of a buffer to one value.
 *
 * @example
 * ```ts ignore
 * fill(ctx, { out: buf, n: 1000, value: 0 });
 * ```
 * @param ctx kernel context
 * @param a buffers and sizes
 */
export function fill(ctx: KernelContext, a: FillArgs<Buf>): void {
  if (a.n === 0) return;
  const chunks = bindingChunks(ctx, a.n);
  for (const [start, count] of chunks) {
    ctx.dispatch({
      code: FILL,
      bindings: [chunks.length > 1 ? subRange(a.out, start, count) : a.out],
      params: new Uint32Array([count, bitsOf(a.value, a.dtype)]),
      workgroups: grid1d(Math.ceil(count / WG), ctx.maxWorkgroups),
      label: "fill",
    });
  }
}

/**
 * CPU reference of `fill`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { fillCpu } from "./fill.ts";
 * const out = new Float32Array(3);
 * fillCpu({ out, n: 3, value: 2 });
 * assert(out[2] === 2);
 * ```
 * @param a arrays and sizes
 */
export function fillCpu(a: FillArgs<Float32Array | Int32Array | Uint32Array>): void {
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

/**
 * Copies `n` 4-byte elements between buffers at element offsets.
 *
 * @example
 * ```ts ignore
 * copy(ctx, { a: src, out: dst, n: 10, srcOffset: 5 });
 * ```
 * @param ctx kernel context
 * @param c buffers and sizes
 */
export function copy(ctx: KernelContext, c: CopyArgs<Buf>): void {
  if (c.n === 0) return;
  ctx.dispatch({
    code: COPY,
    bindings: [c.a, c.out],
    params: new Uint32Array([c.n, c.srcOffset ?? 0, c.dstOffset ?? 0]),
    workgroups: grid1d(Math.ceil(c.n / WG), ctx.maxWorkgroups),
    label: "copy",
  });
}

/**
 * CPU reference of `copy`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { copyCpu } from "./fill.ts";
 * const out = new Float32Array(2);
 * copyCpu({ a: new Float32Array([1, 2, 3]), out, n: 2, srcOffset: 1 });
 * assert(out[1] === 3);
 * ```
 * @param c arrays and sizes
 */
export function copyCpu(c: CopyArgs<Float32Array | Int32Array | Uint32Array>): void {
  const s = c.srcOffset ?? 0, d = c.dstOffset ?? 0;
  c.out.set(c.a.subarray(s, s + c.n), d);
}
