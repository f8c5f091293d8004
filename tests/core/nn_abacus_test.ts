import { deepStrictEqual, ok, throws } from "node:assert/strict";
import { AbacusEmbedding, abacusIndices } from "../../core/nn/abacus.ts";
import { CPU } from "../../core/tensor.ts";

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
  deepStrictEqual([...abacusIndices(enc("12+3="), 5, { offset: 7 })], [8, 9, 0, 8, 0]);
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
  deepStrictEqual([ab.drawShift(), ab.drawShift(), ab.drawShift()], [10, 0, 5]);
  const ids = new Int32Array(enc("12+3="));
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
