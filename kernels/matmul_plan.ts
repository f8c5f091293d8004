/**
 * What the matmul modules share: the variant names, the arguments and their resolved plan, the
 * shape-class key tuning is stored under, and the texture variants' register tiles. The launcher
 * (`matmul.ts`) and the tuner (`matmul_tune.ts`) import it; it imports neither.
 * @module
 */
import type { Buf } from "./context.ts";

/** Every variant, in the order `tuneMatmul` tries them (see `MatmulVariant`). */
export const MATMUL_VARIANTS = [
  "buffer128",
  "buffer64",
  "buffer16",
  "direct",
  "texture4x4",
  "texture8x8",
  "texture16x8",
  "texture12x16",
  "texture16x16",
] as const;

/**
 * Variants `matmulForward` can run: `buffer128` (128 x 128 workgroup-memory tiles with `vec4f`
 * loads and an 8 x 8 register tile, large shapes on GPUs), `buffer64`/`buffer16` (workgroup-memory
 * tiles of 64 or 16, for GPUs), `direct` (4x4 register tile straight from storage buffers, small
 * shapes on CPU adapters), `texture<rows>x<columns>` (operands packed into textures, register tile
 * of that size, llvmpipe).
 */
export type MatmulVariant = typeof MATMUL_VARIANTS[number];

/**
 * Arguments of `matmul`: `B` is `Buf` for the launcher, a typed array for the reference.
 *
 * Shapes per batch element z: op(A) is (M, K), op(B) is (K, N), C is (M, N) row-major.
 * A is stored (M, K), or (K, M) when `transA`; B is stored (K, N), or (N, K) when `transB`.
 * Element strides between A's and B's batch elements default to the dense sizes; 0 shares one
 * matrix. C is dense, (batch, M, N).
 */
export interface MatmulArgs<B> {
  /** Left operand, (batch, M, K) or (batch, K, M) when `transA`. */
  a: B;
  /** Right operand, (batch, K, N) or (batch, N, K) when `transB`. */
  b: B;
  /** Output, (batch, M, N); must not alias `a` or `b`. */
  out: B;
  /** Rows of C. */
  m: number;
  /** Columns of C. */
  n: number;
  /** Inner dimension. */
  k: number;
  /** Batch count (default 1). */
  batch?: number;
  /** A is stored (K, M). */
  transA?: boolean;
  /** B is stored (N, K). */
  transB?: boolean;
  /** Elements between A's batch elements (default M * K; 0 = shared). */
  strideA?: number;
  /** Elements between B's batch elements (default K * N; 0 = shared). */
  strideB?: number;
  /** Add into `out` (C += op(A) op(B)) instead of overwriting it. */
  accumulate?: boolean;
  /** Force a variant instead of the tuned or heuristic choice (ignored by the reference). */
  variant?: MatmulVariant;
}

/** `MatmulArgs` with every default filled in (what the variants receive). */
export type MatmulPlan<B = Buf> = Required<Omit<MatmulArgs<B>, "variant">>;

/**
 * Fills in the defaults of `MatmulArgs` and checks the sizes.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { resolveMatmul } from "./matmul_plan.ts";
 * const p = resolveMatmul({ a: 0, b: 0, out: 0, m: 2, n: 3, k: 4, batch: 5, strideB: 0 });
 * assert(p.strideA === 8 && p.strideB === 0 && !p.transA);
 * ```
 * @throws Error on negative or fractional sizes
 */
export function resolveMatmul<B>(args: MatmulArgs<B>): MatmulPlan<B> {
  const { m, n, k } = args, batch = args.batch ?? 1;
  const p: MatmulPlan<B> = {
    a: args.a,
    b: args.b,
    out: args.out,
    m,
    n,
    k,
    batch,
    transA: args.transA ?? false,
    transB: args.transB ?? false,
    strideA: args.strideA ?? m * k,
    strideB: args.strideB ?? k * n,
    accumulate: args.accumulate ?? false,
  };
  for (const key of ["m", "n", "k", "batch", "strideA", "strideB"] as const) {
    if (!Number.isInteger(p[key]) || p[key] < 0) {
      throw new Error(`Cannot matmul with ${key} = ${p[key]}: sizes must be integers >= 0`);
    }
  }
  return p;
}

/**
 * The tuning key of a matmul: sizes bucketed by powers of two, so one measurement serves a class.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { matmulShapeClass } from "./matmul_plan.ts";
 * assert(matmulShapeClass({ m: 1000, n: 512, k: 128, batch: 4 }) === "matmul:4096x128x512");
 * ```
 * @param s sizes (batch multiplies M)
 * @returns a key such as `matmul:4096x128x512` (M x K x N, each rounded up to a power of two)
 */
export function matmulShapeClass(s: { m: number; n: number; k: number; batch?: number }): string {
  const up = (x: number) => 2 ** Math.ceil(Math.log2(Math.max(1, x)));
  return `matmul:${up(s.m * (s.batch ?? 1))}x${up(s.k)}x${up(s.n)}`;
}

/** A register tile: each invocation computes `tm` rows by `tn` columns of C. */
export interface TextureTile {
  /** Rows of C per invocation (a multiple of 4). */
  tm: number;
  /** Columns of C per invocation (a multiple of 4). */
  tn: number;
}
