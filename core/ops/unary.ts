/**
 * Tensor-level unary ops (exp, log, neg, relu, tanh, exact-erf GELU) on either backend, each
 * recording `dx = dy * f'(x)` through the unary backward kernel.
 * Reference: GELU(x) = x/2 (1 + erf(x/sqrt 2)) (Hendrycks & Gimpel 2016), not the tanh form.
 * @module
 */
import { unaryBackwardKernel, unaryKernel, type UnaryOp } from "../../kernels/unary.ts";
import { record } from "../autograd.ts";
import { Tensor } from "../tensor.ts";
import { checkTensors, needsGrad, saveForBackward } from "./save.ts";
import { run } from "./_run.ts";

function unary(op: UnaryOp, x: Tensor): Tensor {
  checkTensors(op, [x]);
  const out = Tensor.empty(x.shape, "f32", x.backend);
  const n = x.size;
  run(unaryKernel, { op, x, out, n });
  if (!needsGrad(x)) return out;
  const sx = op === "neg" ? null : saveForBackward(x);
  return record(out, [x], (g) => {
    const dx = Tensor.empty(g.shape, "f32", g.backend);
    const xs = sx ?? g;
    run(unaryBackwardKernel, { op, x: xs, dy: g, dx, n });
    return [dx];
  }, sx ? [sx] : []);
}

/**
 * Elementwise natural exponential.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { exp } from "./unary.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * assert((await exp(Tensor.fromArray([0], [1], { backend: CPU })).toArray())[0] === 1);
 * ```
 */
export function exp(x: Tensor): Tensor {
  return unary("exp", x);
}

/**
 * Elementwise natural logarithm.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { log } from "./unary.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * assert((await log(Tensor.fromArray([1], [1], { backend: CPU })).toArray())[0] === 0);
 * ```
 * @param x input (positive)
 */
export function log(x: Tensor): Tensor {
  return unary("log", x);
}

/**
 * Elementwise negation.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { neg } from "./unary.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * assert((await neg(Tensor.fromArray([2], [1], { backend: CPU })).toArray())[0] === -2);
 * ```
 */
export function neg(x: Tensor): Tensor {
  return unary("neg", x);
}

/**
 * Elementwise rectifier `max(x, 0)` (gradient 0 at 0).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { relu } from "./unary.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * assert((await relu(Tensor.fromArray([-1, 2], [2], { backend: CPU })).toArray())[0] === 0);
 * ```
 */
export function relu(x: Tensor): Tensor {
  return unary("relu", x);
}

/**
 * Elementwise hyperbolic tangent.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { tanh } from "./unary.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * assert((await tanh(Tensor.fromArray([0], [1], { backend: CPU })).toArray())[0] === 0);
 * ```
 */
export function tanh(x: Tensor): Tensor {
  return unary("tanh", x);
}

/**
 * Elementwise GELU with the exact erf: `x/2 (1 + erf(x/sqrt 2))`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { gelu } from "./unary.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const y = await gelu(Tensor.fromArray([1], [1], { backend: CPU })).toArray();
 * assert(Math.abs(y[0] - 0.8413447) < 1e-6);
 * ```
 */
export function gelu(x: Tensor): Tensor {
  return unary("gelu", x);
}
