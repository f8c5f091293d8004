/**
 * Batched matmul C = op(A) op(B) with optional transposes read in place (no copies), per-operand
 * batch strides (0 = one matrix shared by the whole batch, e.g. a weight) and accumulation
 * (C += A B, for gradients). Two kinds of variant: workgroup-memory tiles over storage buffers
 * (what real GPUs like) and packed textures with register tiles (`matmul_texture.ts`, llvmpipe);
 * `matmulForward` picks one per adapter and shape class, from `tuneMatmul`'s measurements.
 * @module
 */
import { type Buf, checkLoopBudget, type FloatArray, type KernelContext } from "./context.ts";
import { bufferFits, type BufferVariant, matmulBuffer } from "./matmul_buffer.ts";
import {
  MATMUL_VARIANTS,
  type MatmulArgs,
  type MatmulPlan,
  matmulShapeClass,
  type MatmulVariant,
  resolveMatmul,
  type TextureTile,
} from "./matmul_plan.ts";
import { matmulTexture, TEXTURE_WGX, textureFits } from "./matmul_texture.ts";
import { type Kernel, kernel } from "./program.ts";

// The storage-buffer variants, and the register tile of a `texture<tm>x<tn>` variant.
const isBuffer = (v: MatmulVariant): v is BufferVariant => !v.startsWith("texture");
const tileOf = (v: MatmulVariant): TextureTile => {
  const [tm, tn] = v.slice("texture".length).split("x").map(Number);
  return { tm, tn };
};

/**
 * Whether a variant can run a plan on this device.
 *
 * @example
 * ```ts ignore
 * const ok = matmulVariantFits(ctx, resolveMatmul(args), "texture16x16");
 * ```
 * @returns false when the texture variant's textures would exceed the device limits
 */
export function matmulVariantFits(
  ctx: KernelContext,
  p: MatmulPlan<unknown>,
  v: MatmulVariant,
): boolean {
  if (isBuffer(v)) return bufferFits(ctx, p, v);
  return textureFits(ctx, p, tileOf(v)) && p.batch <= ctx.maxWorkgroups;
}

/**
 * GFLOP per CPU-second of the texture kernels' main loop by tile (bench/NOTES.md). The 12x16 tile
 * (fewer accumulators to spill) beats 16x16 by 8-10% on long sums (K = 1216: weight gradients)
 * and loses 4-5% on short ones (K = 128..384). 16x8 (64 columns per workgroup, like 8x8) beats
 * 8x8 by 5-10% on N = 64 outputs.
 */
function tileRate(v: MatmulVariant, k: number): number {
  if (v === "texture12x16") return k >= 1024 ? 33 : 28.5;
  return v === "texture16x16" ? 30 : v === "texture16x8" ? 23 : v === "texture8x8" ? 21 : 15;
}

/** CPU threads an adapter such as llvmpipe spreads workgroups over (the machine's cores). */
function cpuThreads(): number {
  const n = (globalThis.navigator as Navigator | undefined)?.hardwareConcurrency;
  return typeof n === "number" && n > 0 ? n : 4;
}

/**
 * The variant `matmulForward` runs when nothing was tuned for a shape class.
 *
 * CPU adapters: packed textures once the work pays for the two
 * extra dispatches and a compile per shape (about 2^18 multiply-adds), else `direct`; the tile
 * is the one with the least padded work per measured rate (by tile and K; a workgroup covers 8 tiles along n,
 * so narrow outputs pad to 8 tiles) that still gives every CPU thread at least 4 workgroups
 * (texture4x4 always qualifies). GPUs:
 * workgroup tiles, 64 wide once C has enough tiles to fill the device.
 *
 * @example
 * ```ts ignore
 * const v = matmulHeuristic(ctx, resolveMatmul({ a: 0, b: 0, out: 0, m: 1024, n: 1024, k: 1024 }));
 * ```
 * @param ctx kernel context (adapter kind, limits)
 */
export function matmulHeuristic(ctx: KernelContext, p: MatmulPlan<unknown>): MatmulVariant {
  const macs = p.batch * p.m * p.n * p.k;
  // The family measured on first use (`probeMatmulFamily`), else a guess from the adapter kind.
  const family = ctx.tuning.get("matmul.family") ?? (ctx.isCpuAdapter ? "texture" : "buffer");
  if (family === "texture") {
    if (macs >= 1 << 18) {
      // The tile with the least estimated time (padded work over the tile's measured rate,
      // bench/NOTES.md) among those leaving at least 4 workgroups per CPU thread. A workgroup
      // spans TEXTURE_WGX tiles along n, and its lanes past N cost like the others: N = 64
      // pads to 128 columns with 16x16 tiles but to none with 8x8.
      let best: MatmulVariant | null = null, bestCost = Infinity;
      for (const v of MATMUL_VARIANTS.filter((v) => !isBuffer(v)).reverse()) {
        const { tm, tn } = tileOf(v), wide = TEXTURE_WGX * tn;
        const groups = Math.ceil(p.m / tm) * Math.ceil(p.n / wide) * p.batch;
        const cost = groups * tm * wide / tileRate(v, p.k);
        const busy = groups >= 4 * cpuThreads() || v === "texture4x4";
        if (busy && cost < bestCost && matmulVariantFits(ctx, p, v)) [best, bestCost] = [v, cost];
      }
      if (best) return best;
    }
    return "direct";
  }
  // GPUs: the largest tile that still gives the device about 128 workgroups.
  const cells = p.m * p.n * p.batch;
  return cells >= 128 * 128 * 128 ? "buffer128" : cells >= 64 * 64 * 32 ? "buffer64" : "buffer16";
}

/**
 * Computes C = op(A) op(B) (or C += ...) on the GPU with the variant chosen for this adapter.
 *
 * The variant is `args.variant` when given, else the winner `tuneMatmul` stored for the shape
 * class in `ctx.tuning`, else a heuristic (the measured matmul family; until one is measured,
 * textures on CPU adapters for large enough work and buffers otherwise, and the launch asks the
 * context to measure the family: `ctx.requestTuning`). Every variant reads transposed operands in
 * place.
 */
function matmulForward(ctx: KernelContext, args: MatmulArgs<Buf>): MatmulVariant | null {
  const p = resolveMatmul(args);
  if (p.m === 0 || p.n === 0 || p.batch === 0) return null;
  let v = args.variant ?? ctx.tuning.get(matmulShapeClass(p)) as MatmulVariant | undefined;
  if (!v || !matmulVariantFits(ctx, p, v)) {
    // No family measured yet: ask for the measurement (`core/tuning.ts`) and guess meanwhile.
    if (!ctx.tuning.has("matmul.family")) ctx.requestTuning?.("matmul.family");
    v = matmulHeuristic(ctx, p);
  }
  // Each invocation walks K (by 1 in `direct`, 16 in the tiled buffers, 4 in the textures).
  const steps = Math.ceil(p.k / (v === "direct" ? 1 : isBuffer(v) ? 16 : 4));
  checkLoopBudget(ctx, steps, `A matmul over K = ${p.k} (lower the microbatch if K counts rows)`);
  if (isBuffer(v)) matmulBuffer(ctx, p, v);
  else matmulTexture(ctx, p, tileOf(v));
  return v;
}

/**
 * CPU reference of `matmulForward`, computed in doubles.
 * Reference: C[z, m, n] = sum_k op(A)[z, m, k] * op(B)[z, k, n].
 */
function matmulForwardCpu(args: MatmulArgs<FloatArray>): void {
  const p = resolveMatmul(args);
  const { m: M, n: N, k: K } = p;
  const row = new Float64Array(N);
  for (let z = 0; z < p.batch; z++) {
    const ao = z * p.strideA, bo = z * p.strideB, co = z * p.strideC;
    // A(m, k) = a[ao + m * am + k * ak]; B(k, n) = b[bo + k * bk + n * bn]
    const am = p.transA ? 1 : K, ak = p.transA ? M : 1;
    const bk = p.transB ? 1 : N, bn = p.transB ? K : 1;
    for (let m = 0; m < M; m++) {
      row.fill(0);
      for (let k = 0; k < K; k++) {
        const av = p.a[ao + m * am + k * ak];
        const base = bo + k * bk;
        for (let n = 0; n < N; n++) row[n] += av * p.b[base + n * bn];
      }
      const c = co + m * N;
      for (let n = 0; n < N; n++) p.out[c + n] = p.accumulate ? p.out[c + n] + row[n] : row[n];
    }
  }
}

/**
 * Batched matrix product `out = op(a) op(b)` (batch, M, N), with optional transposes, strides and
 * accumulation; `gpu` returns the variant that ran (or null).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { matmulKernel } from "./matmul.ts";
 * const out = new Float32Array(1), a = new Float32Array([1, 2]), b = new Float32Array([3, 4]);
 * matmulKernel.cpu({ a, b, out, m: 1, n: 1, k: 2 }); // (1, 2) @ (2, 1)
 * assert(out[0] === 11);
 * ```
 */
export const matmulKernel: Kernel<MatmulArgs<Buf>, MatmulArgs<FloatArray>, MatmulVariant | null> =
  kernel(matmulForward, matmulForwardCpu);
