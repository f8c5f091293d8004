/**
 * Tensor-level elementwise arithmetic: add, sub, mul, div with trailing-dimension broadcast,
 * scale and axpby, and the in-place `addInto` that autograd uses to accumulate gradients.
 * Each op runs its kernel on the tensors' backend (`run`) and records its gradient,
 * summed over broadcast rows by the deterministic backward kernel.
 * @module
 */
import {
  addInPlaceKernel,
  axpbyKernel,
  binaryBackwardKernel,
  binaryKernel,
  type BinaryOp,
} from "../../kernels/elementwise.ts";
import { run } from "./_run.ts";
import { record } from "../autograd.ts";
import { noGrad, Tensor } from "../tensor.ts";
import { checkTensors, needsGrad, saveForBackward, shapeStr } from "./save.ts";

/** The output shape of a broadcasting binary op, or an error naming both shapes. */
function broadcastShape(op: BinaryOp, a: Tensor, b: Tensor): readonly number[] {
  // The first fits the second: no more axes, and one element or the second's trailing dimensions.
  const fits = ({ shape: s, size }: Tensor, { shape: of }: Tensor) =>
    s.length <= of.length && (size === 1 || s.every((d, k) => d === of[of.length - s.length + k]));
  if (fits(b, a)) return a.shape;
  if (fits(a, b)) return b.shape;
  throw new Error(
    `Cannot ${op} shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)}: ` +
      "one must equal the other's trailing dimensions or be a scalar",
  );
}

function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  checkTensors(op, [a, b]);
  const out = Tensor.empty(broadcastShape(op, a, b), "f32", a.backend);
  const n = out.size, na = a.size, nb = b.size;
  run(binaryKernel, { op, a, b, out, n, na, nb });
  if (!needsGrad(a, b)) return out;
  // add/sub gradients do not read the operands; mul/div keep them alive for backward.
  const keepAB = op === "mul" || op === "div";
  const sa = keepAB ? saveForBackward(a) : null, sb = keepAB ? saveForBackward(b) : null;
  const shapeA = a.shape, shapeB = b.shape, wantA = a.requiresGrad, wantB = b.requiresGrad;
  return record(out, [a, b], (g) => {
    // add/sub pass g straight to a same-size `a`: hand over a view instead of a copy (only one
    // operand may alias g, since leaf gradients are later accumulated in place).
    const aliasA = wantA && !keepAB && na === n;
    const da = wantA && !aliasA ? Tensor.empty(shapeA, "f32", g.backend) : null;
    const db = wantB ? Tensor.empty(shapeB, "f32", g.backend) : null;
    if (da || db) {
      run(binaryBackwardKernel, { op, a: sa ?? g, b: sb ?? g, dy: g, da, db, n, na, nb });
    }
    return [aliasA ? noGrad(() => g.reshape(shapeA)) : da, db];
  }, sa && sb ? [sa, sb] : []);
}

/**
 * Elementwise sum with trailing-dimension broadcast: `b` may have `a`'s shape, a suffix of it,
 * or one element (or the other way round).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { add } from "./elementwise.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const a = Tensor.fromArray([1, 2, 3, 4], [2, 2], { backend: CPU });
 * const b = Tensor.fromArray([10, 20], [2], { backend: CPU });
 * assert((await add(a, b).toArray())[3] === 24);
 * ```
 * @returns `a + b` with the larger shape
 */
export function add(a: Tensor, b: Tensor): Tensor {
  return binary("add", a, b);
}

/**
 * Elementwise difference with trailing-dimension broadcast (see `add`).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { sub } from "./elementwise.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const a = Tensor.fromArray([5, 6], [2], { backend: CPU });
 * assert((await sub(a, Tensor.fromArray([1], [], { backend: CPU })).toArray())[1] === 5);
 * ```
 */
export function sub(a: Tensor, b: Tensor): Tensor {
  return binary("sub", a, b);
}

/**
 * Elementwise product with trailing-dimension broadcast (see `add`).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { mul } from "./elementwise.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const a = Tensor.fromArray([1, 2, 3, 4], [2, 2], { backend: CPU });
 * assert((await mul(a, Tensor.fromArray([2, 3], [2], { backend: CPU })).toArray())[3] === 12);
 * ```
 */
export function mul(a: Tensor, b: Tensor): Tensor {
  return binary("mul", a, b);
}

/**
 * Elementwise quotient with trailing-dimension broadcast (see `add`).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { div } from "./elementwise.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const a = Tensor.fromArray([1, 2], [2], { backend: CPU });
 * assert((await div(a, Tensor.fromArray([4], [1], { backend: CPU })).toArray())[1] === 0.5);
 * ```
 */
export function div(a: Tensor, b: Tensor): Tensor {
  return binary("div", a, b);
}

function axpbyRaw(a: Tensor, b: Tensor | null, alpha: number, beta: number): Tensor {
  const out = Tensor.empty(a.shape, "f32", a.backend);
  const n = a.size;
  run(axpbyKernel, { a, b, out, n, alpha, beta });
  return out;
}

/**
 * Multiplies every element by a number.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { scale } from "./elementwise.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * assert((await scale(Tensor.fromArray([3], [1], { backend: CPU }), -2).toArray())[0] === -6);
 * ```
 * @param alpha factor (a uniform on the GPU: no recompilation when it changes)
 */
export function scale(a: Tensor, alpha: number): Tensor {
  checkTensors("scale", [a]);
  const out = axpbyRaw(a, null, alpha, 0);
  return record(out, [a], (g) => [axpbyRaw(g, null, alpha, 0)]);
}

/**
 * Scale-and-add of two same-shape tensors: `alpha*a + beta*b`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { axpby } from "./elementwise.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const a = Tensor.fromArray([1], [1], { backend: CPU }), b = Tensor.fromArray([2], [1], { backend: CPU });
 * assert((await axpby(a, b, 3, 0.5).toArray())[0] === 4);
 * ```
 */
export function axpby(a: Tensor, b: Tensor, alpha: number, beta: number): Tensor {
  checkTensors("axpby", [a, b]);
  if (shapeStr(a.shape) !== shapeStr(b.shape)) {
    throw new Error(
      `Cannot axpby shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)}: shapes differ`,
    );
  }
  const out = axpbyRaw(a, b, alpha, beta);
  const wantA = a.requiresGrad, wantB = b.requiresGrad;
  return record(out, [a, b], (g) => [
    wantA ? axpbyRaw(g, null, alpha, 0) : null,
    wantB ? axpbyRaw(g, null, beta, 0) : null,
  ]);
}

/**
 * Adds `src` into `dst` in place, recording nothing (gradient accumulation: `backward` hands it to
 * the graph walk). Shapes may differ if the element counts agree.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { addInto } from "./elementwise.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const dst = Tensor.fromArray([1, 2], [2], { backend: CPU });
 * addInto(dst, Tensor.fromArray([10, 10], [2], { backend: CPU }));
 * assert(dst.data[1] === 12);
 * ```
 * @param dst accumulator (modified)
 */
export function addInto(dst: Tensor, src: Tensor): void {
  checkTensors("add", [dst, src]);
  if (dst.size !== src.size) {
    throw new Error(
      `Cannot add ${shapeStr(src.shape)} into ${shapeStr(dst.shape)}: sizes differ`,
    );
  }
  run(addInPlaceKernel, { dst, src, n: dst.size });
}
