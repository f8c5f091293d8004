/**
 * Softmax over the last axis and its backward. The forward keeps a running maximum and a
 * rescaled running sum in one pass over the row (then one pass to write), so a row is read
 * twice; backward reads `y` and `dy` twice. Short rows: one invocation per row; long rows: one
 * workgroup per row with a fixed-order tree merge (deterministic).
 * Reference: y = exp(x - max x) / sum exp(x - max x); dx = y * (dy - sum(dy * y)).
 * Reference: online softmax normaliser, Milakov & Gimelshein 2018 (arXiv:1805.02867).
 * @module
 */
import type { Buf, FloatArray, KernelContext } from "./context.ts";
import { NEG_BIG, rowProgram } from "./_map_rows.ts";
import type { Kernel } from "./program.ts";

/** Arguments of `softmaxForward`: `B` is a buffer for the launcher, an array for the reference. */
export interface SoftmaxArgs<B> {
  /** Input, (rows, n). */
  x: B;
  /** Result, (rows, n). */
  y: B;
  rows: number;
  /** Row length. */
  n: number;
}

/** Arguments of `softmaxBackward`: the forward's result `y` and sizes, and the gradients. */
export interface SoftmaxBackwardArgs<B> extends Omit<SoftmaxArgs<B>, "x"> {
  /** Gradient of the output, (rows, n). */
  dy: B;
  /** Gradient of the input, (rows, n). */
  dx: B;
}

/**
 * WGSL state for an online softmax normaliser (`m` running max, `s` sum of exp(x - m)), shared
 * with the cross-entropy kernel.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { onlineSoftmaxState } from "./softmax.ts";
 * assert(onlineSoftmaxState("x[base + i]").fields === "m: f32, s: f32");
 * ```
 * @param load WGSL expression of element `i` of the row
 */
export function onlineSoftmaxState(
  load: string,
): { fields: string; init: string; accum: string; combine: string } {
  return {
    fields: "m: f32, s: f32",
    init: `S(${NEG_BIG}, 0.0)`,
    accum: `let v = ${load}; let mn = max(st.m, v);
    st.s = st.s * exp(st.m - mn) + exp(v - mn); st.m = mn;`,
    combine: `let mn = max(a.m, b.m);
  return S(mn, a.s * exp(a.m - mn) + b.s * exp(b.m - mn));`,
  };
}

const FORWARD = rowProgram({
  label: "softmax",
  inputs: { x: "f32" },
  outputs: { y: "f32" },
  state: () => onlineSoftmaxState("x[base + i]"),
  prelude: () => "let inv = 1.0 / st.s;",
  each: () => "y[base + i] = exp(x[base + i] - st.m) * inv;",
});

const BACKWARD = rowProgram({
  label: "softmax_backward",
  inputs: { y: "f32", dy: "f32" },
  outputs: { dx: "f32" },
  state: () => ({
    fields: "d: f32",
    init: "S(0.0)",
    accum: "st.d += dy[base + i] * y[base + i];",
    combine: "return S(a.d + b.d);",
  }),
  each: () => "dx[base + i] = y[base + i] * (dy[base + i] - st.d);",
});

function softmaxForward(ctx: KernelContext, args: SoftmaxArgs<Buf>): void {
  const { rows, n } = args;
  if (rows === 0 || n === 0) return;
  FORWARD.run(ctx, { key: {}, bind: { x: args.x, y: args.y }, rows, n });
}

function softmaxBackward(ctx: KernelContext, args: SoftmaxBackwardArgs<Buf>): void {
  const { rows, n } = args;
  if (rows === 0 || n === 0) return;
  BACKWARD.run(ctx, { key: {}, bind: { y: args.y, dy: args.dy, dx: args.dx }, rows, n });
}

/** CPU reference of `softmaxForward`. */
function softmaxForwardCpu(args: SoftmaxArgs<FloatArray>): void {
  const { x, y, rows, n } = args;
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    let m = -Infinity, s = 0;
    for (let i = 0; i < n; i++) m = Math.max(m, x[base + i]);
    for (let i = 0; i < n; i++) s += Math.exp(x[base + i] - m);
    for (let i = 0; i < n; i++) y[base + i] = Math.exp(x[base + i] - m) / s;
  }
}

/** CPU reference of `softmaxBackward`. */
function softmaxBackwardCpu(args: SoftmaxBackwardArgs<FloatArray>): void {
  const { y, dy, dx, rows, n } = args;
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    let d = 0;
    for (let i = 0; i < n; i++) d += dy[base + i] * y[base + i];
    for (let i = 0; i < n; i++) dx[base + i] = y[base + i] * (dy[base + i] - d);
  }
}

/**
 * Softmax of each row of `x` (rows, n) into `y`: `y = exp(x - max x) / sum exp(x - max x)`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { softmaxKernel } from "./softmax.ts";
 * const y = new Float64Array(2);
 * softmaxKernel.cpu({ x: new Float64Array([0, Math.log(3)]), y, rows: 1, n: 2 });
 * assert(Math.abs(y[1] - 0.75) < 1e-15);
 * ```
 */
export const softmaxKernel: Kernel<SoftmaxArgs<Buf>, SoftmaxArgs<FloatArray>> = {
  gpu: softmaxForward,
  cpu: softmaxForwardCpu,
};

/**
 * Softmax backward from the forward output: `dx = y * (dy - sum(dy * y))` per row, all (rows, n).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { softmaxBackwardKernel } from "./softmax.ts";
 * const dx = new Float64Array(2);
 * const y = new Float64Array([0.25, 0.75]), dy = new Float64Array([1, 0]);
 * softmaxBackwardKernel.cpu({ y, dy, dx, rows: 1, n: 2 });
 * assert(dx[0] === 0.1875); // 0.25 * (1 - 0.25)
 * ```
 */
export const softmaxBackwardKernel: Kernel<
  SoftmaxBackwardArgs<Buf>,
  SoftmaxBackwardArgs<FloatArray>
> = { gpu: softmaxBackward, cpu: softmaxBackwardCpu };
