import { deepStrictEqual, ok, throws } from "node:assert/strict";
import {
  AbacusEmbedding,
  abacusIndices,
  drawAbacusPositions,
  longestDigitRun,
} from "../../core/nn/abacus.ts";
import { CPU } from "../../core/backend.ts";
import { Rng } from "../../kernels/rng.ts";

// Ids of the `pad` vocabulary: digit d -> d + 4, + -> 14, = -> 17, EOS -> 3, PAD -> 0.
const enc = (s: string): number[] =>
  [...s].map((
    c,
  ) => (c >= "0" && c <= "9" ? c.charCodeAt(0) - 44 : c === "+" ? 14 : c === "=" ? 17 : 0));

Deno.test("abacusIndices() numbers each run of digits from 1 and gives non-digits 0", () => {
  deepStrictEqual([...abacusIndices(enc("123+45=678"), 10)], [1, 2, 3, 0, 1, 2, 0, 1, 2, 3]);
  // Leading and trailing non-digits, and a single-digit run.
  deepStrictEqual([...abacusIndices(enc("+1+=22="), 7)], [0, 1, 0, 0, 1, 2, 0]);
  deepStrictEqual([...abacusIndices(enc("+=+"), 3)], [0, 0, 0]);
});

Deno.test("abacusIndices() restarts runs at every row of a batch", () => {
  const ids = [...enc("12"), ...enc("34")]; // two rows of T=2: the run must not continue
  deepStrictEqual([...abacusIndices(ids, 2)], [1, 2, 1, 2]);
});

Deno.test("abacusIndices() applies the offset to digits only", () => {
  deepStrictEqual([...abacusIndices(enc("12+3="), 5, 7)], [8, 9, 0, 8, 0]);
});

Deno.test("AbacusEmbedding draws k in 0..maxK, uses none at eval and checks the table size", async () => {
  let i = 0;
  const seq = [0.999999, 0, 0.5];
  const ab = new AbacusEmbedding({
    hidden: 4,
    tableSize: 16,
    maxK: 10,
    backend: CPU,
    random: () => seq[i++ % 3],
  });
  i = 0;
  const ids = new Int32Array(enc("12+3="));
  // Without spacing a draw is one shift k: the first digit's row is k + 1.
  deepStrictEqual([0, 1, 2].map(() => ab.drawPositions(ids, 5)[1] - 1), [10, 0, 5]);
  const e = ab.forward(ids, 5, false);
  const rows = await e.toArray();
  const table = await ab.weight.toArray();
  // Position 1 of "12" and of "3" read the same table row (row 1); "+" reads row 0.
  deepStrictEqual([...rows.slice(0, 4)], [...table.slice(4, 8)]);
  deepStrictEqual([...rows.slice(12, 16)], [...table.slice(4, 8)]);
  deepStrictEqual([...rows.slice(8, 12)], [...table.slice(0, 4)]);
  throws(() => ab.indices(ids, 5, 15), /exceeds the table \(16 rows\)/);
  ok(ab.weight.requiresGrad);
});

Deno.test("abacusIndices() maps the p-th digit of every run through a position map", () => {
  const map = [0, 3, 7, 8];
  deepStrictEqual([...abacusIndices(enc("123+45=678"), 10, map)], [
    3,
    7,
    8,
    0,
    3,
    7,
    0,
    3,
    7,
    8,
  ]);
  throws(() => abacusIndices(enc("1234"), 4, map), /covers runs of 3 digits, not 4/);
});

Deno.test("longestDigitRun() finds the longest run over all rows, not across rows", () => {
  deepStrictEqual(longestDigitRun(enc("12+345=67"), 9), 3);
  deepStrictEqual(longestDigitRun([...enc("12"), ...enc("34")], 2), 2);
  deepStrictEqual(longestDigitRun(enc("+="), 2), 0);
});

Deno.test("drawAbacusPositions() without spacing is upstream's shift, drawing one integer", () => {
  const a = new Rng(7), b = new Rng(7);
  for (let n = 0; n < 50; n++) {
    const map = drawAbacusPositions(6, 20, 0, a);
    const k = b.int(0, 20); // the same stream: exactly one draw per batch
    deepStrictEqual([...map], [0, 1 + k, 2 + k, 3 + k, 4 + k, 5 + k, 6 + k]);
  }
});

Deno.test("drawAbacusPositions() spacing draws sorted uniform subsets of 1..longest+maxK", () => {
  const rng = new Rng(3);
  const longest = 4, maxK = 6, n = longest + maxK, draws = 20000;
  const seen = new Array(n + 1).fill(0);
  let consecutive = 0, spaced = 0;
  for (let d = 0; d < draws; d++) {
    const map = drawAbacusPositions(longest, maxK, 0.75, rng);
    deepStrictEqual(map.length, longest + 1);
    deepStrictEqual(map[0], 0);
    for (let p = 1; p <= longest; p++) {
      ok(map[p] > map[p - 1] && map[p] <= n, `map ${map} is not increasing within 1..${n}`);
    }
    if (map[longest] - map[1] === longest - 1) consecutive++;
    else spaced++;
    for (let p = 1; p <= longest; p++) seen[map[p]]++;
  }
  // Spaced with probability 0.75; a uniform 4-subset of 1..10 is a consecutive run with
  // probability 7 / C(10, 4) = 1/30, so P(not spaced-looking) = 0.25 + 0.75 / 30 = 0.275.
  const rate = consecutive / draws;
  ok(Math.abs(rate - 0.275) < 0.015, `consecutive rate ${rate}`);
  ok(spaced > 0);
  // Under the subset draw every value of 1..10 is equally likely to be chosen (4/10 each);
  // under the shift draw value v is covered by min(v, 4, 11 - v) of the 7 shifts.
  for (let v = 1; v <= n; v++) {
    const want = draws * (0.75 * 0.4 + 0.25 * Math.min(v, longest, n + 1 - v) / (maxK + 1));
    ok(Math.abs(seen[v] - want) < 0.06 * want, `value ${v}: ${seen[v]} vs ${want.toFixed(0)}`);
  }
});

Deno.test("AbacusEmbedding with spacing draws spaced positions in training only", () => {
  const ab = new AbacusEmbedding({ hidden: 4, tableSize: 64, maxK: 30, spacing: 1, backend: CPU });
  const ids = new Int32Array(enc("1234+5678=0246"));
  let gaps = 0;
  for (let n = 0; n < 20; n++) {
    const idx = ab.indices(ids, 14, ab.drawPositions(ids, 14));
    ok(idx[0] >= 1 && idx[3] <= 34);
    deepStrictEqual([...idx.slice(5, 9)], [...idx.slice(0, 4)]); // operands stay aligned
    if (idx[3] - idx[0] > 3) gaps++;
  }
  ok(gaps > 0);
  deepStrictEqual([...ab.indices(ids, 14, 0).slice(0, 5)], [1, 2, 3, 4, 0]);
  throws(() => new AbacusEmbedding({ hidden: 4, spacing: 1.5, backend: CPU }), /not a probability/);
});
