/**
 * Tensor-level layout copies on either backend: permute / transpose (splitting and merging
 * attention heads), slice along one axis and concat along one axis, with their gradients
 * (permute back, pad the slice's gradient with zeros, slice the concat's gradient). They copy any
 * dtype bit-exactly (ids as well as values).
 * @module
 */
import {
  concatKernel,
  permuteKernel,
  sliceBackwardKernel,
  sliceKernel,
} from "../../kernels/layout.ts";
import { run } from "./_run.ts";
import { record } from "../autograd.ts";
import { numel } from "../backend.ts";
import { Tensor } from "../tensor.ts";
import { checkTensors, needsGrad, shapeStr } from "./save.ts";

function axisOf(op: string, shape: readonly number[], axis: number): number {
  const a = axis < 0 ? axis + shape.length : axis;
  if (!Number.isInteger(a) || a < 0 || a >= shape.length) {
    throw new Error(
      `Cannot ${op} shape ${shapeStr(shape)} along axis ${axis}: it has ${shape.length} axes`,
    );
  }
  return a;
}

/**
 * Copies a tensor into a permuted layout: out.shape[k] = x.shape[perm[k]].
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { permute } from "./layout.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const x = Tensor.fromArray([1, 2, 3, 4, 5, 6], [1, 2, 3], { backend: CPU });
 * const y = permute(x, [2, 0, 1]);
 * assert(y.shape.join() === "3,1,2" && (await y.toArray()).join() === "1,4,2,5,3,6");
 * ```
 * @param perm output axis k is input axis perm[k]
 * @throws Error when perm is not a permutation of x's axes
 */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const r = x.shape.length;
  if (perm.length !== r || new Set(perm).size !== r || perm.some((p) => !(p >= 0 && p < r))) {
    throw new Error(`Cannot permute shape ${shapeStr(x.shape)} by [${perm.join(", ")}]`);
  }
  const out = Tensor.empty(perm.map((a) => x.shape[a]), x.dtype, x.backend);
  run(permuteKernel, { a: x, out, shape: x.shape, perm });
  if (!needsGrad(x)) return out;
  const inv = perm.map((_, k) => perm.indexOf(k));
  return record(out, [x], (g) => [permute(g, inv)]);
}

/**
 * Swaps two axes (a copy): `permute` with d0 and d1 exchanged; negative axes count from the end.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { transpose } from "./layout.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const x = Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 3], { backend: CPU });
 * const y = transpose(x, 0, -1);
 * assert(y.shape.join() === "3,2" && (await y.toArray()).join() === "1,4,2,5,3,6");
 * ```
 * @throws Error when an axis is out of range
 */
export function transpose(x: Tensor, d0: number, d1: number): Tensor {
  const a = axisOf("transpose", x.shape, d0), b = axisOf("transpose", x.shape, d1);
  const perm = x.shape.map((_, i) => (i === a ? b : i === b ? a : i));
  return permute(x, perm);
}

/**
 * Copies `length` entries of one axis starting at `start`.
 *
 * The gradient is the output's gradient placed in the range of a zero tensor shaped like x.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { slice } from "./layout.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const x = Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 3], { backend: CPU });
 * const y = slice(x, -1, 1, 2);
 * assert(y.shape.join() === "2,2" && (await y.toArray()).join() === "2,3,5,6");
 * ```
 * @param axis the sliced axis (negative counts from the end)
 * @returns the slice, shaped like x with `length` on `axis`
 * @throws Error when the axis or the range is out of bounds
 */
export function slice(x: Tensor, axis: number, start: number, length: number): Tensor {
  const ax = axisOf("slice", x.shape, axis), dim = x.shape[ax];
  if (
    !Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 ||
    start + length > dim
  ) {
    throw new Error(
      `Cannot slice [${start}, ${start + length}) from axis ${axis} of shape ${shapeStr(x.shape)}`,
    );
  }
  const outer = numel(x.shape.slice(0, ax)), inner = numel(x.shape.slice(ax + 1));
  const sizes = { outer, dim, inner, start, length };
  const out = Tensor.empty(x.shape.map((d, i) => (i === ax ? length : d)), x.dtype, x.backend);
  const be = x.backend;
  run(sliceKernel, { ...sizes, a: x, out });
  if (!needsGrad(x)) return out;
  return record(out, [x], (g) => {
    const dA = Tensor.empty(x.shape, "f32", be);
    run(sliceBackwardKernel, { ...sizes, a: g, out: dA });
    return [dA];
  });
}

/**
 * Joins tensors along one axis; all other axes must agree.
 *
 * The gradient of each input is its slice of the output's gradient.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { concat } from "./layout.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const a = Tensor.fromArray([1, 2], [2, 1], { backend: CPU });
 * const b = Tensor.fromArray([3, 4, 5, 6], [2, 2], { backend: CPU });
 * const y = concat([a, b], 1);
 * assert(y.shape.join() === "2,3" && (await y.toArray()).join() === "1,3,4,2,5,6");
 * ```
 * @param xs the tensors (at least one, same dtype and backend)
 * @param axis the joined axis (negative counts from the end)
 * @throws Error when the shapes differ off the axis, or dtypes or backends differ
 */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new Error("Cannot concat an empty list of tensors");
  const first = xs[0], ax = axisOf("concat", first.shape, axis);
  checkTensors("concat", [...xs], null);
  for (const t of xs) {
    const same = t.shape.length === first.shape.length &&
      t.shape.every((d, i) => i === ax || d === first.shape[i]);
    if (!same || t.dtype !== first.dtype) {
      throw new Error(
        `Cannot concat shapes ${shapeStr(first.shape)} (${first.dtype}) and ` +
          `${shapeStr(t.shape)} (${t.dtype}) along axis ${axis}`,
      );
    }
  }
  const dims = xs.map((t) => t.shape[ax]), total = dims.reduce((p, d) => p + d, 0);
  const outer = numel(first.shape.slice(0, ax)), inner = numel(first.shape.slice(ax + 1));
  const out = Tensor.empty(
    first.shape.map((d, i) => (i === ax ? total : d)),
    first.dtype,
    first.backend,
  );
  run(concatKernel, { parts: [...xs], whole: out, outer, dims, inner });
  if (!needsGrad(...xs)) return out;
  return record(out, [...xs], (g) => {
    let off = 0;
    return xs.map((t, i) => {
      off += dims[i];
      return t.requiresGrad ? slice(g, ax, off - dims[i], dims[i]) : null;
    });
  });
}
