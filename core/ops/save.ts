/**
 * Private helpers shared by the op wrappers: argument checks with the project's error wording,
 * and `saveForBackward`, which gives a gradient rule its own reference to a tensor's storage
 * (freed when the node is released) so the rule still works if the caller disposes the input.
 * @module
 */
import type { DType } from "../backend.ts";
import { isGradEnabled, keep, noGrad, type Tensor } from "../tensor.ts";

/**
 * Formats a shape the way error messages print it.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { shapeStr } from "./save.ts";
 * assert(shapeStr([2, 3]) === "[2, 3]");
 * ```
 */
export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/**
 * Whether an op with these inputs records a gradient rule.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { needsGrad } from "./save.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * assert(!needsGrad(Tensor.fromArray([1], [1], { backend: CPU })));
 * ```
 * @returns true when grad mode is on and some input requires a gradient
 */
export function needsGrad(...inputs: Tensor[]): boolean {
  return isGradEnabled() && inputs.some((t) => t.requiresGrad);
}

/**
 * A second reference to a tensor's storage, outside every `scope`, for a gradient rule to keep
 * in its `saved` list (disposing it frees only this reference).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { saveForBackward } from "./save.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const t = Tensor.fromArray([1, 2], [2], { backend: CPU });
 * const s = saveForBackward(t);
 * t.dispose();
 * assert(s.data[1] === 2);
 * s.dispose();
 * ```
 * @returns an alias with the same shape, no gradient bookkeeping
 */
export function saveForBackward(t: Tensor): Tensor {
  return keep(noGrad(() => t.reshape(t.shape)));
}

/**
 * Throws unless every tensor lives on the same backend.
 *
 * @example
 * ```ts
 * import { checkBackends } from "./save.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * checkBackends("add", [Tensor.fromArray([1], [1], { backend: CPU })]);
 * ```
 * @param op op name for the message
 */
export function checkBackends(op: string, ts: Tensor[]): void {
  for (const t of ts) {
    if (t.backend !== ts[0].backend) {
      throw new Error(
        `Cannot ${op} tensors on different backends (${ts[0].backend.kind} and ${t.backend.kind})`,
      );
    }
  }
}

/**
 * Throws unless a tensor has one of the allowed dtypes.
 *
 * @example
 * ```ts
 * import { checkDtype } from "./save.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * checkDtype("exp", Tensor.fromArray([1], [1], { backend: CPU }));
 * ```
 * @param op op name for the message
 * @param allowed accepted dtypes (default f32)
 */
export function checkDtype(op: string, t: Tensor, allowed: DType[] = ["f32"]): void {
  if (!allowed.includes(t.dtype)) {
    throw new Error(`Cannot ${op} a tensor of dtype ${t.dtype}: expected ${allowed.join(" or ")}`);
  }
}
