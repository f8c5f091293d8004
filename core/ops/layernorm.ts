/**
 * Tensor-level LayerNorm over the last axis, plain and fused with the residual add of a post-norm
 * block (x = LN(x + sublayer(x))), on either backend, with gradients for the input(s), the weight
 * and the bias. Row statistics are saved only when a gradient will be needed.
 * @module
 */
import { layerNormBackwardKernel, layerNormKernel, LN_EPS } from "../../kernels/layernorm.ts";
import { record } from "../autograd.ts";
import { keep, Tensor } from "../tensor.ts";
import { checkTensors, needsGrad, saveForBackward, shapeStr } from "./save.ts";
import { run as runKernel } from "./_run.ts";

const fmt = (t: Tensor): string => shapeStr(t.shape);

function check(op: string, x: Tensor, r: Tensor | null, w: Tensor, b: Tensor): void {
  checkTensors(op, r ? [x, r, w, b] : [x, w, b]);
  if (x.shape.length === 0) throw new Error(`Cannot ${op} a scalar: it needs a last axis`);
  const c = x.shape[x.shape.length - 1];
  if (w.shape.length !== 1 || w.shape[0] !== c || b.shape.length !== 1 || b.shape[0] !== c) {
    throw new Error(
      `Cannot ${op} shape ${fmt(x)} with weight ${fmt(w)} and bias ${fmt(b)}: both must be [${c}]`,
    );
  }
  if (r && (r.shape.length !== x.shape.length || r.shape.some((d, i) => d !== x.shape[i]))) {
    throw new Error(`Cannot ${op} shapes ${fmt(x)} and ${fmt(r)}: shapes differ`);
  }
}

function run(op: string, x: Tensor, r: Tensor | null, w: Tensor, b: Tensor, eps: number): Tensor {
  check(op, x, r, w, b);
  const cols = x.shape[x.shape.length - 1], rows = x.size / Math.max(cols, 1);
  const inputs = r ? [x, r, w, b] : [x, w, b];
  const grad = needsGrad(...inputs);
  const be = x.backend;
  const out = Tensor.empty(x.shape, "f32", be);
  // Saved tensors belong to the gradient node (freed when it is released), not to any scope.
  const mean = grad ? keep(Tensor.empty([rows], "f32", be)) : null;
  const rstd = grad ? keep(Tensor.empty([rows], "f32", be)) : null;
  runKernel(layerNormKernel, { x, residual: r, w, b, out, mean, rstd, rows, cols, eps });
  if (!grad || !mean || !rstd) return out;
  // The backward pass reads the normalised input: x, and for the residual form r, added again
  // (cheaper than the forward writing x + r out; views keep the storage alive).
  const xSaved = saveForBackward(x), rSaved = r ? saveForBackward(r) : null;
  const wSaved = saveForBackward(w);
  return record(out, inputs, (g, sinks) => {
    const wantX = x.requiresGrad || (r?.requiresGrad ?? false);
    const dX = wantX ? Tensor.empty(x.shape, "f32", be) : null;
    // x and r get equal gradients. When neither is a leaf (whose kept gradient may later be
    // added into in place), r's is a second view of dX's storage: shared storage is never
    // accumulated into in place (`Tensor.exclusive`), and the kernel writes one copy, not two.
    const both = !!r && x.requiresGrad && r.requiresGrad;
    const shared = both && !!x.node && !!r?.node;
    const dX2 = both && !shared ? Tensor.empty(x.shape, "f32", be) : null;
    // Weight and bias gradients already held (parameters' arena gradients) take theirs in place.
    const [sw, sb] = sinks.slice(-2);
    const into = (!w.requiresGrad || sw !== null) && (!b.requiresGrad || sb !== null);
    const dW = w.requiresGrad ? (into ? sw : Tensor.empty(w.shape, "f32", be)) : null;
    const dB = b.requiresGrad ? (into ? sb : Tensor.empty(b.shape, "f32", be)) : null;
    const grads = { dOut: g, dX, dX2, dW, dB, accumulate: into };
    const normed = { x: xSaved, residual: rSaved };
    runKernel(layerNormBackwardKernel, { ...normed, w: wSaved, mean, rstd, ...grads, rows, cols });
    const [gw, gb] = into ? [null, null] : [dW, dB];
    if (!r) return [dX, gw, gb];
    const dR = shared ? dX!.reshape(x.shape) : dX2;
    return [x.requiresGrad ? dX : null, x.requiresGrad ? dR : dX, gw, gb];
  }, rSaved ? [mean, rstd, xSaved, rSaved, wSaved] : [mean, rstd, xSaved, wSaved]);
}

/**
 * LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * w + b, per row.
 *
 * Works on both backends; records gradients for x, w and b (dw and db reduced over rows in a
 * fixed order, so they are bit-identical run after run).
 * Reference: Ba, Kiros and Hinton 2016 (biased variance; eps 1e-12 by default, as upstream).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { layerNorm } from "./layernorm.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const x = Tensor.fromArray([1, 3, 10, 20], [2, 2], { backend: CPU });
 * const w = Tensor.fromArray([1, 1], [2], { backend: CPU });
 * const b = Tensor.fromArray([0, 0.5], [2], { backend: CPU });
 * const y = await layerNorm(x, w, b).toArray();
 * assert(Math.abs(y[0] + 1) < 1e-6 && Math.abs(y[3] - 1.5) < 1e-6);
 * ```
 * @param x input, (..., C)
 * @param w weight, (C)
 * @param b bias, (C)
 * @param eps added to the variance (default 1e-12)
 * @returns the normalised tensor, shaped like x
 * @throws Error when w or b is not (C) or the tensors differ in backend or dtype
 */
export function layerNorm(x: Tensor, w: Tensor, b: Tensor, eps: number = LN_EPS): Tensor {
  return run("layerNorm", x, null, w, b, eps);
}

/**
 * Fused residual LayerNorm: LN(x + r), one kernel for the add and the norm (post-norm blocks).
 *
 * Gradients flow to x, r, w and b; x and r get equal gradients (one storage shared by two
 * tensors when both come from other ops, else separately stored). The backward pass adds x and r
 * again rather than the forward storing x + r.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { addLayerNorm } from "./layernorm.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const x = Tensor.fromArray([1, 2], [1, 2], { backend: CPU });
 * const r = Tensor.fromArray([0, 1], [1, 2], { backend: CPU });
 * const w = Tensor.fromArray([2, 2], [2], { backend: CPU });
 * const b = Tensor.fromArray([0, 0], [2], { backend: CPU });
 * const y = await addLayerNorm(x, r, w, b).toArray(); // LN([1, 3]) * 2
 * assert(Math.abs(y[0] + 2) < 1e-6 && Math.abs(y[1] - 2) < 1e-6);
 * ```
 * @param x input (the residual stream), (..., C)
 * @param r added to x before normalising, shaped like x
 * @param w weight, (C)
 * @param b bias, (C)
 * @param eps added to the variance (default 1e-12)
 * @returns LN(x + r), shaped like x
 * @throws Error when shapes, backends or dtypes do not match
 */
export function addLayerNorm(
  x: Tensor,
  r: Tensor,
  w: Tensor,
  b: Tensor,
  eps: number = LN_EPS,
): Tensor {
  return run("addLayerNorm", x, r, w, b, eps);
}
