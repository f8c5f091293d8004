/**
 * Basic tensor constructors and copies (zeros, full, clone, onesLike) on either backend.
 * This file shows the pattern every op wrapper follows: check shapes, allocate the output,
 * run the kernel (`run` picks its launcher or its CPU reference), record the gradient rule.
 * @module
 */
import { copyKernel, fillKernel } from "../../kernels/fill.ts";
import { type Backend, defaultBackend, type DType } from "../backend.ts";
import { Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import { run } from "./_run.ts";

/**
 * Makes a tensor filled with one value.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { full } from "./basic.ts";
 * import { CPU } from "../backend.ts";
 * const t = full([2, 2], 3, { backend: CPU });
 * assert((await t.toArray())[3] === 3);
 * ```
 */
export function full(
  shape: readonly number[],
  value: number,
  options: { dtype?: DType; backend?: Backend } = {},
): Tensor {
  const dtype = options.dtype ?? "f32";
  const backend = options.backend ?? defaultBackend();
  const out = Tensor.empty(shape, dtype, backend);
  run(fillKernel, { out, n: out.size, value, dtype });
  return out;
}

/**
 * Makes a tensor of zeros.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { zeros } from "./basic.ts";
 * import { CPU } from "../backend.ts";
 * assert((await zeros([3], { backend: CPU }).toArray())[2] === 0);
 * ```
 */
export function zeros(
  shape: readonly number[],
  options: { dtype?: DType; backend?: Backend } = {},
): Tensor {
  return full(shape, 0, options);
}

/**
 * Makes a tensor of ones with the shape, dtype and backend of another.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { onesLike } from "./basic.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const t = onesLike(Tensor.fromArray([5, 6], [2], { backend: CPU }));
 * assert((await t.toArray())[1] === 1);
 * ```
 * @returns ones shaped like `t`
 */
export function onesLike(t: Tensor): Tensor {
  return full(t.shape, 1, { dtype: t.dtype, backend: t.backend });
}

/**
 * Copies a tensor into new storage (gradient flows straight through).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { clone } from "./basic.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const a = Tensor.fromArray([1, 2], [2], { backend: CPU });
 * assert((await clone(a).toArray())[1] === 2);
 * ```
 */
export function clone(a: Tensor): Tensor {
  const out = Tensor.empty(a.shape, a.dtype, a.backend);
  run(copyKernel, { a, out, n: a.size });
  return record(out, [a], (g) => [clone(g)]);
}
