/**
 * Global L2 norm of a flat gradient (the arena's), for clipping: a deterministic two-pass
 * reduction per binding-sized chunk, no readback. AdamW (`adamw.ts`) reads the result.
 * @module
 */
import { bindingChunks, type Buf, type KernelContext, subRange, vec4Range } from "./context.ts";
import { type Kernel, program } from "./program.ts";

const WG = 256;
/** Most partial sums one chunk's first pass writes (one per workgroup). */
const MAX_PARTIALS = 256;

// The tree sum of the workgroup's `sh` into sh[0] (fixed order, deterministic).
const TREE = `sh[lid] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { sh[lid] += sh[lid + s]; }
    workgroupBarrier();
  }`;

// CPU adapters (llvmpipe runs a workgroup barrier by switching every invocation's coroutine):
// 32 workgroups of one 8-lane SIMD group, each lane summing a strided set of vec4s into its own
// partial, no barrier (the finishing pass is the same). llvmpipe also ends any invocation after
// 65535 loop iterations in all, so a chunk holds at most 2^25 floats (32768 vec4s per lane).
const CPU_WG = 8, CPU_PARTIALS = 256, CPU_MAX_CHUNK = 1 << 25;

// Pass 1, per binding-sized chunk: `groups` partial sums of squares (GPU: one per workgroup;
// CPU adapters: one per invocation).
const PARTIALS = program({
  label: "grad_norm_partials",
  inputs: { g: "vec4f" },
  outputs: { partials: "f32" },
  uniforms: { n: "u32", groups: "u32" },
  workgroup: (k: { cpu: boolean }) => k.cpu ? CPU_WG : WG,
  per: "none",
  head: (k) => k.cpu ? "" : `var<workgroup> sh: array<f32, ${WG}>;`,
  body: (k) =>
    `let n4 = (p.n + 3u) / 4u;
  var acc = vec4f(0.0);
  for (var j = ${
      k.cpu
        ? `gid.x; j < n4; j += ${CPU_PARTIALS}u`
        : `wid.x * ${WG}u + lid; j < n4; j += p.groups * ${WG}u`
    }) {
    let idx = vec4u(j * 4u) + vec4u(0u, 1u, 2u, 3u);
    let x = select(vec4f(0.0), g[j], idx < vec4u(p.n));
    acc += x * x;
  }
  ${
      k.cpu
        ? "partials[gid.x] = (acc.x + acc.y) + (acc.z + acc.w);"
        : TREE.replace("sh[lid] = acc;", "sh[lid] = (acc.x + acc.y) + (acc.z + acc.w);") +
          "\n  if (lid == 0u) { partials[wid.x] = sh[0]; }"
    }`,
});

// Pass 2: sums `chunks` blocks of `groups` partials, block c at c * 256, into the norm.
const FINISH = program({
  label: "grad_norm_finish",
  inputs: { partials: "f32" },
  outputs: { out: "f32" },
  uniforms: { groups: "u32", chunks: "u32" },
  workgroup: WG,
  per: "none",
  head: () => `var<workgroup> sh: array<f32, ${WG}>;`,
  body: () =>
    `var acc = 0.0;
  for (var c = 0u; c < p.chunks; c++) {
    for (var j = lid; j < p.groups; j += ${WG}u) { acc += partials[c * ${MAX_PARTIALS}u + j]; }
  }
  ${TREE}
  if (lid == 0u) { out[0] = sqrt(sh[0]); }`,
});

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
 */
function gradNorm(ctx: KernelContext, a: GradNormArgs<Buf>): void {
  // One partials pass per binding-sized chunk of the gradients, each into its own block of
  // `groups` partials (a fixed order, so the norm is deterministic), then one finishing sum.
  const cpu = ctx.isCpuAdapter;
  const chunks = bindingChunks(ctx, a.n, cpu ? CPU_MAX_CHUNK : undefined);
  // GPUs: a workgroup per WG vec4s of the first chunk, at most MAX_PARTIALS.
  const wgs = Math.max(1, Math.ceil(Math.min(a.n, chunks[0][1]) / 4 / WG));
  const groups = cpu ? CPU_PARTIALS / CPU_WG : Math.min(MAX_PARTIALS, wgs);
  const partials = a.partials ?? ctx.scratch(gradNormScratch(ctx, a.n) * 4);
  const many = chunks.length > 1;
  chunks.forEach(([start, count], c) => {
    const g = vec4Range(many ? subRange(a.grad, start, count) : a.grad, count, "grad");
    const part = many ? subRange(partials, c * MAX_PARTIALS, MAX_PARTIALS) : partials;
    const params = { n: count, groups };
    PARTIALS.run(ctx, { key: { cpu }, bind: { g, partials: part }, params, workgroups: [groups] });
  });
  FINISH.run(ctx, {
    key: {},
    bind: { partials, out: a.out },
    params: { groups: cpu ? CPU_PARTIALS : groups, chunks: chunks.length },
    workgroups: [1],
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
 */
export function gradNormScratch(ctx: KernelContext, n: number): number {
  const max = ctx.isCpuAdapter ? CPU_MAX_CHUNK : undefined;
  return MAX_PARTIALS * bindingChunks(ctx, n, max).length;
}

/** CPU reference of `gradNorm` (in doubles). */
function gradNormCpu(a: GradNormArgs<Float32Array | Float64Array>): void {
  let s = 0;
  for (let i = 0; i < a.n; i++) s += a.grad[i] * a.grad[i];
  a.out[0] = Math.sqrt(s);
}

/**
 * The L2 norm of the first `n` gradients, written to `out` (1) (the clipping norm AdamW reads).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { gradNormKernel } from "./grad_norm.ts";
 * const out = new Float64Array(1);
 * gradNormKernel.cpu({ grad: new Float64Array([3, 4, 99]), n: 2, out });
 * assert(out[0] === 5);
 * ```
 */
export const gradNormKernel: Kernel<GradNormArgs<Buf>, GradNormArgs<Float32Array | Float64Array>> =
  { gpu: gradNorm, cpu: gradNormCpu };
