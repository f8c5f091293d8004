/**
 * Elementwise binary ops (add, sub, mul, div) with trailing-dimension broadcast, scale-and-add
 * (`alpha*a + beta*b`, `alpha*a`) and the in-place accumulate `dst += src` that autograd uses to
 * sum gradients. Broadcasting is by index: an operand of `m` elements (a divisor of the output's
 * `n`) is read at `i % m`, which covers "same shape", "trailing suffix" and "scalar".
 * @module
 */
import type { Buf, FloatArray, KernelContext } from "./context.ts";
import { mapProgram } from "./_map_rows.ts";
import { type Kernel, kernel } from "./program.ts";

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
 * Arguments of `binaryForward`: `B` is a buffer for the launcher, an array for the reference.
 * `a` has `na` elements and `b` has `nb`, each `n` (same shape) or a divisor of `n` (a trailing
 * suffix or a scalar, repeated over the leading rows).
 */
export interface BinaryArgs<B> {
  /** Which op. */
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

function checkSizes(n: number, na: number, nb: number): void {
  for (const m of [na, nb]) {
    if (m < 1 || n % m !== 0) {
      throw new Error(`Cannot broadcast ${m} elements over ${n}: sizes must divide`);
    }
  }
}

/** Computes `out[i] = a[i % na] op b[i % nb]` (trailing-dimension broadcast). */
function binaryForward(ctx: KernelContext, args: BinaryArgs<Buf>): void {
  const { n, na = n, nb = n } = args;
  if (n === 0) return;
  checkSizes(n, na, nb);
  const bind = { a: args.a, b: args.b, out: args.out };
  BINARY.run(ctx, { key: { op: args.op }, bind, n, sizes: { a: na, b: nb } });
}

/**
 * Applies one binary op to two doubles (the CPU references' arithmetic).
 *
 * @returns `x op y`
 */
function applyBinary(op: BinaryOp, x: number, y: number): number {
  return op === "add" ? x + y : op === "sub" ? x - y : op === "mul" ? x * y : x / y;
}

/** CPU reference of `binaryForward`. */
function binaryForwardCpu(args: BinaryArgs<FloatArray>): void {
  const { op, a, b, out, n, na = n, nb = n } = args;
  checkSizes(n, na, nb);
  for (let i = 0; i < n; i++) out[i] = applyBinary(op, a[i % na], b[i % nb]);
}

/** Arguments of `axpbyForward`: `out = alpha*a + beta*b` over `n` elements (no `b`: `alpha*a`). */
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

/**
 * Scale-and-add: `out = alpha*a + beta*b`, or `out = alpha*a` without `b`. The factors are
 * uniforms, so changing them per call does not recompile.
 */
function axpbyForward(ctx: KernelContext, args: AxpbyArgs<Buf>): void {
  const { n } = args;
  if (n === 0) return;
  AXPBY.run(ctx, {
    key: { two: args.b !== undefined },
    bind: { a: args.a, b: args.b, out: args.out },
    n,
    floats: { alpha: args.alpha, beta: args.beta ?? 1 },
  });
}

/** CPU reference of `axpbyForward`. */
function axpbyForwardCpu(args: AxpbyArgs<FloatArray>): void {
  const { a, b, out, n, alpha, beta = 1 } = args;
  for (let i = 0; i < n; i++) out[i] = b ? alpha * a[i] + beta * b[i] : alpha * a[i];
}

/** Arguments of `addInPlace`: `dst += src` over `n` elements. */
export interface AddInPlaceArgs<B> {
  /** Accumulator, (n); read and written. */
  dst: B;
  /** Addend, (n); must not share a buffer with `dst`. */
  src: B;
  /** Element count. */
  n: number;
}

/** Adds `src` into `dst` in place (gradient accumulation across uses and microbatches). */
function addInPlace(ctx: KernelContext, args: AddInPlaceArgs<Buf>): void {
  const { n } = args;
  if (n === 0) return;
  ADD_IN_PLACE.run(ctx, { key: {}, bind: { src: args.src, dst: args.dst }, n });
}

/** CPU reference of `addInPlace`. */
function addInPlaceCpu(args: AddInPlaceArgs<FloatArray>): void {
  const { dst, src, n } = args;
  for (let i = 0; i < n; i++) dst[i] += src[i];
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
export const binaryKernel: Kernel<BinaryArgs<Buf>, BinaryArgs<FloatArray>> = kernel(
  binaryForward,
  binaryForwardCpu,
);

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
export const axpbyKernel: Kernel<AxpbyArgs<Buf>, AxpbyArgs<FloatArray>> = kernel(
  axpbyForward,
  axpbyForwardCpu,
);

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
export const addInPlaceKernel: Kernel<AddInPlaceArgs<Buf>, AddInPlaceArgs<FloatArray>> = kernel(
  addInPlace,
  addInPlaceCpu,
);
