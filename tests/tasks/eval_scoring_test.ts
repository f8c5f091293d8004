// Scoring rules of the eval task on hand-made predictions, plus a randomized check that exact
// match agrees with upstream's literal rule (argmax of EOS, mask after it, compare whole rows).

import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { EOS, getTokenizer, PAD } from "../../data/tokenizer.ts";
import {
  maskAfterEos,
  minimumLabels,
  scoreExact,
  scoreSample,
  scoreSort,
  tallyCell,
  tokensToScore,
} from "../../tasks/eval/scoring.ts";

const pad = getTokenizer("pad");
const sort = getTokenizer("sort");
/** Tokens of a text plus EOS and `pads` PADs. */
const row = (text: string, pads = 0) => [...pad.encode(text), EOS, ...new Array(pads).fill(PAD)];

Deno.test("scoreExact() accepts the answer with EOS and ignores tokens after EOS", () => {
  strictEqual(scoreExact(row("64"), row("64")), true);
  strictEqual(scoreExact([...row("64"), 5, 6, 7], row("64")), true);
  strictEqual(scoreExact([...pad.encode("64"), EOS, 9], row("64", 1)), true); // PAD-padded row
});

Deno.test("scoreExact() rejects an early EOS", () => {
  strictEqual(scoreExact(row("6"), row("64")), false);
  strictEqual(scoreExact([EOS, 8, 7], row("64")), false);
});

Deno.test("scoreExact() rejects extra digits after the answer", () => {
  strictEqual(scoreExact(row("641"), row("64")), false);
  strictEqual(scoreExact(row("641"), row("64", 1)), false);
});

Deno.test("scoreExact() rejects a missing EOS and a wrong digit", () => {
  strictEqual(scoreExact(pad.encode("64"), row("64")), false); // decoder stopped without EOS
  strictEqual(scoreExact(pad.encode("640"), row("64")), false);
  strictEqual(scoreExact(row("65"), row("64")), false);
  strictEqual(scoreExact([], row("64")), false);
});

Deno.test("scoreExact() agrees with upstream's literal rule on random predictions", () => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const upstream = (pred: number[], target: number[]): boolean => {
    let idx = pred.indexOf(EOS);
    if (idx < 0) idx = 0; // torch.argmax of an all-zero indicator
    return pred.every((t, k) => (k > idx ? PAD : t) === target[k]);
  };
  const alphabet = [PAD, EOS, 4, 5, 6];
  let agreeRight = 0;
  for (let n = 0; n < 20000; n++) {
    const len = 1 + rand(4), pads = rand(3);
    const answer = Array.from({ length: len }, () => 4 + rand(3));
    const target = [...answer, EOS, ...new Array(pads).fill(PAD)];
    const pred = rand(3) === 0
      ? [...answer, EOS, ...Array.from({ length: pads }, () => alphabet[rand(5)])]
      : Array.from({ length: target.length }, () => alphabet[rand(5)]);
    const ours = scoreExact(pred, target);
    strictEqual(ours, upstream(pred, target), `pred ${pred} target ${target}`);
    if (ours) agreeRight++;
  }
  strictEqual(agreeRight > 1000, true);
});

Deno.test("maskAfterEos() pads short predictions and masks after the first EOS", () => {
  deepStrictEqual([...maskAfterEos([5], 3)], [5, 0, 0]);
  deepStrictEqual([...maskAfterEos([5, EOS, 6, EOS], 4)], [5, EOS, 0, 0]);
});

Deno.test("scoreSort() compares labels up to EOS without checking EOS", () => {
  const target = [...sort.encode("B,C,A"), EOS, PAD];
  deepStrictEqual(scoreSort(sort.encode("B,C,A"), target), { correct: true, first: true });
  deepStrictEqual(scoreSort(sort.encode("B,C,A,D,E"), target), { correct: true, first: true });
  deepStrictEqual(scoreSort([...sort.encode("B,C,A"), 7], target), { correct: true, first: true });
  deepStrictEqual(scoreSort(sort.encode("B,A,C"), target), { correct: false, first: true });
  deepStrictEqual(scoreSort(sort.encode("C,B,A"), target), { correct: false, first: false });
  deepStrictEqual(scoreSort(sort.encode("B,C"), target), { correct: false, first: true });
  deepStrictEqual(scoreSort([], target), { correct: false, first: false });
});

Deno.test("minimumLabels() finds ties and handles reversed numbers", () => {
  const prompt = sort.encode("A:30,B:3,C:300,D:03=");
  // Reversed: 3, 3, 3, 30 -> A, B, C tie.
  deepStrictEqual(minimumLabels(prompt, true), new Set(sort.encode("ABC")));
  // Not reversed: 30, 3, 300, 3 (leading zero) -> B and D.
  deepStrictEqual(minimumLabels(prompt, false), new Set(sort.encode("BD")));
  strictEqual(minimumLabels(sort.encode("A:1,B="), true), null);
  strictEqual(minimumLabels(sort.encode("A1="), true), null);
});

Deno.test("scoreSample() scores sorting's first and minimum element separately", () => {
  const prompt = sort.encode("A:5,B:2,C:2="), target = [...sort.encode("B,C,A"), EOS];
  deepStrictEqual(scoreSample("sorting", prompt, target, sort.encode("C,B,A"), true), {
    correct: false,
    first: false,
    min: true,
  });
  deepStrictEqual(scoreSample("sorting", prompt, target, sort.encode("A,B,C"), true), {
    correct: false,
    first: false,
    min: false,
  });
  deepStrictEqual(scoreSample("addition", [], row("7"), row("7"), true), { correct: true });
});

Deno.test("tallyCell() counts correct, first and minimum scores", () => {
  const r = tallyCell(3, 4, [
    { correct: true, first: true, min: true },
    { correct: false, first: true, min: true },
    { correct: false, first: false, min: false },
  ]);
  deepStrictEqual(r, { i: 3, j: 4, correct: 1, total: 3, correct_first: 2, correct_min: 2 });
  deepStrictEqual(tallyCell(1, 1, [{ correct: true, first: true }]), {
    i: 1,
    j: 1,
    correct: 1,
    total: 1,
    correct_first: 1,
  });
});

Deno.test("tokensToScore() asks for the answer plus EOS, sorting without EOS", () => {
  strictEqual(tokensToScore("addition", row("64", 2)), 3);
  strictEqual(tokensToScore("or", row("0100")), 5);
  strictEqual(tokensToScore("sorting", [...sort.encode("B,C"), EOS, PAD]), 3);
});
