// Tests of the generator arguments: validation messages, upstream-compatible names, row
// lengths equal to upstream's padded lengths, and that no sample ever exceeds its row.

import assert from "node:assert/strict";
import { DataError, maxSampleChars, resolveSpec, rowLength, sampleCount } from "../../data/spec.ts";
import { datasetName } from "../../data/presets.ts";
import { createSource } from "../../data/generators.ts";
import { planDataset } from "../../data/generate.ts";

Deno.test("resolveSpec() rejects bad input with one-line messages", () => {
  const cases: [object, RegExp][] = [
    [{ op: "/" }, /^Cannot generate data: unknown op "\/"/],
    [{ n: 0 }, /n must be an integer of at least 1, got 0/],
    [{ m: 1.5 }, /m must be an integer/],
    [
      { op: "sort", n: 3, m: 120 },
      /^Cannot generate sorting data: 120 numbers but only 102 labels$/,
    ],
    [{ p: 1 }, /p must be in \[0, 1\)/],
    [{ reverseAll: true, reverseAnswer: true }, /not both/],
    [{ op: "sort", n: 10, m: 10, limit: 99 }, /less than one sample per bucket/],
    [{ op: "+", n: 150, m: 2, indexHints: true }, /only 102 hint symbols/],
  ];
  for (const [partial, re] of cases) {
    assert.throws(() => resolveSpec(partial), (e: unknown) => {
      assert(e instanceof DataError);
      assert.match(e.message, re);
      assert(!e.message.includes("\n") && !e.message.endsWith("."));
      return true;
    });
  }
});

Deno.test("datasetName() matches upstream's folder names", () => {
  const name = (p: object) =>
    datasetName(resolveSpec({ limit: 20_000_000, reverseAll: true, ...p }));
  assert.equal(
    name({ op: "+", n: 20, m: 20 }),
    "+_bucket_method_n_20_m_20_20000000_p_00_reverse_all",
  );
  assert.equal(
    name({ op: "x", n: 15, m: 15 }),
    "x_bucket_method_n_15_m_15_20000000_p_00_reverse_all",
  );
  assert.equal(
    name({ op: "sort", n: 10, m: 10 }),
    "sort_bucket_uniform_distribution_max_digits_n_10_max_length_m_10_20000000_p_00_reverse_all",
  );
  assert.equal(
    name({ op: "+", n: 20, m: 20, indexHints: true }),
    "+_bucket_method_n_20_m_20_20000000_p_00_reverse_all_with_index_hints_circular",
  );
  assert.equal(
    name({ op: "+", n: 2, m: 2, p: 0.25, seed: 7 }),
    "+_bucket_method_n_2_m_2_20000000_p_025_reverse_all_seed_7",
  );
  assert.equal(planDataset({ preset: "or", baseDir: "/b" }).out, "/b/data/or_one_vec_zeros");
});

Deno.test("rowLength() equals upstream's padded lengths", () => {
  assert.equal(rowLength(resolveSpec({ op: "+", n: 20, m: 20 })), 64);
  assert.equal(rowLength(resolveSpec({ op: "x", n: 15, m: 15 })), 63);
  assert.equal(rowLength(resolveSpec({ op: "sort", n: 10, m: 10 })), 150);
  assert(rowLength(resolveSpec({ op: "+", n: 20, m: 20, p: 0.1 })) > 64);
});

Deno.test("no sample exceeds maxSampleChars() and the bound is reached", () => {
  const specs = [
    { op: "+", n: 3, m: 2 },
    { op: "-", n: 2, m: 3 },
    { op: "x", n: 3, m: 3 },
    { op: "x", n: 2, m: 2, indexHints: true },
    { op: "sort", n: 2, m: 3 },
    { op: "or", n: 3, m: 2 },
  ] as const;
  for (const partial of specs) {
    const spec = resolveSpec({ ...partial, limit: 3000 });
    const src = createSource(spec);
    const row = new Uint8Array(src.maxTokens + 8);
    let longest = 0;
    for (let k = 0; k < src.total; k++) longest = Math.max(longest, src.next(row, 0));
    assert.equal(longest, maxSampleChars(spec), JSON.stringify(partial));
    assert.equal(src.total, sampleCount(spec));
  }
});
