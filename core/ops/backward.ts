/**
 * `backward`, the public entry to autograd. It lives in the ops layer because summing gradients
 * takes ops (`add`, `addInto`, `onesLike` for the default seed); it hands them to the graph walk
 * in `core/autograd.ts`, which sits below every op and knows none of them.
 * @module
 */
import { backpropagate } from "../autograd.ts";
import type { Tensor } from "../tensor.ts";
import { onesLike } from "./basic.ts";
import { add, addInto } from "./elementwise.ts";

/**
 * Back-propagates from a loss, accumulating into parameters' `grad`: the loss's gradient is
 * `seed`, or ones when none is given.
 *
 * @example
 * ```ts
 * import { backward } from "./backward.ts";
 * import { mul } from "./elementwise.ts";
 * import { sumAll } from "./reduce.ts";
 * import { Tensor } from "../tensor.ts";
 * import { CPU } from "../backend.ts";
 * import { deepStrictEqual } from "node:assert/strict";
 * const x = Tensor.fromArray([1, 2, 3], [3], { backend: CPU });
 * x.requiresGrad = true;
 * backward(sumAll(mul(x, x)));
 * deepStrictEqual([...await x.grad!.toArray()], [2, 4, 6]);
 * ```
 * @param loss the tensor to differentiate (usually a scalar)
 * @param seed the loss's gradient (default: ones shaped like `loss`; disposed by the walk)
 */
export function backward(loss: Tensor, seed: Tensor | null = null): void {
  backpropagate(loss, seed ?? onesLike(loss), { add, addInto });
}
