/**
 * The training objective of upstream's TBPTT model: next-token cross-entropy with labels shifted
 * by one, PAD ignored, optionally only the answer after `=` (`mask_before_equals`), `mean` or
 * per-sample (`none`) reduction, truncated backpropagation through recurrences (n steps without
 * gradient, k with), the progressive-loss mix `alpha` and the `throttle` rescaling.
 * Reference: McLeish et al. 2024 §4 (progressive loss); upstream `prog_model_call_with_masking`.
 * @module
 */
import { add, scale } from "../ops/elementwise.ts";
import { crossEntropy } from "../ops/loss.ts";
import { sumAll } from "../ops/reduce.ts";
import { Tensor } from "../tensor.ts";
import type { ArithmeticModel, ForwardOptions } from "./model.ts";

/** Upstream's `=` token id (every arithmetic vocabulary). */
const EQUALS_ID = 17;

/**
 * Builds the per-position targets: target[b, t] = ids[b, t+1], or -100 where ignored
 * (PAD labels, the last position, and with `maskBeforeEquals` everything up to the `=`).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { lossTargets } from "./objective.ts";
 * // 1+2=3<EOS>: ids 5 14 6 17 7 3
 * const t = lossTargets(new Int32Array([5, 14, 6, 17, 7, 3]), 1, 6, { maskBeforeEquals: true });
 * assert(t.join(",") === "-100,-100,-100,7,3,-100");
 * ```
 * @param ids token ids (B*T)
 * @returns targets (B*T), -100 = ignored
 */
export function lossTargets(
  ids: Int32Array,
  B: number,
  T: number,
  options: { maskBeforeEquals: boolean },
): Int32Array {
  const out = new Int32Array(B * T).fill(-100);
  for (let b = 0; b < B; b++) {
    const row = ids.subarray(b * T, b * T + T);
    const eqPos = options.maskBeforeEquals ? row.indexOf(EQUALS_ID) : -1;
    for (let t = 0; t + 1 < T; t++) {
      const label = row[t + 1];
      if (label !== 0 && t + 1 > eqPos) out[b * T + t] = label;
    }
  }
  return out;
}

/**
 * Loss of one model call with a given TBPTT split.
 *
 * @param ids token ids (B*T)
 * @param split training mode and (n, k) recurrences, as the forward pass takes them
 */
export function modelCallLoss(
  model: ArithmeticModel,
  ids: Int32Array,
  B: number,
  T: number,
  split: ForwardOptions,
): Tensor {
  const a = model.arch;
  const logits = model.forward(ids, B, T, split);
  const targets = lossTargets(ids, B, T, { maskBeforeEquals: a.maskBeforeEquals });
  const t = Tensor.fromArray(targets, [B * T], { dtype: "i32", backend: model.backend });
  const flat = logits.reshape([B * T, a.vocabSize]);
  if (a.lossReduction === "mean") return crossEntropy(flat, t, { reduction: "mean" });
  // Per-token losses (ignored = 0), mean over the T-1 positions of each sample, then over samples.
  const perToken = crossEntropy(flat, t, { reduction: "none" });
  return scale(sumAll(perToken), 1 / (B * Math.max(1, T - 1)));
}

/**
 * The training loss: upstream's `forward_progressive` (TBPTT draw of n ~ U{0..R-1} and
 * k ~ U{1..min(R-n, max_backprop)}, mixed with a max-iteration pass when alpha != 1) and the
 * optional throttle.
 *
 * @param ids token ids (B*T)
 * @returns the scalar loss to back-propagate
 */
export function trainingLoss(
  model: ArithmeticModel,
  ids: Int32Array,
  B: number,
  T: number,
): Tensor {
  const a = model.arch, R = a.maximalRecurrence, mb = a.maxBackprop;
  let loss: Tensor | null = null;
  if (a.alpha !== 1) {
    const lMax = modelCallLoss(model, ids, B, T, {
      training: true,
      nNoGrad: Math.max(0, R - mb),
      kGrad: Math.min(mb, R),
    });
    loss = scale(lMax, 1 - a.alpha);
  }
  if (a.alpha !== 0) {
    const n = model.rng.int(0, R - 1);
    const k = model.rng.int(1, Math.min(R - n, mb));
    const split = { training: true, nNoGrad: n, kGrad: k };
    const lProg = scale(modelCallLoss(model, ids, B, T, split), a.alpha);
    loss = loss ? add(loss, lProg) : lProg;
  }
  if (a.throttle) loss = scale(loss!, (1 + Math.min(R / 4, mb / 2)) / mb);
  return loss!;
}

/**
 * The evaluation loss: `maximal_recurrence_in_eval` recurrences, no gradient, k = 0.
 *
 * @param ids token ids (B*T)
 */
export function evalLoss(model: ArithmeticModel, ids: Int32Array, B: number, T: number): Tensor {
  return modelCallLoss(model, ids, B, T, { training: false }); // the forward pass's eval split
}
