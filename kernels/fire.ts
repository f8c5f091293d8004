/**
 * FIRE's normalised relative distances (Functional Interpolation for Relative positions), the
 * input of the per-layer MLP that turns them into an attention bias: the (R, S) distance matrix
 * from two learnable scalars and the positions, and the gradients of the two scalars as a
 * deterministic two-pass reduction: one workgroup per row, then one workgroup over the rows (no
 * atomics).
 * Reference: Li et al. 2023, "Functional Interpolation for Relative Positions Improves Long
 * Context Transformers" (FIRE), as upstream cramming computes it:
 * d_ij = log(|c (p_i - p_j)| + 1) / (log(|c max(p_i, |L init_L|)| + 1) + eps), and its
 * derivatives in c and L.
 * @module
 */
import type { Buf, FloatArray } from "./context.ts";
import { type Kernel, program, type Scalar } from "./program.ts";

/** Upstream's fixed `init_L`. */
export const FIRE_INIT_L = 512;
/** Upstream's `eps` in the normaliser. */
export const FIRE_EPS = 1e-6;

/** The uniforms every FIRE kernel declares (`p.cols`, `p.rowStart`, `p.initL`, `p.eps`). */
const FIRE_UNIFORMS = {
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
interface FireSizes {
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

/** Arguments of `fireKernel`: `B` is `Buf` for the launcher, a typed array for the reference. */
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

// Fills in the defaults of `FireSizes` (core/ops/fire.ts checks the rows).
function resolveFireSizes(a: FireSizes): Required<FireSizes> {
  const rows = a.rows ?? a.seq, rowStart = a.rowStart ?? 0;
  return { seq: a.seq, rows, rowStart, initL: a.initL ?? FIRE_INIT_L, eps: a.eps ?? FIRE_EPS };
}

// The values of `FIRE_UNIFORMS` for resolved sizes.
function fireParams(s: Required<FireSizes>): Record<keyof typeof FIRE_UNIFORMS, number> {
  return { cols: s.seq, rowStart: s.rowStart, initL: s.initL, eps: s.eps };
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
> = {
  // Every entry is computed, also those above the diagonal that causal attention masks later (as
  // upstream does). One dispatch; sizes travel as uniforms.
  gpu(ctx, args) {
    const s = resolveFireSizes(args);
    const n = s.rows * s.seq;
    FORWARD.run(ctx, {
      key: {},
      bind: { c: args.c, lm: args.lMult, pos: args.positions, out: args.out },
      params: fireParams(s),
      count: n,
    });
  },
  cpu(a) {
    const s = resolveFireSizes(a);
    const c = a.c[0], threshold = Math.abs(a.lMult[0] * s.initL);
    for (let r = 0; r < s.rows; r++) {
      const pi = a.positions[s.rowStart + r];
      const den = Math.log(Math.abs(c * Math.max(pi, threshold)) + 1) + s.eps;
      for (let j = 0; j < s.seq; j++) {
        a.out[r * s.seq + j] = Math.log(Math.abs(c * (pi - a.positions[j])) + 1) / den;
      }
    }
  },
};

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

/** Arguments of `fireBackwardKernel`: the forward's but `out`, and the gradients. */
export interface FireBackwardArgs<B> extends Omit<FireArgs<B>, "out"> {
  /** Gradient of the distances, (R, S). */
  dOut: B;
  /** Gradient of c, (1) (overwritten). */
  dc: B;
  /** Gradient of `L_multiplier`, (1) (overwritten). */
  dLMult: B;
}

/**
 * Gradients of FIRE's two scalars, `dc` and `dLMult` (1 each), from the gradient of the distances
 * (R, S), with PyTorch's conventions for |x| and max.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { fireBackwardKernel } from "./fire.ts";
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
> = {
  // A workgroup per row reduces that row (the normaliser depends on the row only, so each row needs
  // two sums), then one workgroup adds the rows in a fixed order. Derivatives follow PyTorch
  // autograd: d|x|/dx = sign(x) (0 at 0); max(p_i, T) sends the gradient to the larger side, half
  // to each on a tie.
  gpu(ctx, args) {
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
  },
  // The same derivative conventions.
  cpu(a) {
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
  },
};
