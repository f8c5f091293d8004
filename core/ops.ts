/**
 * Every tensor op in one import, and the wiring autograd needs (gradient accumulation uses
 * `add`/`addInto`, installed here to avoid an import cycle). Import ops from here.
 * @module
 */
import { backward as backwardFrom, setAccumulate } from "./autograd.ts";
import { onesLike } from "./ops/basic.ts";
import type { Tensor } from "./tensor.ts";
import { add, addInto } from "./ops/elementwise.ts";

setAccumulate(add, addInto);

export * from "./ops/basic.ts";
export * from "./ops/elementwise.ts";
export * from "./ops/unary.ts";
export * from "./ops/reduce.ts";
export * from "./ops/softmax.ts";
export * from "./ops/loss.ts";
export * from "./ops/layernorm.ts";
export * from "./ops/embedding.ts";
export * from "./ops/glu.ts";
export * from "./ops/layout.ts";
export * from "./ops/random.ts";
export * from "./ops/matmul.ts";
export * from "./ops/attention.ts";
export * from "./ops/fire.ts";
export { isGradEnabled, noGrad, record } from "./autograd.ts";

/**
 * Back-propagates from a loss (seeded with ones), accumulating into parameters' `grad`.
 *
 * @example
 * ```ts
 * import { backward, mul, sumAll } from "./ops.ts";
 * import { CPU, Tensor } from "./tensor.ts";
 * import { deepStrictEqual } from "node:assert/strict";
 * const x = Tensor.fromArray([1, 2, 3], [3], { backend: CPU });
 * x.requiresGrad = true;
 * backward(sumAll(mul(x, x)));
 * deepStrictEqual([...await x.grad!.toArray()], [2, 4, 6]);
 * ```
 * @param loss the tensor to differentiate (usually a scalar)
 */
export function backward(loss: Tensor): void {
  backwardFrom(loss, null, onesLike);
}
