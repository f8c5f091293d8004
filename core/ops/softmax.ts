/**
 * Tensor-level softmax over the last axis on either backend; its gradient reads the saved
 * output: dx = y * (dy - sum(dy * y)).
 * @module
 */
import { softmaxBackwardKernel, softmaxKernel } from "../../kernels/softmax.ts";
import { record } from "../autograd.ts";
import { Tensor } from "../tensor.ts";
import { checkTensors, needsGrad, saveForBackward } from "./save.ts";
import { run } from "./_run.ts";

/**
 * Softmax over the last axis (numerically stable: the row maximum is subtracted).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { softmax } from "./softmax.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const y = await softmax(Tensor.fromArray([0, Math.log(3)], [1, 2], { backend: CPU })).toArray();
 * assert(Math.abs(y[1] - 0.75) < 1e-7);
 * ```
 * @param x input `(..., n)`
 * @returns probabilities of the same shape, each row summing to 1
 */
export function softmax(x: Tensor): Tensor {
  checkTensors("softmax", [x]);
  if (x.shape.length === 0) {
    throw new Error("Cannot softmax a tensor of shape []: it has no last axis");
  }
  const n = x.shape[x.shape.length - 1];
  const rows = n === 0 ? 0 : x.size / n;
  const y = Tensor.empty(x.shape, "f32", x.backend);
  run(softmaxKernel, { x, y, rows, n });
  if (!needsGrad(x)) return y;
  const sy = saveForBackward(y);
  return record(y, [x], (g) => {
    const dx = Tensor.empty(g.shape, "f32", g.backend);
    run(softmaxBackwardKernel, { y: sy, dy: g, dx, rows, n });
    return [dx];
  }, [sy]);
}
