/**
 * FIRE's normalised relative distances (Functional Interpolation for Relative positions), the
 * input of the per-layer MLP that turns them into an attention bias: the (R, S) distance matrix
 * from two learnable scalars and the positions (gradients in `fire_backward.ts`), plus the sizes
 * and uniforms both directions share.
 * Reference: Li et al. 2023, "Functional Interpolation for Relative Positions Improves Long
 * Context Transformers" (FIRE), as upstream cramming computes it:
 * d_ij = log(|c (p_i - p_j)| + 1) / (log(|c max(p_i, |L init_L|)| + 1) + eps).
 * @module
 */
import type { Buf, FloatArray, KernelContext } from "./context.ts";
import { type Kernel, kernel, program, type Scalar } from "./program.ts";

/** Upstream's fixed `init_L`. */
export const FIRE_INIT_L = 512;
/** Upstream's `eps` in the normaliser. */
export const FIRE_EPS = 1e-6;

/** The uniforms every FIRE kernel declares (`p.cols`, `p.rowStart`, `p.initL`, `p.eps`). */
export const FIRE_UNIFORMS = {
  cols: "u32",
  rowStart: "u32",
  initL: "f32",
  eps: "f32",
} as const satisfies Record<string, Scalar>;

const FORWARD = program({
  label: "fire_forward",
  inputs: { c: "f32", lm: "f32", pos: "f32" }, // (1), (1), (S)
  outputs: { out: "f32" }, // (R, S)
  uniforms: FIRE_UNIFORMS,
  workgroup: 64,
  index: "idx",
  body: () =>
    `let i = p.rowStart + idx / p.cols;
  let j = idx % p.cols;
  let cv = c[0];
  let pi = pos[i];
  let threshold = abs(lm[0] * p.initL);
  let num = log(abs(cv * (pi - pos[j])) + 1.0);
  let den = log(abs(cv * max(pi, threshold)) + 1.0) + p.eps;
  out[idx] = num / den;`,
});

/** Sizes and constants shared by the forward and backward arguments. */
export interface FireSizes {
  /** Sequence length S: entries of `positions`, columns of the distance matrix. */
  seq: number;
  /** Rows R computed (query positions rowStart .. rowStart + R - 1); default S. */
  rows?: number;
  /** First row (query position) computed; default 0. */
  rowStart?: number;
  /** The fixed `init_L` (default 512). */
  initL?: number;
  /** The normaliser's eps (default 1e-6). */
  eps?: number;
}

/** Arguments of `fireForward`: `B` is `Buf` for the launcher, a typed array for the reference. */
export interface FireArgs<B> extends FireSizes {
  /** The learnable scale c, (1). */
  c: B;
  /** The learnable `L_multiplier`, (1). */
  lMult: B;
  /** Positions p (integers stored as f32, ascending), (S). */
  positions: B;
  /** Distances, (R, S): row r is query position rowStart + r. */
  out: B;
}

/**
 * Fills in the defaults of `FireSizes` and checks them.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { resolveFireSizes } from "./fire.ts";
 * const s = resolveFireSizes({ seq: 5, rows: 2 });
 * assert(s.rowStart === 0 && s.initL === 512 && s.eps === 1e-6);
 * ```
 * @throws Error when the rows fall outside the positions
 */
export function resolveFireSizes(a: FireSizes): Required<FireSizes> {
  const rows = a.rows ?? a.seq, rowStart = a.rowStart ?? 0;
  if (!Number.isInteger(a.seq) || a.seq < 0 || !Number.isInteger(rows) || rows < 0) {
    throw new Error(`Cannot compute FIRE distances for ${rows} rows of length ${a.seq}`);
  }
  if (!Number.isInteger(rowStart) || rowStart < 0 || rowStart + rows > a.seq) {
    throw new Error(
      `Cannot compute FIRE rows ${rowStart}..${rowStart + rows - 1}: there are ${a.seq} positions`,
    );
  }
  return { seq: a.seq, rows, rowStart, initL: a.initL ?? FIRE_INIT_L, eps: a.eps ?? FIRE_EPS };
}

/**
 * The values of `FIRE_UNIFORMS` for resolved sizes.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { fireParams, resolveFireSizes } from "./fire.ts";
 * assert(fireParams(resolveFireSizes({ seq: 5, rowStart: 2, rows: 3 })).rowStart === 2);
 * ```
 */
export function fireParams(s: Required<FireSizes>): Record<keyof typeof FIRE_UNIFORMS, number> {
  return { cols: s.seq, rowStart: s.rowStart, initL: s.initL, eps: s.eps };
}

/**
 * Computes FIRE's normalised distance matrix on the GPU.
 *
 * out[r, j] = log(|c (p_i - p_j)| + 1) / (log(|c max(p_i, |L init_L|)| + 1) + eps) with
 * i = rowStart + r. Every entry is computed, also those above the diagonal that causal
 * attention masks later (as upstream does). One dispatch; sizes travel as uniforms.
 */
function fireForward(ctx: KernelContext, args: FireArgs<Buf>): void {
  const s = resolveFireSizes(args);
  const n = s.rows * s.seq;
  if (n === 0) return;
  FORWARD.run(ctx, {
    key: {},
    bind: { c: args.c, lm: args.lMult, pos: args.positions, out: args.out },
    params: fireParams(s),
    count: n,
  });
}

/**
 * CPU reference of `fireForward` (in doubles; float64 inputs give float64 results).
 *
 * @param a arrays and sizes (c, lMult and positions may be any numeric arrays)
 */
function fireForwardCpu(
  a: Omit<FireArgs<ArrayLike<number>>, "out"> & { out: FloatArray },
): void {
  const s = resolveFireSizes(a);
  const c = a.c[0], threshold = Math.abs(a.lMult[0] * s.initL);
  for (let r = 0; r < s.rows; r++) {
    const pi = a.positions[s.rowStart + r];
    const den = Math.log(Math.abs(c * Math.max(pi, threshold)) + 1) + s.eps;
    for (let j = 0; j < s.seq; j++) {
      a.out[r * s.seq + j] = Math.log(Math.abs(c * (pi - a.positions[j])) + 1) / den;
    }
  }
}

/**
 * FIRE's normalised distances (R, S) for query positions i = rowStart + r:
 * `out[r, j] = log(|c (p_i - p_j)| + 1) / (log(|c max(p_i, |L init_L|)| + 1) + eps)`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { fireKernel } from "./fire.ts";
 * const out = new Float64Array(2); // query p = 3 against [0, 3]; threshold |L init_L| = 15
 * const sizes = { seq: 2, rows: 1, rowStart: 1, eps: 0 };
 * fireKernel.cpu({ c: [1], lMult: [15 / 512], positions: [0, 3], out, ...sizes });
 * assert(Math.abs(out[0] - 0.5) < 1e-15 && out[1] === 0); // log 4 / log 16
 * ```
 */
export const fireKernel: Kernel<
  FireArgs<Buf>,
  Omit<FireArgs<ArrayLike<number>>, "out"> & { out: FloatArray }
> = kernel(fireForward, fireForwardCpu);
