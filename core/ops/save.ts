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
 * Throws unless every tensor lives on the first one's backend and has one of the `dtypes`.
 *
 * @example
 * ```ts
 * import { throws } from "node:assert/strict";
 * import { checkTensors } from "./save.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const ids = Tensor.fromArray([1], [1], { dtype: "i32", backend: CPU });
 * checkTensors("embed", [ids], ["i32", "u32"]);
 * throws(() => checkTensors("exp", [ids]), /Cannot exp a tensor of dtype i32: expected f32/);
 * ```
 * @param op the op's verb in the message (`Cannot <op> ...`)
 * @param dtypes accepted dtypes (default f32; null: any)
 */
export function checkTensors(op: string, ts: Tensor[], dtypes: DType[] | null = ["f32"]): void {
  const other = ts.find((t) => t.backend !== ts[0].backend);
  if (other) {
    throw new Error(
      `Cannot ${op} tensors on different backends (${
        ts[0].backend.kind
      } and ${other.backend.kind})`,
    );
  }
  const bad = dtypes && ts.find((t) => !dtypes.includes(t.dtype));
  if (bad) {
    throw new Error(`Cannot ${op} a tensor of dtype ${bad.dtype}: expected ${dtypes.join(" or ")}`);
  }
}
