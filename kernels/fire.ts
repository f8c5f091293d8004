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
import { type Buf, type FloatArray, grid1d, type KernelContext } from "./context.ts";

const WG = 64;

/** Upstream's fixed `init_L`. */
export const FIRE_INIT_L = 512;
/** Upstream's `eps` in the normaliser. */
export const FIRE_EPS = 1e-6;

/**
 * The WGSL uniform struct every FIRE shader declares (filled by `fireUniforms`): rows R, row
 * length S, first row, init_L, eps.
 */
export const FIRE_PARAMS_WGSL = /* wgsl */ `
struct P { rows: u32, cols: u32, rowStart: u32, initL: f32, eps: f32 }`;

const FORWARD = /* wgsl */ `${FIRE_PARAMS_WGSL}
@group(0) @binding(0) var<storage, read> c: array<f32>;        // (1)
@group(0) @binding(1) var<storage, read> lm: array<f32>;       // (1)
@group(0) @binding(2) var<storage, read> pos: array<f32>;      // (S)
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // (R, S)
@group(0) @binding(4) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let idx = g.x + g.y * nw.x * ${WG}u;
  if (idx >= p.rows * p.cols) { return; }
  let i = p.rowStart + idx / p.cols;
  let j = idx % p.cols;
  let cv = c[0];
  let pi = pos[i];
  let threshold = abs(lm[0] * p.initL);
  let num = log(abs(cv * (pi - pos[j])) + 1.0);
  let den = log(abs(cv * max(pi, threshold)) + 1.0) + p.eps;
  out[idx] = num / den;
}`;

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
 * @param a sizes, some optional
 * @returns every size and constant
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
 * Packs resolved sizes into the uniform struct `FIRE_PARAMS_WGSL` declares.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { fireUniforms, resolveFireSizes } from "./fire.ts";
 * const u = fireUniforms(resolveFireSizes({ seq: 5 }));
 * assert(u[0] === 5 && new Float32Array(u.buffer)[3] === 512);
 * ```
 * @param s resolved sizes
 * @returns five 32-bit words (three u32, two f32)
 */
export function fireUniforms(s: Required<FireSizes>): Uint32Array {
  const u = new Uint32Array(5);
  const f = new Float32Array(u.buffer);
  u[0] = s.rows;
  u[1] = s.seq;
  u[2] = s.rowStart;
  f[3] = s.initL;
  f[4] = s.eps;
  return u;
}

/**
 * Computes FIRE's normalised distance matrix on the GPU.
 *
 * out[r, j] = log(|c (p_i - p_j)| + 1) / (log(|c max(p_i, |L init_L|)| + 1) + eps) with
 * i = rowStart + r. Every entry is computed, also those above the diagonal that causal
 * attention masks later (as upstream does). One dispatch; sizes travel as uniforms.
 *
 * @example
 * ```ts ignore
 * fireForward(ctx, { c, lMult, positions, out, seq: 64 }); // out (64, 64)
 * ```
 * @param ctx kernel context
 * @param args buffers and sizes
 */
export function fireForward(ctx: KernelContext, args: FireArgs<Buf>): void {
  const s = resolveFireSizes(args);
  const n = s.rows * s.seq;
  if (n === 0) return;
  ctx.dispatch({
    code: FORWARD,
    bindings: [args.c, args.lMult, args.positions, args.out],
    params: fireUniforms(s),
    workgroups: grid1d(Math.ceil(n / WG), ctx.maxWorkgroups),
    label: "fire_forward",
  });
}

/**
 * CPU reference of `fireForward` (in doubles; float64 inputs give float64 results).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { fireForwardCpu } from "./fire.ts";
 * const out = new Float64Array(4);
 * fireForwardCpu({ c: [0.1], lMult: [1], positions: [0, 1], out, seq: 2 });
 * // d_10 = log(1.1) / (log(1 + 0.1 * 512) + 1e-6); the diagonal is 0
 * const want = Math.log(1.1) / (Math.log(52.2) + 1e-6);
 * assert(out[0] === 0 && Math.abs(out[2] - want) < 1e-12);
 * ```
 * @param a arrays and sizes (c, lMult and positions may be any numeric arrays)
 */
export function fireForwardCpu(
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
