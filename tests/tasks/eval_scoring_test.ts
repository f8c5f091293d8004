// Scoring rules of the eval task on hand-made predictions, plus a randomized check that exact
// match agrees with upstream's literal rule (argmax of EOS, mask after it, compare whole rows).

import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { EOS, getTokenizer, PAD } from "../../data/tokenizer.ts";
import { scoreSample, tallyCell, tokensToScore } from "../../tasks/eval/scoring.ts";

const pad = getTokenizer("pad");
const sort = getTokenizer("sort");
/** Tokens of a text plus EOS and `pads` PADs. */
const row = (text: string, pads = 0) => [...pad.encode(text), EOS, ...new Array(pads).fill(PAD)];
/** Arithmetic's exact match, as scoreSample gives it. */
const scoreExact = (p: ArrayLike<number>, t: ArrayLike<number>) =>
  scoreSample("addition", [], t, p, true).correct;
/** Sorting's label and first-label scores, with a prompt that has no minimum score. */
const scoreSort = (p: ArrayLike<number>, t: ArrayLike<number>) =>
  scoreSample("sorting", [], t, p, true);
/** The labels among A..E whose answer scoreSample counts as a minimum; null when it cannot tell. */
function minimumLabels(prompt: number[], reversed: boolean): Set<number> | null {
  const labels = sort.encode("ABCDE");
  const min = labels.map((l) => scoreSample("sorting", prompt, [EOS], [l], reversed).min);
  return min[0] === undefined ? null : new Set(labels.filter((_, k) => min[k]));
}

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

Deno.test("scoreExact() pads short predictions and masks after the first EOS", () => {
  strictEqual(scoreExact([5], [5, PAD, PAD]), true);
  strictEqual(scoreExact([5, EOS, 6, EOS], [5, EOS, PAD, PAD]), true);
  strictEqual(scoreExact([5, EOS, 6, EOS], [5, EOS, 6, EOS]), false);
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

// Multiplication: upstream scores it like addition (arithmetic_eval_quicker.py with mul=True).
// 123 x 45 = 5535, written reversed as "321x54=5355"; 12 x 5 = 60 reversed "21x5=06".
Deno.test("multiplication answers: every exact-match rule on hand-made predictions", () => {
  const prompt = pad.encode("321x54=");
  const target = row("5355"); // 5535 reversed, EOS
  const score = (p: number[], t = target) =>
    scoreSample("multiplication", prompt, t, p, true).correct;
  strictEqual(score(row("5355")), true); // right digits, EOS in place
  strictEqual(score([...row("5355"), 4, 4, EOS]), true); // anything after EOS is ignored
  strictEqual(score(row("5355"), row("5355", 2)), true); // PAD after the target's EOS
  strictEqual(score(row("535")), false); // early EOS: a digit short
  strictEqual(score(row("53550")), false); // extra digit (a trailing zero) instead of EOS
  strictEqual(score(pad.encode("5355")), false); // no EOS at all
  strictEqual(score(row("5535")), false); // the product not reversed
  strictEqual(score(row("5345")), false); // one wrong digit
  strictEqual(score([]), false);
  // A product ending in zero keeps its zero: 12 x 5 = 60 reversed is "06".
  const t60 = row("06");
  strictEqual(
    scoreSample("multiplication", pad.encode("21x5="), t60, row("06"), true).correct,
    true,
  );
  strictEqual(
    scoreSample("multiplication", pad.encode("21x5="), t60, row("6"), true).correct,
    false,
  );
  // The sorting fields never appear for multiplication.
  deepStrictEqual(scoreSample("multiplication", prompt, target, row("5355"), true), {
    correct: true,
  });
  strictEqual(tokensToScore("multiplication", row("5355", 3)), 5);
});

Deno.test("multiplication with a scratchpad: right only when every partial product and the answer are", () => {
  // 12 x 34 reversed: 21x43= then 48 + 360 = 408, each reversed.
  const prompt = pad.encode("21x43="), target = row("84+063=804");
  const score = (p: number[]) => scoreSample("multiplication", prompt, target, p, true).correct;
  strictEqual(score(row("84+063=804")), true);
  strictEqual(score(row("84+063=805")), false); // wrong answer after right products
  strictEqual(score(row("84+064=804")), false); // right answer after a wrong product
  strictEqual(score(row("84+63=804")), false); // the shift's zero left out
  strictEqual(score(row("804")), false); // the answer alone, no scratchpad
  strictEqual(score(row("84+063")), false); // stopped before the answer
  strictEqual(tokensToScore("multiplication", target), 11);
});

// Sorting: labels up to the target's EOS (EOS not checked), first label (top-1), and a first
// label naming a minimum-value number (ties allowed), as upstream's sort_eval.py.
Deno.test("sorting answers: exact, first-element and minimum-element rules on hand-made predictions", () => {
  // Reversed numbers: A 4321, B 7, C 52, D 7 -> ascending B, D (tie, input order), C, A.
  const prompt = sort.encode("A:1234,B:7,C:25,D:7=");
  const target = [...sort.encode("B,D,C,A"), EOS, PAD];
  const s = (p: string) => scoreSample("sorting", prompt, target, sort.encode(p), true);
  deepStrictEqual(s("B,D,C,A"), { correct: true, first: true, min: true });
  // Whatever follows the last label is not checked (EOS, a comma, more labels).
  deepStrictEqual(s("B,D,C,A,B"), { correct: true, first: true, min: true });
  deepStrictEqual(
    scoreSample("sorting", prompt, target, [...sort.encode("B,D,C,A"), EOS], true),
    { correct: true, first: true, min: true },
  );
  // The tie broken the other way: wrong (stable order), but its first label is a minimum.
  deepStrictEqual(s("D,B,C,A"), { correct: false, first: false, min: true });
  // Right first label, wrong later order.
  deepStrictEqual(s("B,D,A,C"), { correct: false, first: true, min: true });
  // A label missing, or a comma replaced.
  deepStrictEqual(s("B,D,C"), { correct: false, first: true, min: true });
  deepStrictEqual(s("B,D:C,A"), { correct: false, first: true, min: true });
  // A wrong first label that is not a minimum.
  deepStrictEqual(s("C,B,D,A"), { correct: false, first: false, min: false });
  // A label that is not in the list at all.
  deepStrictEqual(s("E,B,D,C"), { correct: false, first: false, min: false });
  deepStrictEqual(s(""), { correct: false, first: false, min: false });
  // Not reversed, the same prompt reads A 1234, B 7, C 25, D 7: the minimum is still B and D.
  deepStrictEqual(minimumLabels(prompt, false), new Set(sort.encode("BD")));
  // Length decides before digits: 9 < 10 although 9 > 1.
  deepStrictEqual(minimumLabels(sort.encode("A:01,B:9="), true), new Set(sort.encode("B")));
  // A prompt of another shape (e.g. index hints) has no minimum score.
  deepStrictEqual(
    scoreSample("sorting", sort.encode("A1="), [...sort.encode("A"), EOS], sort.encode("A"), true),
    { correct: true, first: true },
  );
  // The decoder generates the labels and commas, not the EOS.
  strictEqual(tokensToScore("sorting", target), 7);
  // A cell's tally carries the three counts.
  deepStrictEqual(tallyCell(4, 4, [s("B,D,C,A"), s("D,B,C,A"), s("C,B,D,A")]), {
    i: 4,
    j: 4,
    correct: 1,
    total: 3,
    correct_first: 1,
    correct_min: 2,
  });
});
