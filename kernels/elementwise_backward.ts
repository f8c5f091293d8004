/**
 * Backward of the broadcasting binary ops: a map shader for same-size gradients and a
 * deterministic column reduction (over the leading rows, fixed order, chunked in two passes
 * when there are many rows) for the gradient of an operand that was broadcast.
 * Reference: d(a+b) = (g, g); d(a-b) = (g, -g); d(ab) = (g b, g a); d(a/b) = (g/b, -g a/b^2),
 * each summed over the rows an operand was repeated across.
 * @module
 */
import type { Buf, FloatArray, KernelContext } from "./context.ts";
import { mapProgram } from "./_map_rows.ts";
import { type Kernel, kernel, program } from "./program.ts";
import type { BinaryOp } from "./elementwise.ts";

/** Arguments of `binaryBackward`: sizes as in `BinaryArgs`, gradients for the wanted operands. */
export interface BinaryBackwardArgs<B> {
  /** Which op. */
  op: BinaryOp;
  /** Left operand, (na) (read by mul/div only). */
  a: B;
  /** Right operand, (nb) (read by mul/div only). */
  b: B;
  /** Gradient of the output, (n). */
  dy: B;
  /** Gradient of `a`, (na): written when given. */
  da?: B;
  /** Gradient of `b`, (nb): written when given. */
  db?: B;
  /** Output element count. */
  n: number;
  /** Elements of `a` (default `n`). */
  na?: number;
  /** Elements of `b` (default `n`). */
  nb?: number;
}

// Per-element gradient terms: `g` the output gradient, `x`/`y` the values of a/b.
const TERM_A: Record<BinaryOp, string> = { add: "g", sub: "g", mul: "g * y", div: "g / y" };
const TERM_B: Record<BinaryOp, string> = {
  add: "g",
  sub: "-g",
  mul: "g * x",
  div: "-g * x / (y * y)",
};
// Broadcast side: the summand over rows and the factor applied to the sum (`s`, own value `v`).
const SUM_A: Record<BinaryOp, [string, string]> = {
  add: ["g", "s"],
  sub: ["g", "s"],
  mul: ["g * o", "s"],
  div: ["g / o", "s"],
};
const SUM_B: Record<BinaryOp, [string, string]> = {
  add: ["g", "s"],
  sub: ["g", "-s"],
  mul: ["g * o", "s"],
  div: ["g * o", "-s / (v * v)"],
};

/** Whether the op's gradient of a (or b) reads the other operand / the operand itself. */
function reads(op: BinaryOp, side: "a" | "b"): { other: boolean; self: boolean } {
  if (op === "add" || op === "sub") return { other: false, self: false };
  return { other: true, self: op === "div" && side === "b" };
}

type Side = { op: BinaryOp; side: "a" | "b" };

const FULL = mapProgram({
  label: (k: { op: BinaryOp; fullA: boolean; fullB: boolean }) => `binary_${k.op}_backward`,
  inputs: ["g", "x", "y"],
  outputs: ["da", "db"],
  body: (k) =>
    "let g = g_v; " + (k.fullB && (k.op === "mul" || k.op === "div") ? "let x = x_v; " : "") +
    ((k.fullA && (k.op === "mul" || k.op === "div")) || (k.fullB && k.op === "div")
      ? "let y = y_v; "
      : "") +
    (k.fullA ? `da[i] = ${TERM_A[k.op]}; ` : "") + (k.fullB ? `db[i] = ${TERM_B[k.op]};` : ""),
});

// One invocation per (chunk of rows, column): partial sums, or the final term when one chunk.
const REDUCE = program({
  label: (k: Side & { fin: boolean }) => `binary_${k.op}_backward_reduce`,
  inputs: { dy: "f32", other: "f32", own: "f32" },
  outputs: { out: "f32" },
  uniforms: { m: "u32", rows: "u32", k: "u32" },
  workgroup: 64,
  index: "t",
  body: (k) => {
    const [term, post] = (k.side === "a" ? SUM_A : SUM_B)[k.op];
    const { other, self } = reads(k.op, k.side);
    return `let j = t % p.m;
  let r0 = (t / p.m) * p.k;
  let r1 = min(r0 + p.k, p.rows);
  var s = 0.0;
  for (var r = r0; r < r1; r++) {
    let i = r * p.m + j;
    let g = dy[i];
    ${other ? "let o = other[i];" : ""}
    s += ${term};
  }
  ${self && k.fin ? "let v = own[j];" : ""}
  out[t] = ${k.fin ? post : "s"};`;
  },
});

// Sums the partials of each column in chunk order, then applies the final term.
const SUM = program({
  label: (k: Side) => `binary_${k.op}_backward_sum`,
  inputs: { part: "f32", own: "f32" },
  outputs: { out: "f32" },
  uniforms: { chunks: "u32" },
  workgroup: 64,
  index: "j",
  body: (k) =>
    `var s = 0.0;
  for (var c = 0u; c < p.chunks; c++) { s += part[c * p.n + j]; }
  ${reads(k.op, k.side).self ? "let v = own[j];" : ""}
  out[j] = ${(k.side === "a" ? SUM_A : SUM_B)[k.op][1]};`,
});

/**
 * Computes the gradients of `a op b` with respect to `a` and/or `b`, summing over broadcast
 * rows in a fixed order (no atomics), so results are bit-identical run to run.
 */
function binaryBackward(ctx: KernelContext, args: BinaryBackwardArgs<Buf>): void {
  const { op, n, na = n, nb = n } = args;
  if (n === 0) return;
  const fullA = args.da && na === n, fullB = args.db && nb === n;
  if (fullA || fullB) {
    const needX = fullB && (op === "mul" || op === "div");
    const needY = (fullA && (op === "mul" || op === "div")) || (fullB && op === "div");
    const bind = {
      g: args.dy,
      x: needX ? args.a : undefined,
      y: needY ? args.b : undefined,
      da: fullA ? args.da : undefined,
      db: fullB ? args.db : undefined,
    };
    FULL.run(ctx, {
      key: { op, fullA: !!fullA, fullB: !!fullB },
      bind,
      n,
      sizes: { x: na, y: nb },
    });
  }
  if (args.da && na < n) {
    reduceSide(ctx, op, "a", args.dy, args.b, args.a, args.da, n, na);
  }
  if (args.db && nb < n) {
    reduceSide(ctx, op, "b", args.dy, args.a, args.b, args.db, n, nb);
  }
}

/** Sums the gradient of a broadcast operand (`m` elements) over the `n / m` rows. */
function reduceSide(
  ctx: KernelContext,
  op: BinaryOp,
  side: "a" | "b",
  dy: Buf,
  other: Buf,
  self: Buf,
  out: Buf,
  n: number,
  m: number,
): void {
  if (n % m !== 0) throw new Error(`Cannot broadcast ${m} elements over ${n}: sizes must divide`);
  const rows = n / m;
  const { other: needO, self: needV } = reads(op, side);
  // Split the rows into chunks so that enough invocations run; partial sums are combined in a
  // second pass in chunk order.
  const chunks = rows <= 32 ? 1 : Math.min(Math.ceil(rows / 8), Math.max(1, Math.ceil(8192 / m)));
  const k = Math.ceil(rows / chunks);
  const c = Math.ceil(rows / k);
  const partial = c > 1 ? ctx.scratch(c * m * 4) : null;
  const key = { op, side, fin: c === 1 };
  const own = needV && c === 1 ? self : undefined;
  const bind = { dy, other: needO ? other : undefined, own, out: partial ?? out };
  REDUCE.run(ctx, { key, bind, params: { m, rows, k }, count: m * c });
  if (!partial) return;
  const sum = { part: partial, own: needV ? self : undefined, out };
  SUM.run(ctx, { key: { op, side }, bind: sum, params: { chunks: c }, count: m });
}

/** CPU reference of `binaryBackward` (sums in doubles, row by row). */
function binaryBackwardCpu(args: BinaryBackwardArgs<FloatArray>): void {
  const { op, a, b, dy, da, db, n, na = n, nb = n } = args;
  if (da) da.fill(0, 0, na);
  if (db) db.fill(0, 0, nb);
  // Accumulate in a double buffer so float32 outputs round once.
  const sa = da ? new Float64Array(na) : null, sb = db ? new Float64Array(nb) : null;
  for (let i = 0; i < n; i++) {
    const g = dy[i], x = a[i % na], y = b[i % nb];
    if (sa) {
      sa[i % na] += op === "add" || op === "sub" ? g : op === "mul" ? g * y : g / y;
    }
    if (sb) {
      sb[i % nb] += op === "add" ? g : op === "sub" ? -g : op === "mul" ? g * x : -g * x / (y * y);
    }
  }
  if (da && sa) da.set(sa);
  if (db && sb) db.set(sb);
}

/**
 * Gradients of `a op b` for the operands asked for (`da` (na), `db` (nb)); a broadcast operand's
 * gradient is summed over the rows it was repeated across.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { binaryBackwardKernel } from "./elementwise_backward.ts";
 * const a = new Float32Array([1, 2, 3, 4]), b = new Float32Array([10, 20]); // b broadcast, (2)
 * const dy = new Float32Array([1, 1, 1, 1]), db = new Float32Array(2);
 * binaryBackwardKernel.cpu({ op: "mul", a, b, dy, db, n: 4, nb: 2 });
 * assert(db[0] === 4 && db[1] === 6); // d(a*b)/db summed over the two rows: 1 + 3, 2 + 4
 * ```
 */
export const binaryBackwardKernel: Kernel<BinaryBackwardArgs<Buf>, BinaryBackwardArgs<FloatArray>> =
  kernel(binaryBackward, binaryBackwardCpu);
