// One optimizer step as the GPU sees it: every microbatch's TBPTT loss, divided by the number of
// microbatches, back-propagated into the arena's gradients, then clipping + AdamW and a zeroing
// fill, all recorded without a readback (a submit per microbatch at most); the step's mean loss
// stays on the device until `startLossRead`, which the loop defers by one step.

import { trainingLoss } from "../../core/nn/objective.ts";
import type { ArithmeticModel } from "../../core/nn/model.ts";
import type { AdamW } from "../../core/optim.ts";
import { backward } from "../../core/ops/backward.ts";
import { add, scale } from "../../core/ops/elementwise.ts";
import { noGrad, scope, type Tensor } from "../../core/tensor.ts";
import { TrainError } from "./errors.ts";

/**
 * Records one optimizer step over `batches` (gradient accumulation) and returns its mean loss.
 *
 * On the webgpu backend the work of every microbatch but the last is submitted as it is
 * recorded; the last one, the optimizer and the gradient zeroing go out with the next submit
 * (the loss readback). The model's generator draws the Abacus shift, TBPTT split and initial
 * state of each microbatch.
 *
 * @example
 * ```ts ignore
 * import { recordStep, startLossRead } from "./step.ts";
 *
 * const step = { batches: [ids0, ids1], rows: 64, rowLength: 13, lr: 1e-3 };
 * const loss = recordStep(model, opt, step);
 * const value = await startLossRead(loss); // (dispose `loss` right after starting the read)
 * ```
 *
 * @param model The model (its arena holds zero gradients on entry).
 * @param step Token ids of each microbatch ((rows, rowLength) row-major), rows per microbatch,
 *   row length, and the learning rate of this step.
 * @returns The step's mean loss, a scalar tensor the caller disposes.
 */
export function recordStep(
  model: ArithmeticModel,
  opt: AdamW,
  step: { batches: readonly Int32Array[]; rows: number; rowLength: number; lr: number },
): Tensor {
  const { batches, rows, rowLength } = step;
  const n = batches.length, be = model.backend;
  let total: Tensor | null = null;
  for (let i = 0; i < n; i++) {
    const prev: Tensor | null = total;
    total = scope(() => {
      const loss = positioned(() => trainingLoss(model, batches[i], rows, rowLength));
      const part = n === 1 ? loss : scale(loss, 1 / n);
      backward(part);
      return prev ? noGrad(() => add(prev, part)) : part;
    });
    prev?.dispose();
    if (i < n - 1 && be.kind !== "cpu") be.flush();
  }
  opt.step(step.lr);
  opt.zeroGrad();
  return total!;
}

/** Turns the model's position-table errors into one-line advice about the config. */
function positioned<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const msg = e instanceof Error ? e.message : "";
    if (!msg.startsWith("Abacus index")) throw e;
    throw new TrainError(`${msg}: raise data.seq_length or lower arch.embedding.max_abacus_len`);
  }
}

/**
 * Starts reading a scalar back; on the webgpu backend this submits everything recorded so far.
 *
 * The copy is recorded before this returns, so the tensor may be disposed right away.
 *
 * @example
 * ```ts
 * import { startLossRead } from "./step.ts";
 * import { CPU } from "../../core/backend.ts";
 * import { Tensor } from "../../core/tensor.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const t = Tensor.fromArray([2.5], [], { backend: CPU });
 * const read = startLossRead(t);
 * t.dispose();
 * deepEqual(await read, 2.5);
 * ```
 */
export function startLossRead(t: Tensor): Promise<number> {
  const be = t.backend;
  if (be.kind === "cpu") return Promise.resolve(t.data[0]);
  return be.read(t.buffer, 4).then((bytes) => new Float32Array(bytes)[0]);
}
