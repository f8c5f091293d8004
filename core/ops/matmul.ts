/**
 * Matrix products on tensors: `matmul` (batched, optional transposes read in place) and `linear`
 * (x @ W^T for a weight stored [out, in], the PyTorch layout), on both backends, with gradient
 * rules that reuse the same kernel with other transposes instead of copying.
 * @module
 */
import { type MatmulArgs, matmulKernel } from "../../kernels/matmul.ts";
import { record } from "../autograd.ts";
import { numel } from "../backend.ts";
import { Tensor } from "../tensor.ts";
import { checkTensors, needsGrad, saveForBackward, shapeStr } from "./save.ts";
import { run } from "./_run.ts";

/** Options of `matmul`. */
export interface MatmulOptions {
  /** `a` is stored (..., K, M): use its transpose, read in place. */
  transA?: boolean;
  /** `b` is stored (..., N, K) (or (N, K) when shared): use its transpose, read in place. */
  transB?: boolean;
}

/** Sizes of one kernel launch; strides in elements (0 = shared across the batch). */
type Plan = Omit<MatmulArgs<unknown>, "a" | "b" | "out" | "variant">;

/** Runs one product into a new tensor of `shape` without recording a gradient. */
function product(a: Tensor, b: Tensor, plan: Plan, shape: readonly number[]): Tensor {
  const out = Tensor.empty(shape, "f32", a.backend);
  run(matmulKernel, { ...plan, a, b, out });
  return out;
}

/**
 * Matrix product of the last two dimensions: op(a) @ op(b), batched over leading dimensions.
 *
 * `a` is (..., M, K), or (..., K, M) with `transA`. `b` is (K, N) (one matrix shared by the whole
 * batch, e.g. a weight) or (..., K, N) with the same leading dimensions as `a`; with `transB`
 * it is stored (N, K) or (..., N, K). Transposes are read in place, never copied. The result is
 * (..., M, N). Gradients flow to both operands; a shared `b` gets the sum over the batch.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { matmul } from "./matmul.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const a = Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 3], { backend: CPU });
 * const b = Tensor.fromArray([1, 0, 0, 1, 1, 1], [3, 2], { backend: CPU });
 * const c = matmul(a, b); // [[1 + 3, 2 + 3], [4 + 6, 5 + 6]]
 * deepStrictEqual(c.shape, [2, 2]);
 * deepStrictEqual([...await c.toArray()], [4, 5, 10, 11]);
 * ```
 * @param a left operand, (..., M, K) or (..., K, M)
 * @param b right operand, (K, N), (N, K), (..., K, N) or (..., N, K)
 * @returns the product, (..., M, N)
 * @throws Error on mismatched shapes, backends or dtypes
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  checkTensors("matmul", [a, b]);
  const transA = options.transA ?? false, transB = options.transB ?? false;
  const as = a.shape, bs = b.shape;
  // Built only for an error (ops run every step).
  const where = () => `Cannot matmul shapes ${shapeStr(as)} and ${shapeStr(bs)}`;
  if (as.length < 2 || bs.length < 2) {
    throw new Error(`${where()}: both operands need at least 2 dimensions`);
  }
  const lead = as.slice(0, -2);
  const shared = bs.length === 2;
  if (!shared && (bs.length !== as.length || bs.slice(0, -2).some((d, i) => d !== lead[i]))) {
    throw new Error(`${where()}: batch dimensions differ`);
  }
  const [a0, a1] = as.slice(-2), [b0, b1] = bs.slice(-2);
  const [m, k] = transA ? [a1, a0] : [a0, a1];
  const [kb, n] = transB ? [b1, b0] : [b0, b1];
  if (k !== kb) throw new Error(`${where()}: inner dimensions differ (${k} vs ${kb})`);
  const dims = { transA, transB, count: numel(lead), m, k, n, shared };
  return core(a, b, dims, [...lead, m, n]);
}

/** The logical sizes of a checked product. */
interface Dims {
  transA: boolean;
  transB: boolean;
  /** Product of the leading (batch) dimensions. */
  count: number;
  m: number;
  k: number;
  n: number;
  /** `b` is one matrix for the whole batch. */
  shared: boolean;
}

/** Runs a checked product and records its gradient rule (dA, dB by transposed products). */
function core(a: Tensor, b: Tensor, d: Dims, outShape: readonly number[]): Tensor {
  const { transA, transB, shared, m, k, n } = d, as = a.shape, bs = b.shape;
  // A shared b with an untransposed a folds the batch into M: one plain (count * M, K) product.
  const fold = shared && !transA;
  const batch = fold ? 1 : d.count, rows = fold ? d.count * m : m;
  const sA = rows * k, sB = shared ? 0 : k * n, sG = rows * n;
  const plan = { m: rows, n, k, batch, transA, transB, strideA: sA, strideB: sB };
  const out = product(a, b, plan, outShape);
  if (!needsGrad(a, b)) return out;
  const sa = saveForBackward(a), sb = saveForBackward(b);
  return record(out, [a, b], (g, sinks) => {
    // A gradient tensor already collected for the operand (a parameter's) takes it in place.
    const grad = (l: Tensor, r: Tensor, p: Plan, shape: readonly number[], sink: Tensor | null) => {
      if (!sink) return product(l, r, p, shape);
      run(matmulKernel, { ...p, accumulate: true, a: l, b: r, out: sink });
      return null;
    };
    let ga: Tensor | null = null, gb: Tensor | null = null;
    if (a.requiresGrad) {
      // dA stored (K, M) = op(B) (K, N) @ G^T, or dA (M, K) = G (M, N) @ op(B)^T
      const p: Plan = transA
        ? { m: k, n: m, k: n, batch, transA: transB, transB: true, strideA: sB, strideB: sG }
        : { m: rows, n: k, k: n, batch, transB: !transB, strideA: sG, strideB: sB };
      ga = transA ? grad(sb, g, p, as, sinks[0]) : grad(g, sb, p, as, sinks[0]);
    }
    if (b.requiresGrad) {
      // dB stored (N, K) = G^T (N, M) @ op(A), or dB (K, N) = op(A)^T (K, M) @ G
      const p: Plan = transB
        ? { m: n, n: k, k: rows, batch, transA: true, transB: transA, strideA: sG, strideB: sA }
        : { m: k, n, k: rows, batch, transA: !transA, strideA: sA, strideB: sG };
      const per = shared && batch > 1; // a shared b with a transposed a: sum the batch after
      const shape = per ? [batch, ...bs] : bs, sink = batch === 1 ? sinks[1] : null;
      gb = transB ? grad(g, sa, p, shape, sink) : grad(sa, g, p, shape, sink);
      if (per) gb = sumBatch(gb!, batch, bs);
    }
    return [ga, gb];
  }, [sa, sb]);
}

/** Sums (batch, ...) over the batch as ones(1, batch) @ x(batch, rest): no reduction kernel needed. */
function sumBatch(x: Tensor, batch: number, shape: readonly number[]): Tensor {
  const rest = x.size / batch;
  const ones = Tensor.fromArray(new Float32Array(batch).fill(1), [1, batch], {
    backend: x.backend,
  });
  const s = product(ones, x, { m: 1, n: rest, k: batch }, shape);
  ones.dispose();
  x.dispose();
  return s;
}

/**
 * A linear layer without bias: x @ W^T for a weight stored [out, in] (the PyTorch layout).
 *
 * `x` is (..., in); the result is (..., out). The weight is read transposed in place; its
 * gradient sums over every leading dimension of `x`.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { linear } from "./matmul.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const x = Tensor.fromArray([1, 2], [1, 2], { backend: CPU });
 * const w = Tensor.fromArray([1, 1, 0, 1, 2, 0], [3, 2], { backend: CPU }); // 3 outputs, 2 inputs
 * deepStrictEqual([...await linear(x, w).toArray()], [3, 2, 2]);
 * ```
 * @param x input, (..., in)
 * @param w weight, (out, in)
 * @returns x @ w^T, (..., out)
 * @throws Error when the feature sizes differ or `w` is not 2D
 */
export function linear(x: Tensor, w: Tensor): Tensor {
  checkTensors("apply linear to", [x, w]);
  // Built only for an error (ops run every step).
  const where = () => `Cannot apply linear to shapes ${shapeStr(x.shape)} and ${shapeStr(w.shape)}`;
  if (w.shape.length !== 2) throw new Error(`${where()}: the weight must be 2D [out, in]`);
  if (x.shape.length < 1) throw new Error(`${where()}: the input needs at least 1 dimension`);
  const inF = x.shape[x.shape.length - 1];
  if (inF !== w.shape[1]) {
    throw new Error(`${where()}: input features differ (${inF} vs ${w.shape[1]})`);
  }
  const [n] = w.shape, lead = x.shape.slice(0, -1), count = numel(lead);
  const dims = { transA: false, transB: true, count, m: 1, k: inF, n, shared: true };
  return core(x, w, dims, [...lead, n]);
}
