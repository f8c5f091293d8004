/**
 * Elementwise binary ops (add, sub, mul, div) with trailing-dimension broadcast, scale-and-add
 * (`alpha*a + beta*b`, `alpha*a`) and the in-place accumulate `dst += src` that autograd uses to
 * sum gradients. Broadcasting is by index: an operand of `m` elements (a divisor of the output's
 * `n`) is read at `i % m`, which covers "same shape", "trailing suffix" and "scalar".
 * Backward of the binary ops: a map shader for same-size gradients and a deterministic column
 * reduction (over the leading rows, fixed order, chunked in two passes when there are many rows)
 * for the gradient of an operand that was broadcast.
 * Reference: d(a+b) = (g, g); d(a-b) = (g, -g); d(ab) = (g b, g a); d(a/b) = (g/b, -g a/b^2),
 * each summed over the rows an operand was repeated across.
 * @module
 */
import type { Buf, FloatArray, KernelContext } from "./context.ts";
import { type Kernel, mapProgram, program } from "./program.ts";

/** The binary ops. */
export type BinaryOp = "add" | "sub" | "mul" | "div";

const SYMBOL: Record<BinaryOp, string> = { add: "+", sub: "-", mul: "*", div: "/" };

const BINARY = mapProgram({
  label: (k: { op: BinaryOp }) => `binary_${k.op}`,
  inputs: ["a", "b"],
  outputs: ["out"],
  body: (k) => `out[i] = a_v ${SYMBOL[k.op]} b_v;`,
});

const AXPBY = mapProgram({
  label: (k: { two: boolean }) => k.two ? "axpby" : "scale",
  inputs: ["a", "b"],
  outputs: ["out"],
  floats: ["alpha", "beta"],
  body: (k) => k.two ? "out[i] = p.alpha * a_v + p.beta * b_v;" : "out[i] = p.alpha * a_v;",
});

const ADD_IN_PLACE = mapProgram({
  label: "add_in_place",
  inputs: ["src"],
  outputs: ["dst"],
  inPlace: true,
  body: () => "dst[i] = dst_v + src_v;",
});

/**
 * Arguments of `binaryKernel`: `a` has `na` elements and `b` has `nb`, each `n` (same shape) or a
 * divisor of `n` (a trailing suffix or a scalar, repeated over the leading rows).
 */
export interface BinaryArgs<B> {
  op: BinaryOp;
  /** Left operand, (na). */
  a: B;
  /** Right operand, (nb). */
  b: B;
  /** Result, (n). */
  out: B;
  /** Output element count. */
  n: number;
  /** Elements of `a` (default `n`). */
  na?: number;
  /** Elements of `b` (default `n`). */
  nb?: number;
}

/** `x op y` in doubles (the CPU references' arithmetic). */
function applyBinary(op: BinaryOp, x: number, y: number): number {
  return op === "add" ? x + y : op === "sub" ? x - y : op === "mul" ? x * y : x / y;
}

/** Arguments of `axpbyKernel`: `out = alpha*a + beta*b` over `n` elements (no `b`: `alpha*a`). */
export interface AxpbyArgs<B> {
  /** First operand, (n). */
  a: B;
  /** Second operand, (n); omit to compute `alpha*a`. */
  b?: B;
  /** Result, (n). */
  out: B;
  /** Element count. */
  n: number;
  /** Factor of `a`. */
  alpha: number;
  /** Factor of `b` (default 1). */
  beta?: number;
}

/** Arguments of `addInPlaceKernel`: `dst += src` over `n` elements. */
export interface AddInPlaceArgs<B> {
  /** Accumulator, (n); read and written. */
  dst: B;
  /** Addend, (n); must not share a buffer with `dst`. */
  src: B;
  /** Element count. */
  n: number;
}

/**
 * `out = a op b` (add, sub, mul, div) over (n); an operand of fewer elements (a divisor of `n`:
 * a trailing suffix or a scalar) is repeated over the leading rows.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { binaryKernel } from "./elementwise.ts";
 * const out = new Float32Array(4);
 * const a = new Float32Array([1, 2, 3, 4]), b = new Float32Array([10, 20]); // b broadcast, (2)
 * binaryKernel.cpu({ op: "mul", a, b, out, n: 4, nb: 2 });
 * assert(out[2] === 30 && out[3] === 80);
 * ```
 */
export const binaryKernel: Kernel<BinaryArgs<Buf>, BinaryArgs<FloatArray>> = {
  gpu(ctx, args) {
    const { n, na = n, nb = n } = args;
    const bind = { a: args.a, b: args.b, out: args.out };
    BINARY.run(ctx, { key: { op: args.op }, bind, n, sizes: { a: na, b: nb } });
  },
  cpu(args) {
    const { op, a, b, out, n, na = n, nb = n } = args;
    for (let i = 0; i < n; i++) out[i] = applyBinary(op, a[i % na], b[i % nb]);
  },
};

/**
 * `out = alpha * a + beta * b` over (n), or `out = alpha * a` when `b` is left out.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { axpbyKernel } from "./elementwise.ts";
 * const out = new Float32Array(1), a = new Float32Array([3]), b = new Float32Array([5]);
 * axpbyKernel.cpu({ a, b, out, n: 1, alpha: 2, beta: -1 });
 * assert(out[0] === 1);
 * ```
 */
export const axpbyKernel: Kernel<AxpbyArgs<Buf>, AxpbyArgs<FloatArray>> = {
  // The factors are uniforms, so changing them per call does not recompile.
  gpu(ctx, args) {
    AXPBY.run(ctx, {
      key: { two: args.b !== undefined },
      bind: { a: args.a, b: args.b, out: args.out },
      n: args.n,
      floats: { alpha: args.alpha, beta: args.beta ?? 1 },
    });
  },
  cpu(args) {
    const { a, b, out, n, alpha, beta = 1 } = args;
    for (let i = 0; i < n; i++) out[i] = b ? alpha * a[i] + beta * b[i] : alpha * a[i];
  },
};

/**
 * `dst += src` over (n), in place (gradient accumulation across uses and microbatches).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { addInPlaceKernel } from "./elementwise.ts";
 * const dst = new Float32Array([1, 2]);
 * addInPlaceKernel.cpu({ dst, src: new Float32Array([0.5, 3]), n: 2 });
 * assert(dst[0] === 1.5 && dst[1] === 5);
 * ```
 */
export const addInPlaceKernel: Kernel<AddInPlaceArgs<Buf>, AddInPlaceArgs<FloatArray>> = {
  gpu(ctx, args) {
    ADD_IN_PLACE.run(ctx, { key: {}, bind: { src: args.src, dst: args.dst }, n: args.n });
  },
  cpu(args) {
    const { dst, src, n } = args;
    for (let i = 0; i < n; i++) dst[i] += src[i];
  },
};

/**
 * Arguments of `binaryBackwardKernel`: operands (read by mul/div only) and sizes as in
 * `BinaryArgs`, gradients for the wanted operands.
 */
export interface BinaryBackwardArgs<B> extends Omit<BinaryArgs<B>, "out"> {
  /** Gradient of the output, (n). */
  dy: B;
  /** Gradient of `a`, (na): written when given. */
  da?: B;
  /** Gradient of `b`, (nb): written when given. */
  db?: B;
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

// The CPU references' per-element gradients of a and b (output gradient g, values x and y).
const GRADS: Record<BinaryOp, (g: number, x: number, y: number) => [number, number]> = {
  add: (g) => [g, g],
  sub: (g) => [g, -g],
  mul: (g, x, y) => [g * y, g * x],
  div: (g, x, y) => [g / y, -g * x / (y * y)],
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

/**
 * Gradients of `a op b` for the operands asked for (`da` (na), `db` (nb)); a broadcast operand's
 * gradient is summed over the rows it was repeated across.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { binaryBackwardKernel } from "./elementwise.ts";
 * const a = new Float32Array([1, 2, 3, 4]), b = new Float32Array([10, 20]); // b broadcast, (2)
 * const dy = new Float32Array([1, 1, 1, 1]), db = new Float32Array(2);
 * binaryBackwardKernel.cpu({ op: "mul", a, b, dy, db, n: 4, nb: 2 });
 * assert(db[0] === 4 && db[1] === 6); // d(a*b)/db summed over the two rows: 1 + 3, 2 + 4
 * ```
 */
export const binaryBackwardKernel: Kernel<BinaryBackwardArgs<Buf>, BinaryBackwardArgs<FloatArray>> =
  {
    // Sums over broadcast rows in a fixed order (no atomics): bit-identical run to run.
    gpu(ctx, args) {
      const { op, n, na = n, nb = n } = args;
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
    },
    cpu(args) {
      const { op, a, b, dy, da, db, n, na = n, nb = n } = args;
      if (da) da.fill(0, 0, na);
      if (db) db.fill(0, 0, nb);
      // Accumulate in a double buffer so float32 outputs round once.
      const sa = da ? new Float64Array(na) : null, sb = db ? new Float64Array(nb) : null;
      for (let i = 0; i < n; i++) {
        const [ga, gb] = GRADS[op](dy[i], a[i % na], b[i % nb]);
        if (sa) sa[i % na] += ga;
        if (sb) sb[i % nb] += gb;
      }
      if (da && sa) da.set(sa);
      if (db && sb) db.set(sb);
    },
  };
