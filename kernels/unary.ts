/**
 * Unary elementwise ops (exp, log, neg, relu, tanh, exact-erf GELU) and their backward, as map
 * shaders (vec4 when the size allows). WGSL has neither erf nor a tanh that is safe for large or
 * tiny inputs on every driver, so both are written out here; the CPU reference uses a
 * double-precision erf.
 * Reference: GELU(x) = x/2 (1 + erf(x/sqrt 2)) = x Phi(x); GELU'(x) = Phi(x) + x phi(x).
 * Reference: erfc(z) ~ t exp(-z^2 + P(t)), t = 1/(1 + z/2), a Chebyshev fit with relative error
 * under 1.2e-7 for z >= 0 (Press et al., Numerical Recipes, 2nd ed., section 6.2).
 * @module
 */
import type { Buf, FloatArray } from "./context.ts";
import { type Kernel, mapProgram } from "./program.ts";

/** The unary ops. */
export type UnaryOp = "exp" | "log" | "neg" | "relu" | "tanh" | "gelu";

/**
 * WGSL of the standard normal CDF `phi_cdf(x: T) -> T` (with its helper `erfc_pos`), for any
 * float type aliased as `T` (f32 or vec4f): the exact-erf GELU is x * phi_cdf(x). Shared by the
 * GELU here and the GLU-GELU of `glu.ts`.
 */
export const PHI_WGSL: string = /* wgsl */ `
fn erfc_pos(z: T) -> T {
  let t = 1.0 / (1.0 + 0.5 * z);
  let q = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
    t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(q - z * z);
}
// Phi(x) = erfc(-x / sqrt 2) / 2, computed from erfc(|x| / sqrt 2) so the tail keeps its
// relative accuracy for negative x.
fn phi_cdf(x: T) -> T {
  let h = 0.5 * erfc_pos(abs(x) * 0.7071067811865476);
  return select(h, 1.0 - h, x > T(0.0));
}
`;

const HELPERS = /* wgsl */ `${PHI_WGSL}
fn tanh_safe(x: T) -> T {
  let a = abs(x);
  let e = exp(-2.0 * a);
  let big = (1.0 - e) / (1.0 + e);
  let x2 = x * x;
  let small = a * (1.0 + x2 * (-0.3333333333333333 + x2 * (0.13333333333333333 +
    x2 * -0.05396825396825397)));
  return sign(x) * select(big, small, a < T(0.125));
}
// 1 - tanh(x)^2 = 4 e / (1 + e)^2 with e = exp(-2|x|): no cancellation as tanh(x) -> 1.
fn sech2(x: T) -> T {
  let e = exp(-2.0 * abs(x));
  return 4.0 * e / ((1.0 + e) * (1.0 + e));
}
// log(x) = 2 atanh(u), u = (x - 1) / (x + 1), near 1 (x - 1 is exact there); the builtin is
// only held to an absolute error of 2^-21 in [0.5, 2].
fn log_near1(x: T) -> T {
  let u = (x - 1.0) / (x + 1.0);
  let u2 = u * u;
  let near = 2.0 * u * (1.0 + u2 * (0.3333333333333333 + u2 * (0.2 + u2 * (0.14285714285714285 +
    u2 * 0.1111111111111111))));
  return select(log(x), near, abs(x - 1.0) < T(0.25));
}`;

const FORWARD: Record<UnaryOp, string> = {
  exp: "exp(x)",
  log: "log_near1(x)",
  neg: "-x",
  relu: "max(x, T(0.0))",
  tanh: "tanh_safe(x)",
  gelu: "x * phi_cdf(x)",
};

// dx in terms of x and dy (`g`).
const BACKWARD: Record<UnaryOp, string> = {
  exp: "g * exp(x)",
  log: "g / x",
  neg: "-g",
  relu: "select(T(0.0), g, x > T(0.0))",
  tanh: "g * sech2(x)",
  gelu: "g * (phi_cdf(x) + x * exp(-0.5 * x * x) * 0.3989422804014327)",
};

const UNARY = mapProgram({
  label: (k: { op: UnaryOp }) => `unary_${k.op}`,
  inputs: ["x"],
  outputs: ["out"],
  helpers: (k) => k.op === "gelu" || k.op === "tanh" || k.op === "log" ? HELPERS : "",
  body: (k) => `let x = x_v; out[i] = ${FORWARD[k.op]};`,
});

const UNARY_BACKWARD = mapProgram({
  label: (k: { op: UnaryOp }) => `unary_${k.op}_backward`,
  inputs: ["x", "g"],
  outputs: ["dx"],
  helpers: (k) => k.op === "gelu" || k.op === "tanh" ? HELPERS : "",
  body: (k) => `${k.op === "neg" ? "" : "let x = x_v;"} let g = g_v; dx[i] = ${BACKWARD[k.op]};`,
});

/** Arguments of `unaryKernel`: `B` is a buffer for the launcher, an array for the reference. */
export interface UnaryArgs<B> {
  /** Which op. */
  op: UnaryOp;
  /** Input, (n). */
  x: B;
  /** Result, (n). */
  out: B;
  /** Element count. */
  n: number;
}

/** Arguments of `unaryBackwardKernel`: the forward's op, input `x` (unused by neg) and size. */
export interface UnaryBackwardArgs<B> extends Omit<UnaryArgs<B>, "out"> {
  /** Gradient of the output, (n). */
  dy: B;
  /** Gradient of the input, (n). */
  dx: B;
}

/**
 * The error function in double precision (about 1e-15 absolute): a positive-term series for
 * |x| < 3 and a continued fraction for erfc beyond.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { erf } from "./unary.ts";
 * assert(Math.abs(erf(1) - 0.8427007929497149) < 1e-15);
 * ```
 */
export function erf(x: number): number {
  if (x < 0) return -erf(-x);
  if (x >= 3) return 1 - erfc(x);
  // erf(x) = 2/sqrt(pi) e^{-x^2} sum_k 2^k x^{2k+1} / (1*3*...*(2k+1)), all terms positive.
  let term = x, sum = x;
  for (let k = 1; k < 200 && term > 1e-17 * sum; k++) {
    term *= (2 * x * x) / (2 * k + 1);
    sum += term;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
}

/** The complementary error function `1 - erf(x)` in doubles, relatively accurate in the tail. */
function erfc(x: number): number {
  if (x < 3) return 1 - erf(x);
  // erfc(x) = e^{-x^2}/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))).
  let f = x;
  for (let k = 60; k >= 1; k--) f = x + k / 2 / f;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/** Standard normal CDF, tail-accurate for negative x. */
function normalCdf(x: number): number {
  return x >= 0 ? 1 - 0.5 * erfc(x / Math.SQRT2) : 0.5 * erfc(-x / Math.SQRT2);
}

const FORWARD_CPU: Record<UnaryOp, (x: number) => number> = {
  exp: Math.exp,
  log: Math.log,
  neg: (x) => -x,
  relu: (x) => x > 0 ? x : 0,
  tanh: Math.tanh,
  gelu: (x) => x * normalCdf(x),
};

const BACKWARD_CPU: Record<UnaryOp, (x: number, g: number) => number> = {
  exp: (x, g) => g * Math.exp(x),
  log: (x, g) => g / x,
  neg: (_x, g) => -g,
  relu: (x, g) => x > 0 ? g : 0,
  tanh: (x, g) => g * (1 - Math.tanh(x) ** 2),
  gelu: (x, g) => g * (normalCdf(x) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI)),
};

/**
 * Applies exp, log, neg, relu, tanh or (exact, erf-based) GELU to each of the `n` elements of `x`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { unaryKernel } from "./unary.ts";
 * const out = new Float64Array(1);
 * unaryKernel.cpu({ op: "gelu", x: new Float64Array([1]), out, n: 1 });
 * assert(Math.abs(out[0] - 0.8413447460685429) < 1e-15); // 1 * Phi(1)
 * ```
 */
export const unaryKernel: Kernel<UnaryArgs<Buf>, UnaryArgs<FloatArray>> = {
  gpu(ctx, args) {
    UNARY.run(ctx, { key: { op: args.op }, bind: { x: args.x, out: args.out }, n: args.n });
  },
  // Double precision, exact erf for GELU.
  cpu(args) {
    const { op, x, out, n } = args;
    const f = FORWARD_CPU[op];
    for (let i = 0; i < n; i++) out[i] = f(x[i]);
  },
};

/**
 * Input gradient of a unary op, `dx = dy * f'(x)` elementwise over (n).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { unaryBackwardKernel } from "./unary.ts";
 * const x = new Float64Array([0, 1]), dy = new Float64Array([2, 1]), dx = new Float64Array(2);
 * unaryBackwardKernel.cpu({ op: "tanh", x, dy, dx, n: 2 });
 * assert(dx[0] === 2 && Math.abs(dx[1] - (1 - Math.tanh(1) ** 2)) < 1e-15);
 * ```
 */
export const unaryBackwardKernel: Kernel<UnaryBackwardArgs<Buf>, UnaryBackwardArgs<FloatArray>> = {
  gpu(ctx, args) {
    const { n, op } = args;
    const x = op === "neg" ? undefined : args.x;
    UNARY_BACKWARD.run(ctx, { key: { op }, bind: { x, g: args.dy, dx: args.dx }, n });
  },
  cpu(args) {
    const { op, x, dy, dx, n } = args;
    const f = BACKWARD_CPU[op];
    for (let i = 0; i < n; i++) dx[i] = f(x[i], dy[i]);
  },
};
