/**
 * Tensor-level cross-entropy (log-softmax + negative log-likelihood fused) with an ignore
 * index, on either backend. The mean's count of non-ignored rows stays where it was computed
 * (on the GPU for webgpu) and feeds the backward, so a training step needs no readback here.
 * @module
 */
import {
  crossEntropyBackwardKernel,
  crossEntropyKernel,
  type Reduction,
} from "../../kernels/softmax.ts";
import { record } from "../autograd.ts";
import { keep, Tensor } from "../tensor.ts";
import { checkTensors, needsGrad, saveForBackward, shapeStr } from "./save.ts";
import { run } from "./_run.ts";

/** Options of `crossEntropy`. */
export interface CrossEntropyOptions {
  /** Target value whose rows are skipped (default -100). */
  ignoreIndex?: number;
  /** `mean` over non-ignored rows (default; 0 when all are ignored) or `none` (per row). */
  reduction?: Reduction;
}

/**
 * Cross-entropy between the softmax of `logits` and integer `targets`.
 *
 * Rows whose target equals `ignoreIndex` contribute nothing (loss and gradient 0). On the cpu
 * backend a target outside `[0, classes)` throws; on webgpu it makes the loss NaN.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { crossEntropy } from "./loss.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const logits = Tensor.fromArray([0, 0, 3, 1], [2, 2], { backend: CPU });
 * const targets = Tensor.fromArray([1, -100], [2], { dtype: "i32", backend: CPU });
 * const loss = await crossEntropy(logits, targets).toArray();
 * assert(Math.abs(loss[0] - Math.LN2) < 1e-6);
 * ```
 * @param logits scores `(..., classes)`, f32
 * @param targets class per row `(...)`, i32 (or u32)
 * @returns the loss: shape `[]` for `mean`, `targets.shape` for `none`
 */
export function crossEntropy(
  logits: Tensor,
  targets: Tensor,
  options: CrossEntropyOptions = {},
): Tensor {
  const { ignoreIndex = -100, reduction = "mean" } = options;
  checkTensors("cross-entropy", [logits, targets], null);
  checkTensors("take cross-entropy of", [logits]);
  checkTensors("take cross-entropy with", [targets], ["i32", "u32"]);
  if (reduction !== "mean" && reduction !== "none") {
    throw new Error(`Unknown reduction "${reduction}": choose mean or none`);
  }
  if (logits.shape.length === 0) {
    throw new Error("Cannot take cross-entropy of logits of shape []: they have no class axis");
  }
  const classes = logits.shape[logits.shape.length - 1];
  const rows = classes === 0 ? 0 : logits.size / classes;
  if (classes === 0 || targets.size !== rows) {
    throw new Error(
      `Cannot take cross-entropy of logits ${shapeStr(logits.shape)} with targets ` +
        `${shapeStr(targets.shape)}: expected one target per row of classes`,
    );
  }
  const mean = reduction === "mean";
  const be = logits.backend;
  const loss = Tensor.empty(mean ? [] : targets.shape, "f32", be);
  const lse = keep(Tensor.empty([rows], "f32", be));
  const count = mean ? keep(Tensor.empty([1], "f32", be)) : null;
  const common = { rows, classes, ignoreIndex, reduction };
  try {
    run(crossEntropyKernel, { logits, targets, loss, lse, count, ...common });
  } catch (e) {
    loss.dispose(), lse.dispose(), count?.dispose();
    throw e;
  }
  const saved = count ? [lse, count] : [lse];
  if (!needsGrad(logits)) {
    for (const t of saved) t.dispose();
    return loss;
  }
  const sx = saveForBackward(logits), st = saveForBackward(targets);
  return record(loss, [logits, targets], (g) => {
    const dx = Tensor.empty(sx.shape, "f32", g.backend);
    const args = { logits: sx, targets: st, lse, dy: g, count, dlogits: dx, ...common };
    run(crossEntropyBackwardKernel, args);
    return [dx, null];
  }, [...saved, sx, st]);
}
