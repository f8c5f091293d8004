/**
 * Tensor-level GLU with a GELU gate, the feed-forward nonlinearity of the model, on either
 * backend: the last axis (2H) splits into a value half x and a gate half g, out = GELU(g) * x.
 * Reference: GELU(x) = x/2 (1 + erf(x/sqrt 2)); GLU variants (Shazeer 2020).
 * @module
 */
import { gluBackwardKernel, gluKernel } from "../../kernels/glu.ts";
import { record } from "../autograd.ts";
import { Tensor } from "../tensor.ts";
import { checkTensors, needsGrad, saveForBackward, shapeStr } from "./save.ts";
import { run } from "./_run.ts";

/**
 * GLU with an exact-erf GELU gate: out[..., j] = GELU(x[..., H + j]) * x[..., j].
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { gluGelu } from "./glu.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const x = Tensor.fromArray([3, 5, 0, 1], [1, 4], { backend: CPU }); // x = [3, 5], g = [0, 1]
 * const y = await gluGelu(x).toArray();
 * assert(y[0] === 0 && Math.abs(y[1] - 5 * 0.8413447) < 1e-6); // GELU(1) = Phi(1)
 * ```
 * @param x input, (..., 2H): value half then gate half
 * @returns (..., H)
 * @throws Error when x is not f32 or its last axis is odd
 */
export function gluGelu(x: Tensor): Tensor {
  const last = x.shape[x.shape.length - 1];
  checkTensors("gluGelu", [x]);
  if (x.shape.length === 0 || last % 2 !== 0) {
    throw new Error(`Cannot gluGelu shape ${shapeStr(x.shape)}: the last axis must be even`);
  }
  const half = last / 2, rows = half ? x.size / last : 0, be = x.backend;
  const out = Tensor.empty([...x.shape.slice(0, -1), half], "f32", be);
  run(gluKernel, { a: x, out, rows, half });
  if (!needsGrad(x)) return out;
  const saved = saveForBackward(x);
  return record(out, [x], (g) => {
    const dA = Tensor.empty(x.shape, "f32", be);
    run(gluBackwardKernel, { a: saved, dOut: g, dA, rows, half });
    return [dA];
  }, [saved]);
}
