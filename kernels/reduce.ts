/**
 * Reductions over the last axis (sum, mean, max with its argmax, which may be the only output:
 * greedy decoding) and their backward. Forward: see `rowLayout` (an invocation or a workgroup
 * per row, fixed-order tree, so results are identical run to run); backward is elementwise.
 * Reference: d sum / dx = dy per element; d mean / dx = dy / n; d max / dx = dy at the argmax.
 * @module
 */
import type { Buf, FloatArray } from "./context.ts";
import { type Kernel, MAP_WG, NEG_BIG, program, rowProgram } from "./program.ts";

/** The reductions over the last axis. */
export type ReduceOp = "sum" | "mean" | "max";

/** Arguments of `reduceKernel`: `B` is a buffer for the launcher, an array for the reference. */
export interface ReduceArgs<B, I = B> {
  /** Which reduction. */
  op: ReduceOp;
  /** Input, (rows, n). */
  x: B;
  /** Result, (rows); optional for max when only `idx` is wanted. */
  out?: B;
  /** Max only: index of the first maximum of each row, (rows) i32. */
  idx?: I;
  rows: number;
  /** Row length (at least 1). */
  n: number;
}

/** Arguments of `reduceBackwardKernel`: the forward's op, sizes and (max) `idx`, the gradients. */
export interface ReduceBackwardArgs<B, I = B> extends Omit<ReduceArgs<B, I>, "x" | "out"> {
  /** Gradient of the output, (rows). */
  dy: B;
  /** Gradient of the input, (rows, n). */
  dx: B;
}

const FORWARD = rowProgram({
  label: (k: { op: ReduceOp; out: boolean; idx: boolean }) => `reduce_${k.op}`,
  inputs: { x: "f32" },
  outputs: { out: "f32", idx: "i32" },
  state: (k) =>
    k.op === "max"
      ? {
        fields: "m: f32, i: u32",
        init: `S(${NEG_BIG}, 0u)`,
        accum: "let v = x[base + i]; if (v > st.m) { st = S(v, i); }",
        combine: "if (b.m > a.m || (b.m == a.m && b.i < a.i)) { return b; } return a;",
      }
      : {
        fields: "s: f32",
        init: "S(0.0)",
        accum: "st.s += x[base + i];",
        combine: "return S(a.s + b.s);",
      },
  once: (k) =>
    (k.out ? `out[row] = ${{ max: "st.m", sum: "st.s", mean: "st.s / f32(N)" }[k.op]};` : "") +
    (k.idx ? " idx[row] = i32(st.i);" : ""),
});

// Purely elementwise (no reduction): one invocation per output element, or per 4 when rows are
// a multiple of 4 long, so one long row (sumAll) spreads over every core too.
const BACKWARD = program({
  label: (k: { op: ReduceOp; n: number; w: number }) => `reduce_${k.op}_backward`,
  inputs: { dy: "f32", idx: "i32" },
  outputs: { dx: "T" },
  workgroup: MAP_WG,
  index: "u",
  head: (k) => `const N: u32 = ${k.n}u;\nalias T = ${k.w === 4 ? "vec4f" : "f32"};`,
  body: (k) => {
    const g = k.op === "mean" ? "dy[r] / f32(N)" : "dy[r]";
    const put = k.op !== "max"
      ? `dx[u] = T(${g});`
      : k.w === 4
      ? "let j = e % N; dx[u] = select(vec4f(0.0), vec4f(dy[r]), " +
        "vec4u(j, j + 1u, j + 2u, j + 3u) == vec4u(u32(idx[r])));"
      : "dx[u] = select(0.0, dy[r], e % N == u32(idx[r]));";
    return `let e = u * ${k.w}u;\n  let r = e / N;\n  ${put}`;
  },
});

/**
 * Sum, mean or max of each row of `x` (rows, n) into `out` (rows); max can also (or only) write
 * the index of each row's first maximum into `idx` (rows).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { reduceKernel } from "./reduce.ts";
 * const out = new Float32Array(2);
 * reduceKernel.cpu({ op: "mean", x: new Float32Array([1, 2, 6, 5, 4, 0]), out, rows: 2, n: 3 });
 * assert(out[0] === 3 && out[1] === 3);
 * ```
 */
export const reduceKernel: Kernel<ReduceArgs<Buf>, ReduceArgs<FloatArray, Int32Array>> = {
  gpu(ctx, args) {
    const { op, rows, n } = args;
    const idx = op === "max" ? args.idx : undefined;
    if (!args.out && !idx) throw new Error("A reduction needs an output");
    const key = { op, out: args.out !== undefined, idx: idx !== undefined };
    FORWARD.run(ctx, { key, bind: { x: args.x, out: args.out, idx }, rows, n });
  },
  cpu(args) {
    const { op, x, out, idx, rows, n } = args;
    for (let r = 0; r < rows; r++) {
      const base = r * n;
      if (op === "max") {
        let m = -Infinity, at = 0;
        for (let i = 0; i < n; i++) {
          if (x[base + i] > m) (m = x[base + i]), (at = i);
        }
        if (out) out[r] = m;
        if (idx) idx[r] = at;
      } else {
        let s = 0;
        for (let i = 0; i < n; i++) s += x[base + i];
        if (out) out[r] = op === "mean" ? s / n : s;
      }
    }
  },
};

/**
 * Spreads each row's gradient `dy` (rows) over `dx` (rows, n): to every element (sum), divided by
 * `n` (mean), or to the forward argmax `idx` alone (max).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { reduceBackwardKernel } from "./reduce.ts";
 * const dx = new Float32Array(4);
 * reduceBackwardKernel.cpu({ op: "mean", dy: new Float32Array([2, 4]), dx, rows: 2, n: 2 });
 * assert(dx[0] === 1 && dx[3] === 2);
 * ```
 */
export const reduceBackwardKernel: Kernel<
  ReduceBackwardArgs<Buf>,
  ReduceBackwardArgs<FloatArray, Int32Array>
> = {
  gpu(ctx, args) {
    const { op, rows, n } = args;
    if (op === "max" && !args.idx) throw new Error("Max backward needs the forward argmax (idx)");
    const w = n % 4 === 0 ? 4 : 1;
    const bind = { dy: args.dy, idx: op === "max" ? args.idx : undefined, dx: args.dx };
    BACKWARD.run(ctx, { key: { op, n, w }, bind, count: (rows * n) / w });
  },
  cpu(args) {
    const { op, dy, idx, dx, rows, n } = args;
    if (op === "max" && !idx) throw new Error("Max backward needs the forward argmax (idx)");
    for (let r = 0; r < rows; r++) {
      const g = op === "mean" ? dy[r] / n : dy[r];
      for (let i = 0; i < n; i++) {
        dx[r * n + i] = op === "max" ? (i === idx![r] ? g : 0) : g;
      }
    }
  },
};
