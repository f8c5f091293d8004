/**
 * The one place an op chooses between a kernel's GPU launcher and its CPU reference: the op
 * passes its arguments once, with tensors where the kernel takes buffers, and `run` hands the
 * launcher each tensor's buffer or the reference each tensor's array.
 * @module
 */
import type { Buf } from "../../kernels/context.ts";
import type { Kernel } from "../../kernels/program.ts";
import { Tensor } from "../tensor.ts";

/**
 * A kernel's GPU arguments with tensors in place of buffers (and of arrays of buffers); an
 * optional buffer may also be given as null (left out).
 */
export type OnTensors<G> = {
  [K in keyof G]: NonNullable<G[K]> extends Buf ? Tensor | (undefined extends G[K] ? null : never)
    : NonNullable<G[K]> extends Buf[] ? Tensor[]
    : G[K];
};

/**
 * Runs a kernel on the backend of the first tensor among the arguments (all must share it).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { run } from "./_run.ts";
 * import { fillKernel } from "../../kernels/fill.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const t = Tensor.empty([3], "f32", CPU);
 * run(fillKernel, { out: t, n: 3, value: 2 });
 * assert(t.data[2] === 2);
 * ```
 * @param k the kernel (launcher and reference)
 * @param args the launcher's fields, tensors for buffers
 * @throws Error when no argument is a tensor
 */
export function run<G, C>(k: Kernel<G, C>, args: OnTensors<G>): void {
  let be: Tensor["backend"] | null = null;
  for (const key in args) {
    const v: unknown = args[key];
    const t = Array.isArray(v) ? v[0] : v;
    if (t instanceof Tensor) {
      be = t.backend;
      break;
    }
  }
  if (!be) throw new Error("Cannot run a kernel without a tensor argument");
  const cpu = be.kind === "cpu";
  const side = (v: unknown) => v instanceof Tensor ? (cpu ? v.data : v.buffer) : v ?? undefined;
  const out: Record<string, unknown> = {};
  for (const key in args) {
    const v: unknown = args[key];
    out[key] = Array.isArray(v) && v[0] instanceof Tensor ? v.map(side) : side(v);
  }
  if (be.kind === "cpu") k.cpu(out as C);
  else k.gpu(be, out as G);
}
