// Exact-match scoring of generated answers, as upstream: arithmetic and OR need the whole answer
// with EOS in the right place and nothing after it (after the first EOS predictions become PAD
// and the row must equal the target); sorting compares the labels up to the target's EOS (EOS not
// checked) and also counts a right first label (top-1) and a first label of minimum value.
// Reference: upstream arithmetic_eval_quicker.py (EOS masking), sort_eval.py (top-1).

import { DIGIT_FIRST, DIGIT_LAST, EOS, EQUALS, PAD } from "../../data/tokenizer.ts";
import type { EvalTask } from "./grids.ts";
import type { Cell } from "../plot/types.ts";

/** Token id of `,` in the `sort` vocabulary. */
const COMMA = 15;
/** Token id of `:` in the `sort` vocabulary. */
const COLON = 16;

// Arithmetic and OR: the prediction, cut or PAD-padded to the target's length with everything
// after its first EOS made PAD, must equal the target (answer, EOS, optional PAD), so an early or
// missing EOS, a wrong digit or an extra digit before EOS all count as wrong.
function scoreExact(prediction: ArrayLike<number>, target: ArrayLike<number>): boolean {
  let eos = false;
  for (let k = 0; k < target.length; k++) {
    const t: number = eos || k >= prediction.length ? PAD : prediction[k];
    if (t !== target[k]) return false;
    eos ||= t === EOS;
  }
  return true;
}

// The labels of a sorting prompt (`label:number,...,label:number=`, PAD skipped) whose numbers
// have the minimum value (several on ties); null when the prompt has another shape (index hints).
function minimumLabels(prompt: ArrayLike<number>, reversed: boolean): Set<number> | null {
  const toks = Array.from(prompt).filter((t) => t !== PAD);
  let best: bigint | null = null;
  let labels = new Set<number>();
  let p = 0;
  for (;;) {
    const label = toks[p];
    if (label === undefined || toks[p + 1] !== COLON) return null;
    p += 2;
    const digits: number[] = [];
    while (p < toks.length && toks[p] >= DIGIT_FIRST && toks[p] <= DIGIT_LAST) {
      digits.push(toks[p++]);
    }
    if (digits.length === 0) return null;
    if (reversed) digits.reverse();
    const value = BigInt(digits.map((t) => t - DIGIT_FIRST).join(""));
    if (best === null || value < best) {
      best = value;
      labels = new Set([label]);
    } else if (value === best) labels.add(label);
    if (toks[p] === EQUALS && p === toks.length - 1) return labels;
    if (toks[p] !== COMMA) return null;
    p++;
  }
}

/** Scores of one sample. */
export interface SampleScore {
  /** Exactly right (sorting: every label up to EOS). */
  correct: boolean;
  /** Sorting: the first label is the target's first label. */
  first?: boolean;
  /** Sorting: the first label names a number of minimum value (ties allowed); absent if unknown. */
  min?: boolean;
}

/**
 * Scores one sample of any task: exact match for arithmetic and OR; for sorting the labels up to
 * the target's EOS, the first label, and whether the first label names a minimum-value number.
 *
 * @example
 * ```ts
 * import { scoreSample } from "./scoring.ts";
 * import { getTokenizer } from "../../data/tokenizer.ts";
 * import assert from "node:assert/strict";
 *
 * const tok = getTokenizer("sort");
 * const prompt = tok.encode("A:31,B:7,C:7="), target = [...tok.encode("B,C,A"), 3];
 * const s = scoreSample("sorting", prompt, target, tok.encode("C,B,A"), true);
 * assert.deepEqual(s, { correct: false, first: false, min: true });
 * ```
 *
 * @param prompt Prompt tokens (for the sorting minimum).
 * @param target Answer tokens, EOS, optional PAD.
 * @param reversed Whether numbers are written least-significant digit first.
 */
export function scoreSample(
  task: EvalTask,
  prompt: ArrayLike<number>,
  target: ArrayLike<number>,
  prediction: ArrayLike<number>,
  reversed: boolean,
): SampleScore {
  if (task !== "sorting") return { correct: scoreExact(prediction, target) };
  // Sorting: `correct` when every label and comma up to the target's EOS is right (EOS not
  // checked); `first` when the first label is.
  let len = 0;
  while (len < target.length && target[len] !== EOS) len++;
  let correct = len <= prediction.length;
  for (let k = 0; k < len && correct; k++) correct = prediction[k] === target[k];
  const s: SampleScore = { correct, first: len > 0 && prediction[0] === target[0] };
  const mins = minimumLabels(prompt, reversed);
  if (mins) s.min = prediction.length > 0 && mins.has(prediction[0]);
  return s;
}

/**
 * Tokens to generate so that a sample can be scored: the target up to and including its EOS
 * (sorting: up to EOS, excluded).
 *
 * @example
 * ```ts
 * import { tokensToScore } from "./scoring.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(tokensToScore("addition", [9, 5, 3, 0]), 3);
 * assert.deepEqual(tokensToScore("sorting", [20, 15, 21, 3]), 3);
 * ```
 */
export function tokensToScore(task: EvalTask, target: ArrayLike<number>): number {
  let eos = 0;
  while (eos < target.length && target[eos] !== EOS) eos++;
  if (eos === target.length) return target.length;
  return task === "sorting" ? eos : eos + 1;
}

/**
 * One cell's result, as written to `cell_<i>_<j>.json` (the format `deno task plot` reads: its
 * `Cell`, plus the sorting counts).
 * Field names are snake_case because this is the on-disk record.
 */
export interface CellResult extends Cell {
  /** Sorting: samples whose first label is right (upstream's top-1). */
  correct_first?: number;
  /** Sorting: samples whose first label names a minimum-value number. */
  correct_min?: number;
}

/**
 * Adds up one cell's sample scores.
 *
 * `correct_first` appears when any sample has a `first` score, `correct_min` when every sample
 * has a `min` score.
 *
 * @example
 * ```ts
 * import { tallyCell } from "./scoring.ts";
 * import assert from "node:assert/strict";
 *
 * const r = tallyCell(2, 3, [{ correct: true }, { correct: false }]);
 * assert.deepEqual(r, { i: 2, j: 3, correct: 1, total: 2 });
 * ```
 */
export function tallyCell(i: number, j: number, scores: readonly SampleScore[]): CellResult {
  const count = (f: (s: SampleScore) => boolean | undefined) => scores.filter(f).length;
  const r: CellResult = { i, j, correct: count((s) => s.correct), total: scores.length };
  if (scores.some((s) => s.first !== undefined)) r.correct_first = count((s) => s.first);
  if (scores.length > 0 && scores.every((s) => s.min !== undefined)) {
    r.correct_min = count((s) => s.min);
  }
  return r;
}
