/**
 * Global L2 norm of a flat gradient (the arena's), for clipping: a deterministic two-pass
 * reduction per binding-sized chunk, no readback. AdamW (`adamw.ts`) reads the result.
 * @module
 */
import { bindingChunks, type Buf, type KernelContext, subRange, vec4Range } from "./context.ts";

const WG = 256;
/** Most partial sums one chunk's first pass writes (one per workgroup). */
const MAX_PARTIALS = 256;

const NORM_PARTIALS = /* wgsl */ `
struct P { n: u32, groups: u32 }
@group(0) @binding(0) var<storage, read> g: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
var<workgroup> sh: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let n4 = (p.n + 3u) / 4u;
  var acc = vec4f(0.0);
  for (var j = wid.x * ${WG}u + lid; j < n4; j += p.groups * ${WG}u) {
    let idx = vec4u(j * 4u) + vec4u(0u, 1u, 2u, 3u);
    let x = select(vec4f(0.0), g[j], idx < vec4u(p.n));
    acc += x * x;
  }
  sh[lid] = (acc.x + acc.y) + (acc.z + acc.w);
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { sh[lid] += sh[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { partials[wid.x] = sh[0]; }
}`;

// Sums `chunks` blocks of `groups` partials, block c at c * 256.
const NORM_FINISH = /* wgsl */ `
struct P { groups: u32, chunks: u32 }
@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
var<workgroup> sh: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  for (var c = 0u; c < p.chunks; c++) {
    for (var j = lid; j < p.groups; j += ${WG}u) { acc += partials[c * ${MAX_PARTIALS}u + j]; }
  }
  sh[lid] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { sh[lid] += sh[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[0] = sqrt(sh[0]); }
}`;

// CPU adapters (llvmpipe runs a workgroup barrier by switching every invocation's coroutine):
// 32 workgroups of one 8-lane SIMD group, each lane summing a strided set of vec4s into its own
// partial, no barrier (the finishing pass is the same). llvmpipe also ends any invocation after
// 65535 loop iterations in all, so a chunk holds at most 2^25 floats (32768 vec4s per lane).
const CPU_WG = 8, CPU_PARTIALS = 256, CPU_MAX_CHUNK = 1 << 25;

const NORM_PARTIALS_CPU = /* wgsl */ `
struct P { n: u32, groups: u32 }
@group(0) @binding(0) var<storage, read> g: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${CPU_WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let n4 = (p.n + 3u) / 4u;
  var acc = vec4f(0.0);
  for (var j = gid.x; j < n4; j += ${CPU_PARTIALS}u) {
    let idx = vec4u(j * 4u) + vec4u(0u, 1u, 2u, 3u);
    let x = select(vec4f(0.0), g[j], idx < vec4u(p.n));
    acc += x * x;
  }
  partials[gid.x] = (acc.x + acc.y) + (acc.z + acc.w);
}`;

/** Number of partial sums the first norm pass writes for `n` elements. */
function partialCount(n: number): number {
  return Math.min(MAX_PARTIALS, Math.max(1, Math.ceil(Math.ceil(n / 4) / WG)));
}

/** Arguments of `gradNorm`: `B` is `Buf` for the launcher, a typed array for the reference. */
export interface GradNormArgs<B> {
  /** Gradients, (n); read only. */
  grad: B;
  /** Element count. */
  n: number;
  /** Output, (1): the L2 norm of `grad[0..n)`. */
  out: B;
  /**
   * Scratch for the partial sums, at least `gradNormScratch(ctx, n)` floats (256 per
   * binding-sized chunk; launcher only; default: `ctx.scratch`).
   */
  partials?: B;
}

/**
 * Computes the global L2 norm of a flat gradient into a 1-element buffer, without readback.
 *
 * Two passes in a fixed order (deterministic, no atomics): up to 256 workgroups each sum the
 * squares of a strided set of vec4s and tree-reduce them in workgroup memory; one workgroup then
 * tree-reduces the partial sums and takes the square root. On CPU adapters, where barriers are
 * costly, 256 lanes each keep their own partial (no barrier) and one invocation adds them in
 * order. The grouping depends only on `n` and the adapter kind.
 * Reference: PyTorch `clip_grad_norm_` total norm, ||g||_2 = sqrt(sum_i g_i^2).
 *
 * @example
 * ```ts ignore
 * gradNorm(ctx, { grad: flatGrads, n: 100000, out: normBuf });
 * ```
 * @param ctx kernel context
 * @param a buffers and sizes
 */
export function gradNorm(ctx: KernelContext, a: GradNormArgs<Buf>): void {
  // One partials pass per binding-sized chunk of the gradients, each into its own block of
  // `groups` partials (a fixed order, so the norm is deterministic), then one finishing sum.
  const cpu = ctx.isCpuAdapter;
  const chunks = bindingChunks(ctx, a.n, cpu ? CPU_MAX_CHUNK : undefined);
  const groups = cpu ? CPU_PARTIALS / CPU_WG : partialCount(Math.min(a.n, chunks[0][1]));
  const partials = a.partials ?? ctx.scratch(gradNormScratch(ctx, a.n) * 4);
  chunks.forEach(([start, count], c) => {
    ctx.dispatch({
      code: cpu ? NORM_PARTIALS_CPU : NORM_PARTIALS,
      bindings: [
        vec4Range(chunks.length > 1 ? subRange(a.grad, start, count) : a.grad, count, "grad"),
        chunks.length > 1 ? subRange(partials, c * MAX_PARTIALS, MAX_PARTIALS) : partials,
      ],
      params: new Uint32Array([count, groups]),
      workgroups: [groups],
      label: "grad_norm_partials",
    });
  });
  ctx.dispatch({
    code: NORM_FINISH,
    bindings: [partials, a.out],
    params: new Uint32Array([cpu ? CPU_PARTIALS : groups, chunks.length]),
    workgroups: [1],
    label: "grad_norm_finish",
  });
}

/**
 * Floats of partial-sum scratch `gradNorm` needs for `n` gradients on this device (256 per
 * binding-sized chunk).
 *
 * @example
 * ```ts ignore
 * const partials = device.createBuffer({ size: gradNormScratch(ctx, n) * 4, usage });
 * ```
 * @param ctx kernel context (binding limit)
 * @param n gradient count
 * @returns the float count
 */
export function gradNormScratch(ctx: KernelContext, n: number): number {
  const max = ctx.isCpuAdapter ? CPU_MAX_CHUNK : undefined;
  return MAX_PARTIALS * bindingChunks(ctx, n, max).length;
}

/**
 * CPU reference of `gradNorm` (in doubles).
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { gradNormCpu } from "./grad_norm.ts";
 * const out = new Float64Array(1);
 * gradNormCpu({ grad: new Float64Array([3, 4, 99]), n: 2, out });
 * ok(out[0] === 5);
 * ```
 * @param a arrays and sizes
 */
export function gradNormCpu(a: GradNormArgs<Float32Array | Float64Array>): void {
  let s = 0;
  for (let i = 0; i < a.n; i++) s += a.grad[i] * a.grad[i];
  a.out[0] = Math.sqrt(s);
}
