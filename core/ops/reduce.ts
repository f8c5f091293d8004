/**
 * Tensor-level reductions over the last axis (sum, mean, max, argmax) and over a whole tensor
 * (sumAll, meanAll, e.g. a loss), on either backend. Gradients spread the output gradient back
 * over the reduced axis (to the first argmax for max).
 * @module
 */
import { reduceBackwardKernel, reduceKernel, type ReduceOp } from "../../kernels/reduce.ts";
import { record } from "../autograd.ts";
import { keep, Tensor } from "../tensor.ts";
import { checkTensors, needsGrad, shapeStr } from "./save.ts";
import { run } from "./_run.ts";

/** Options of the last-axis reductions. */
export interface ReduceOptions {
  /** Keep the reduced axis with length 1 (default false: drop it). */
  keepDim?: boolean;
}

/** Rows, row length and output shape of a last-axis reduction (or a whole-tensor one). */
function layout(
  op: string,
  x: Tensor,
  all: boolean,
  keepDim = false,
): { rows: number; n: number; shape: number[] } {
  if (all) {
    if (x.size === 0) throw new Error(`Cannot ${op} an empty tensor`);
    return { rows: 1, n: x.size, shape: [] };
  }
  if (x.shape.length === 0) {
    throw new Error(`Cannot ${op} a tensor of shape []: it has no last axis`);
  }
  const n = x.shape[x.shape.length - 1];
  if (n === 0) throw new Error(`Cannot ${op} shape ${shapeStr(x.shape)}: the last axis is empty`);
  const lead = x.shape.slice(0, -1);
  return { rows: x.size / n, n, shape: keepDim ? [...lead, 1] : lead };
}

function reduce(op: ReduceOp, x: Tensor, all: boolean, keepDim?: boolean): Tensor {
  checkTensors(op, [x]);
  const { rows, n, shape } = layout(op, x, all, keepDim);
  const out = Tensor.empty(shape, "f32", x.backend);
  const grad = needsGrad(x);
  const idx = op === "max" && grad ? keep(Tensor.empty([rows], "i32", x.backend)) : null;
  run(reduceKernel, { op, x, out, idx, rows, n });
  if (!grad) return out;
  const xShape = x.shape;
  return record(out, [x], (g) => {
    const dx = Tensor.empty(xShape, "f32", g.backend);
    run(reduceBackwardKernel, { op, dy: g, idx, dx, rows, n });
    return [dx];
  }, idx ? [idx] : []);
}

/**
 * Sums over the last axis.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { sum } from "./reduce.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const s = sum(Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 3], { backend: CPU }));
 * assert(s.shape.length === 1 && (await s.toArray())[1] === 15);
 * ```
 * @param x input `(..., n)`
 * @returns row sums `(...)`
 */
export function sum(x: Tensor, options: ReduceOptions = {}): Tensor {
  return reduce("sum", x, false, options.keepDim);
}

/**
 * Averages over the last axis.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { mean } from "./reduce.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const m = mean(Tensor.fromArray([1, 3, 5, 7], [2, 2], { backend: CPU }), { keepDim: true });
 * assert(m.shape[1] === 1 && (await m.toArray())[1] === 6);
 * ```
 * @param x input `(..., n)`
 * @returns row means `(...)`
 */
export function mean(x: Tensor, options: ReduceOptions = {}): Tensor {
  return reduce("mean", x, false, options.keepDim);
}

/**
 * Maximum over the last axis (the gradient goes to the first maximal element).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { max } from "./reduce.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * assert((await max(Tensor.fromArray([1, 9, 3], [3], { backend: CPU })).toArray())[0] === 9);
 * ```
 * @param x input `(..., n)`
 * @returns row maxima `(...)`
 */
export function max(x: Tensor, options: ReduceOptions = {}): Tensor {
  return reduce("max", x, false, options.keepDim);
}

/**
 * Index of the first maximum over the last axis (no gradient), e.g. greedy decoding.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { argmax } from "./reduce.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const i = argmax(Tensor.fromArray([1, 9, 9, 4, 0, 2], [2, 3], { backend: CPU }));
 * assert(i.dtype === "i32" && (await i.toArray())[0] === 1);
 * ```
 * @param x input `(..., n)`
 * @returns i32 indices `(...)`
 */
export function argmax(x: Tensor, options: ReduceOptions = {}): Tensor {
  checkTensors("argmax", [x]);
  const { rows, n, shape } = layout("argmax", x, false, options.keepDim);
  const idx = Tensor.empty(shape, "i32", x.backend);
  run(reduceKernel, { op: "max", x, idx, rows, n });
  return idx;
}

/**
 * Sums every element into a scalar (shape `[]`).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { sumAll } from "./reduce.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const s = sumAll(Tensor.fromArray([1, 2, 3, 4], [2, 2], { backend: CPU }));
 * assert(s.shape.length === 0 && (await s.toArray())[0] === 10);
 * ```
 */
export function sumAll(x: Tensor): Tensor {
  return reduce("sum", x, true);
}

/**
 * Averages every element into a scalar (shape `[]`).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { meanAll } from "./reduce.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * assert((await meanAll(Tensor.fromArray([1, 2, 3, 6], [4], { backend: CPU })).toArray())[0] === 3);
 * ```
 */
export function meanAll(x: Tensor): Tensor {
  return reduce("mean", x, true);
}
