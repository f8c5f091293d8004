// End-of-training measurements on the test split, without gradients: the loss and perplexity
// (upstream logs the test log-perplexity after its final save) and the greedy exact-match
// accuracy: prompt up to `=`, argmax of the next token, append, repeat until EOS, recomputing
// the whole row each time (upstream's `_generate(quick=True)`: no KV cache).

import type { Dataset } from "../../data/dataset.ts";
import { EOS, EQUALS, PAD } from "../../data/tokenizer.ts";
import type { ArithmeticModel } from "../../core/nn/model.ts";
import { evalLoss, lossTargets } from "../../core/nn/objective.ts";
import { argmax } from "../../core/ops/reduce.ts";
import { noGrad, scope } from "../../core/tensor.ts";

/** Loss of the test split. */
export interface TestLoss {
  /** Mean cross-entropy per predicted token (or per sample with `loss_reduction=none`). */
  readonly loss: number;
  /** exp(loss). */
  readonly perplexity: number;
  /** Test rows used. */
  readonly rows: number;
}

async function* chunks(
  ds: Dataset,
  rows: number,
  batch: number,
): AsyncGenerator<{ ids: Int32Array; B: number }> {
  const total = Math.min(rows, ds.meta.counts.test), T = ds.meta.rowLength;
  for (let start = 0; start < total; start += batch) {
    const raw = await ds.readRows("test", start, Math.min(batch, total - start));
    yield { ids: Int32Array.from(raw), B: raw.length / T };
  }
}

/**
 * The test-split loss (`maximal_recurrence_in_eval` recurrences, no Abacus shift, no gradient),
 * averaged over the first `rows` test rows with each batch weighted by its predicted tokens.
 *
 * One readback per batch; the model's generator draws the initial states, so pass a model that
 * shares the trained arena but not the training generator.
 *
 * @example
 * ```ts ignore
 * import { testLoss } from "./evaluate.ts";
 *
 * const { loss, perplexity } = await testLoss(evalModel, ds, { rows: 4096, batch: 128 });
 * ```
 */
export async function testLoss(
  model: ArithmeticModel,
  ds: Dataset,
  options: { rows: number; batch: number },
): Promise<TestLoss> {
  const T = ds.meta.rowLength, a = model.arch;
  let sum = 0, weight = 0, used = 0;
  for await (const { ids, B } of chunks(ds, options.rows, options.batch)) {
    const t = scope(() => noGrad(() => evalLoss(model, ids, B, T)));
    const value = (await t.toArray())[0];
    t.dispose();
    const w = a.lossReduction === "mean"
      ? lossTargets(ids, B, T, { maskBeforeEquals: a.maskBeforeEquals }).filter((x) => x >= 0)
        .length
      : B;
    sum += value * w;
    weight += w;
    used += B;
  }
  const loss = weight > 0 ? sum / weight : NaN;
  return { loss, perplexity: Math.exp(loss), rows: used };
}

/** Greedy-decoding accuracy. */
export interface ExactMatch {
  /** Rows whose whole answer (digits, EOS and padding after it) came out right. */
  readonly correct: number;
  /** Rows decoded (rows without `=` are skipped). */
  readonly rows: number;
  /** correct / rows. */
  readonly accuracy: number;
}

/**
 * Greedy exact-match accuracy on the first `rows` test rows.
 *
 * Each row's prompt is everything up to and including its `=`; the model then predicts one
 * token at a time (argmax at the last filled position of a full-row forward pass) until it
 * writes EOS or the row is full. A row is correct when the decoded row equals the stored one.
 * One readback per decoding step.
 *
 * @example
 * ```ts ignore
 * import { exactMatch } from "./evaluate.ts";
 *
 * const { accuracy } = await exactMatch(evalModel, ds, { rows: 200, batch: 200 });
 * ```
 *
 * @param model The model (shares the trained arena; its generator draws initial states).
 */
export async function exactMatch(
  model: ArithmeticModel,
  ds: Dataset,
  options: { rows: number; batch: number },
): Promise<ExactMatch> {
  const T = ds.meta.rowLength;
  let correct = 0, decoded = 0;
  for await (const { ids, B } of chunks(ds, options.rows, options.batch)) {
    const work = new Int32Array(B * T).fill(PAD);
    const cur = new Int32Array(B), done = new Uint8Array(B);
    for (let b = 0; b < B; b++) {
      const eq = ids.subarray(b * T, b * T + T).indexOf(EQUALS);
      if (eq < 0 || eq + 1 >= T) {
        done[b] = 2; // no prompt: skipped
        continue;
      }
      work.set(ids.subarray(b * T, b * T + eq + 1), b * T);
      cur[b] = eq + 1;
    }
    while (done.some((d) => d === 0)) {
      // (B, T) i32: the most likely next token after every position.
      const t = scope(() => noGrad(() => argmax(model.forward(work, B, T, { training: false }))));
      const pred = await t.toArray();
      t.dispose();
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        const tok = pred[b * T + cur[b] - 1];
        work[b * T + cur[b]] = tok;
        cur[b]++;
        if (tok === EOS || cur[b] >= T) done[b] = 1;
      }
    }
    for (let b = 0; b < B; b++) {
      if (done[b] === 2) continue;
      decoded++;
      let same = true;
      for (let t = 0; t < T && same; t++) same = work[b * T + t] === ids[b * T + t];
      if (same) correct++;
    }
  }
  return { correct, rows: decoded, accuracy: decoded > 0 ? correct / decoded : NaN };
}
