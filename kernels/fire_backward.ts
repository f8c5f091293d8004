/**
 * Gradients of FIRE's two learnable scalars (c and `L_multiplier`) from the gradient of the
 * distance matrix, as a deterministic two-pass reduction: one workgroup per row, then one
 * workgroup over the rows (no atomics). The forward pass and the shared sizes are in `fire.ts`.
 * Reference: derivatives of FIRE's
 * d_ij = log(|c (p_i - p_j)| + 1) / (log(|c max(p_i, |L init_L|)| + 1) + eps) in c and L.
 * @module
 */
import type { Buf, FloatArray, KernelContext } from "./context.ts";
import { FIRE_UNIFORMS, fireParams, type FireSizes, resolveFireSizes } from "./fire.ts";
import { type Kernel, kernel, program } from "./program.ts";

const WG = 64;

// Sums sa and sb over the workgroup in a fixed order (into sa[0] and sb[0]).
const TREE = `sa[lid] = a;
  sb[lid] = b;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) {
      sa[lid] += sa[lid + s];
      sb[lid] += sb[lid + s];
    }
    workgroupBarrier();
  }`;
const SHARED = `var<workgroup> sa: array<f32, ${WG}>;\nvar<workgroup> sb: array<f32, ${WG}>;`;

// Pass 1: workgroup r reduces row r of dD into its contributions to dc and dL (partial[2r..]).
const ROWS = program({
  label: "fire_backward_rows",
  inputs: { c: "f32", lm: "f32", pos: "f32", dd: "f32" }, // (1), (1), (S), (R, S)
  outputs: { partial: "f32" }, // (R, 2)
  uniforms: FIRE_UNIFORMS,
  workgroup: WG,
  per: "workgroup",
  index: "r",
  head: () => SHARED,
  body: () =>
    `let i = p.rowStart + r;
  let cv = c[0];
  let pi = pos[i];
  // a = sum_j dD_ij * d num_ij / dc, b = sum_j dD_ij * num_ij
  var a = 0.0;
  var b = 0.0;
  for (var j = lid; j < p.cols; j += ${WG}u) {
    let g = dd[r * p.cols + j];
    let diff = pi - pos[j];
    let x = cv * diff;
    a += g * sign(x) * diff / (abs(x) + 1.0);
    b += g * log(abs(x) + 1.0);
  }
  ${TREE}
  if (lid == 0u) {
    let lv = lm[0] * p.initL;
    let threshold = abs(lv);
    let m = max(pi, threshold);
    let y = cv * m;
    let den = log(abs(y) + 1.0) + p.eps;
    let q = sign(y) / (abs(y) + 1.0);          // d log(|y| + 1) / dy
    var dm = 0.0;                              // d max(pi, threshold) / d threshold
    if (threshold > pi) { dm = 1.0; } else if (threshold == pi) { dm = 0.5; }
    let k = sb[0] / (den * den);
    partial[2u * r] = sa[0] / den - k * q * m;
    partial[2u * r + 1u] = -k * q * cv * dm * sign(lv) * p.initL;
  }`,
});

// Pass 2: one workgroup sums the per-row contributions in a fixed order.
const SUM = program({
  label: "fire_backward_sum",
  inputs: { partial: "f32" }, // (R, 2)
  outputs: { dc: "f32", dl: "f32" }, // (1), (1)
  uniforms: { rows: "u32" },
  workgroup: WG,
  per: "none",
  head: () => SHARED,
  body: () =>
    `var a = 0.0;
  var b = 0.0;
  for (var r = lid; r < p.rows; r += ${WG}u) {
    a += partial[2u * r];
    b += partial[2u * r + 1u];
  }
  ${TREE}
  if (lid == 0u) {
    dc[0] = sa[0];
    dl[0] = sb[0];
  }`,
});

/** Arguments of `fireBackward`. */
export interface FireBackwardArgs<B> extends FireSizes {
  /** The learnable scale c, (1). */
  c: B;
  /** The learnable `L_multiplier`, (1). */
  lMult: B;
  /** Positions p, (S). */
  positions: B;
  /** Gradient of the distances, (R, S). */
  dOut: B;
  /** Gradient of c, (1) (overwritten). */
  dc: B;
  /** Gradient of `L_multiplier`, (1) (overwritten). */
  dLMult: B;
}

/**
 * Computes the gradients of c and `L_multiplier` from the gradient of FIRE's distances.
 *
 * Two dispatches, no atomics: a workgroup per row reduces that row (the normaliser depends on
 * the row only, so each row needs two sums), then one workgroup adds the rows in a fixed order.
 * Derivatives follow PyTorch autograd: d|x|/dx = sign(x) (0 at 0); max(p_i, T) sends the
 * gradient to the larger side, half to each on a tie.
 */
function fireBackward(ctx: KernelContext, args: FireBackwardArgs<Buf>): void {
  const s = resolveFireSizes(args);
  const partial = ctx.scratch(Math.max(8, s.rows * 8));
  const some = s.rows > 0 && s.seq > 0; // else the sum pass writes zeros
  if (some) {
    const bind = { c: args.c, lm: args.lMult, pos: args.positions, dd: args.dOut, partial };
    ROWS.run(ctx, { key: {}, bind, params: fireParams(s), count: s.rows });
  }
  SUM.run(ctx, {
    key: {},
    bind: { partial, dc: args.dc, dl: args.dLMult },
    params: { rows: some ? s.rows : 0 },
    workgroups: [1],
  });
}

/** CPU reference of `fireBackward` (in doubles, the same derivative conventions). */
function fireBackwardCpu(
  a: Omit<FireBackwardArgs<ArrayLike<number>>, "dc" | "dLMult"> & {
    dc: FloatArray;
    dLMult: FloatArray;
  },
): void {
  const s = resolveFireSizes(a);
  const c = a.c[0], lv = a.lMult[0] * s.initL, threshold = Math.abs(lv);
  let dc = 0, dl = 0;
  for (let r = 0; r < s.rows; r++) {
    const pi = a.positions[s.rowStart + r];
    const m = Math.max(pi, threshold), y = c * m;
    const den = Math.log(Math.abs(y) + 1) + s.eps;
    const q = Math.sign(y) / (Math.abs(y) + 1); // d log(|y| + 1) / dy
    const dm = threshold > pi ? 1 : threshold === pi ? 0.5 : 0; // d max / d threshold
    for (let j = 0; j < s.seq; j++) {
      const g = a.dOut[r * s.seq + j];
      const diff = pi - a.positions[j], x = c * diff;
      const num = Math.log(Math.abs(x) + 1);
      const dNum = Math.sign(x) * diff / (Math.abs(x) + 1); // d num / dc
      dc += g * (dNum / den - num * q * m / (den * den));
      dl += g * (-num * q * c * dm * Math.sign(lv) * s.initL / (den * den));
    }
  }
  a.dc[0] = dc;
  a.dLMult[0] = dl;
}

/**
 * Gradients of FIRE's two scalars, `dc` and `dLMult` (1 each), from the gradient of the distances
 * (R, S), with PyTorch's conventions for |x| and max.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { fireBackwardKernel } from "./fire_backward.ts";
 * const dc = new Float64Array(1), dLMult = new Float64Array(1);
 * fireBackwardKernel.cpu({ c: [1], lMult: [15 / 512], positions: [0, 3], dOut: [1, 0], dc, dLMult,
 *   seq: 2, rows: 1, rowStart: 1, eps: 0 });
 * // d/dc of log(3c + 1) / log(15c + 1) at c = 1
 * const want = (0.75 * Math.log(16) - Math.log(4) * 15 / 16) / Math.log(16) ** 2;
 * assert(Math.abs(dc[0] - want) < 1e-12);
 * ```
 */
export const fireBackwardKernel: Kernel<
  FireBackwardArgs<Buf>,
  Omit<FireBackwardArgs<ArrayLike<number>>, "dc" | "dLMult"> & {
    dc: FloatArray;
    dLMult: FloatArray;
  }
> = kernel(fireBackward, fireBackwardCpu);
