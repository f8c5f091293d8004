/**
 * AdamW over one flat buffer of all parameters (one dispatch per binding-sized chunk), with
 * gradient clipping fused in: the scale is read from the norm buffer that `gradNormKernel`
 * wrote (the global L2 norm of the flat gradient: a deterministic two-pass reduction per
 * binding-sized chunk), so a step needs no readback.
 * @module
 */
import { bindingChunks, type Buf, type KernelContext, subRange, vec4Range } from "./context.ts";
import { type Kernel, program } from "./program.ts";

// One invocation per vec4 of a binding-sized chunk; `len` masks the lanes past the chunk's end.
const ADAMW = program({
  label: "adamw",
  inputs: { grad: "vec4f", norm: "f32" },
  outputs: { param: "vec4f", m: "vec4f", v: "vec4f" },
  uniforms: {
    lr: "f32",
    beta1: "f32",
    beta2: "f32",
    eps: "f32",
    wd: "f32",
    bc1: "f32",
    bc2: "f32",
    maxNorm: "f32",
    decayEnd: "u32",
    len: "u32",
  },
  workgroup: 256,
  index: "j",
  body: (k: { clip: boolean }) =>
    `let scale = ${k.clip ? "min(1.0, p.maxNorm / (norm[0] + 1e-6))" : "1.0"};
  let idx = vec4u(j * 4u) + vec4u(0u, 1u, 2u, 3u);
  let live = idx < vec4u(p.len);
  let x = param[j];
  let m0 = m[j];
  let v0 = v[j];
  let g = grad[j] * scale;
  let m1 = p.beta1 * m0 + (1.0 - p.beta1) * g;
  let v1 = p.beta2 * v0 + (1.0 - p.beta2) * g * g;
  let wd = select(vec4f(0.0), vec4f(p.wd), idx < vec4u(p.decayEnd));
  let denom = sqrt(v1) / sqrt(p.bc2) + p.eps;
  let x1 = x * (1.0 - p.lr * wd) - (p.lr / p.bc1) * m1 / denom;
  param[j] = select(x, x1, live);
  m[j] = select(m0, m1, live);
  v[j] = select(v0, v1, live);`,
});

/** Arguments of `adamwKernel`: `B` is `Buf` for the launcher, a typed array for the reference. */
export interface AdamWArgs<B> {
  /** Parameters, (n); updated in place. */
  param: B;
  /** Gradients, (n); read only (clipping scales them on the fly). */
  grad: B;
  /** First moments, (n); updated in place. */
  m: B;
  /** Second moments, (n); updated in place. */
  v: B;
  /** Element count. */
  n: number;
  /** Elements `[0, decayEnd)` get weight decay, the rest none. */
  decayEnd: number;
  /** Learning rate of this step. */
  lr: number;
  /** First-moment decay. */
  beta1: number;
  /** Second-moment decay. */
  beta2: number;
  /** Added to the bias-corrected root of the second moment. */
  eps: number;
  /** Decoupled weight decay. */
  weightDecay: number;
  /** The step number, counting from 1 (for the bias corrections 1 - beta^step). */
  step: number;
  /** Clip to this global norm (null or absent: no clipping). */
  maxGradNorm?: number | null;
  /** (1): the global gradient norm, as written by `gradNormKernel` (needed when clipping). */
  norm?: B;
}

function biasCorrections(a: AdamWArgs<unknown>): [number, number] {
  if (!(a.step >= 1)) throw new Error(`AdamW step must count from 1, got ${a.step}`);
  return [1 - a.beta1 ** a.step, 1 - a.beta2 ** a.step];
}

function clipping(a: AdamWArgs<unknown>): boolean {
  const clip = a.maxGradNorm !== null && a.maxGradNorm !== undefined;
  if (clip && !a.norm) throw new Error("AdamW with maxGradNorm needs the norm buffer");
  return clip;
}

/**
 * One AdamW step over `n` flat parameters in place (moments updated too), decoupled weight decay on
 * `[0, decayEnd)`, gradients optionally scaled by `maxGradNorm / norm` when above the limit.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { adamwKernel } from "./adamw.ts";
 * const param = new Float64Array([1]), m = new Float64Array(1), v = new Float64Array(1);
 * adamwKernel.cpu({ param, grad: new Float64Array([2]), m, v, n: 1, decayEnd: 1, lr: 0.1,
 *   beta1: 0.9, beta2: 0.99, eps: 0, weightDecay: 0.5, step: 1 });
 * // decay: 1 * (1 - 0.1 * 0.5) = 0.95; the first step moves by lr * sign(g) = 0.1
 * assert(Math.abs(param[0] - 0.85) < 1e-12);
 * ```
 */
export const adamwKernel: Kernel<AdamWArgs<Buf>, AdamWArgs<Float32Array | Float64Array>> = {
  /**
   * One vec4 per invocation. With `g = grad * s`, where `s = min(1, maxGradNorm / (norm + 1e-6))`
   * when clipping (else 1), and `wd = weightDecay` for elements below `decayEnd` (else 0):
   * `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
   * `p = p (1 - lr wd) - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
   * The bias corrections are computed here on the CPU and passed with the learning rate as
   * uniform params, so changing the learning rate never recompiles. Lanes of the last vec4 at or
   * past `n` are written back unchanged.
   * Reference: Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization" (PyTorch
   * `torch.optim.AdamW`); clipping as PyTorch `clip_grad_norm_`.
   */
  gpu(ctx, a) {
    if (a.n === 0) return;
    const [bc1, bc2] = biasCorrections(a);
    const clip = clipping(a);
    const params = {
      lr: a.lr,
      beta1: a.beta1,
      beta2: a.beta2,
      eps: a.eps,
      wd: a.weightDecay,
      bc1,
      bc2,
      maxNorm: clip ? a.maxGradNorm! : 0,
      decayEnd: 0,
      len: 0,
    };
    // One dispatch per binding-sized chunk (an elementwise update: chunks are independent).
    const chunks = bindingChunks(ctx, a.n);
    for (const [start, count] of chunks) {
      params.decayEnd = Math.max(0, Math.min(a.decayEnd - start, count));
      params.len = count;
      const at = (b: Buf, what: string) =>
        vec4Range(chunks.length > 1 ? subRange(b, start, count) : b, count, what);
      ADAMW.run(ctx, {
        key: { clip },
        bind: {
          grad: at(a.grad, "grad"),
          norm: clip ? a.norm : undefined,
          param: at(a.param, "param"),
          m: at(a.m, "m"),
          v: at(a.v, "v"),
        },
        params,
        count: Math.ceil(count / 4),
      });
    }
  },
  cpu(a) {
    const [bc1, bc2] = biasCorrections(a);
    const scale = clipping(a) ? Math.min(1, a.maxGradNorm! / (a.norm![0] + 1e-6)) : 1;
    const stepSize = a.lr / bc1, bc2Sqrt = Math.sqrt(bc2);
    for (let i = 0; i < a.n; i++) {
      const g = a.grad[i] * scale;
      const m = a.beta1 * a.m[i] + (1 - a.beta1) * g;
      const v = a.beta2 * a.v[i] + (1 - a.beta2) * g * g;
      const wd = i < a.decayEnd ? a.weightDecay : 0;
      a.param[i] = a.param[i] * (1 - a.lr * wd) - stepSize * m / (Math.sqrt(v) / bc2Sqrt + a.eps);
      a.m[i] = m;
      a.v[i] = v;
    }
  },
};

// ------------------------------------------------------------ gradient norm

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

/** Arguments of `gradNormKernel`: `B` is `Buf` on the GPU, a typed array on the CPU. */
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
 * Floats of partial-sum scratch `gradNormKernel` needs for `n` gradients on this device (256 per
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

/**
 * The L2 norm of the first `n` gradients, written to `out` (1) (the clipping norm AdamW reads).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { gradNormKernel } from "./adamw.ts";
 * const out = new Float64Array(1);
 * gradNormKernel.cpu({ grad: new Float64Array([3, 4, 99]), n: 2, out });
 * assert(out[0] === 5);
 * ```
 */
export const gradNormKernel: Kernel<GradNormArgs<Buf>, GradNormArgs<Float32Array | Float64Array>> =
  {
    /**
     * Computes the global L2 norm of a flat gradient into a 1-element buffer, without readback.
     *
     * Two passes in a fixed order (deterministic, no atomics): up to 256 workgroups each sum
     * the squares of a strided set of vec4s and tree-reduce them in workgroup memory; one
     * workgroup then tree-reduces the partial sums and takes the square root (CPU adapters: one
     * partial per lane, no barrier; see `CPU_WG`). The grouping depends only on `n` and adapter.
     * Reference: PyTorch `clip_grad_norm_` total norm, ||g||_2 = sqrt(sum_i g_i^2).
     */
    gpu(ctx, a) {
      // Each binding-sized chunk writes its own block of `groups` partials.
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
        PARTIALS.run(ctx, {
          key: { cpu },
          bind: { g, partials: part },
          params,
          workgroups: [groups],
        });
      });
      FINISH.run(ctx, {
        key: {},
        bind: { partials, out: a.out },
        params: { groups: cpu ? CPU_PARTIALS : groups, chunks: chunks.length },
        workgroups: [1],
      });
    },
    cpu(a) {
      let s = 0;
      for (let i = 0; i < a.n; i++) s += a.grad[i] * a.grad[i];
      a.out[0] = Math.sqrt(s);
    },
  };
