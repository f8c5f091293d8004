// Tests of the sorting and bitwise-OR generators on generated samples: label alphabet and
// order, stable ascending answers checked with BigInt, bucket balance, one-hot structure.

import assert from "node:assert/strict";
import { CHAR_SET } from "../../data/tokenizer.ts";
import { rev, sampleLines } from "./_helpers.ts";

/** Parses `label:number,...=label,...` by position (labels may be `,` or `:`). */
function parseSort(line: string): { items: [string, string][]; answer: string[] } {
  const cs = [...line];
  const items: [string, string][] = [];
  let k = 0;
  for (;;) {
    const label = cs[k++];
    assert.equal(cs[k++], ":", line);
    let digits = "";
    while (/\d/.test(cs[k])) digits += cs[k++];
    items.push([label, digits]);
    const sep = cs[k++];
    if (sep === "=") break;
    assert.equal(sep, ",", line);
  }
  const answer: string[] = [];
  for (; k < cs.length; k += 2) {
    answer.push(cs[k]);
    if (k + 1 < cs.length) assert.equal(cs[k + 1], ",", line);
  }
  return { items, answer };
}

Deno.test("sorting: consecutive cyclic labels and the stable ascending answer", () => {
  const n = 3, m = 5, per = 20;
  const lines = sampleLines({ op: "sort", n, m, limit: n * m * per, reverseAll: true });
  assert.equal(lines.length, n * m * per);
  const byLength = new Map<number, number>();
  let ties = 0;
  for (const line of lines) {
    const { items, answer } = parseSort(line);
    byLength.set(items.length, (byLength.get(items.length) ?? 0) + 1);
    const start = CHAR_SET.indexOf(items[0][0]);
    items.forEach(([label], k) => assert.equal(label, CHAR_SET[(start + k) % CHAR_SET.length]));
    const values = items.map(([, d]) => {
      const v = rev(d);
      assert(v.length >= 1 && v.length <= n && v[0] !== "0", line);
      return BigInt(v);
    });
    const expected = items.map((_, k) => k)
      .sort((a, b) => (values[a] < values[b] ? -1 : values[a] > values[b] ? 1 : a - b))
      .map((k) => items[k][0]);
    assert.deepEqual(answer, expected, line);
    if (new Set(values).size < values.length) ties++;
  }
  assert(ties > 0, "some samples should contain equal values");
  for (let L = 1; L <= m; L++) assert.equal(byLength.get(L), n * per);
});

Deno.test("sorting: the sample method gives exactly m numbers of up to n digits", () => {
  const lines = sampleLines({ op: "sort", method: "sample", n: 4, m: 7, numSamples: 50 });
  for (const l of lines) {
    const { items } = parseSort(l);
    assert.equal(items.length, 7);
    for (const [, d] of items) assert(d.length <= 4 && d[0] !== "0");
  }
});

Deno.test("sorting: index hints precede each digit", () => {
  const lines = sampleLines({ op: "sort", n: 3, m: 3, limit: 90, indexHints: true });
  for (const l of lines) assert.match(l, /=/);
  assert(lines.some((l) => /:\D\d\D\d/u.test(l)));
});

Deno.test("or: every case once, one-hot answer at the operands' index", () => {
  const lines = sampleLines({ op: "or", n: 4, m: 3 });
  assert.equal(lines.length, 3 + 5 + 6 + 6); // sum of min(i, j) over i <= 4, j <= 3
  assert.equal(new Set(lines).size < lines.length, false);
  for (const l of lines) {
    const m = /^([01]+)\+([01]+)=([01]+)$/.exec(l);
    assert(m, l);
    const [a, b, c] = [m[1], m[2], m[3]];
    assert.equal(c.length, Math.max(a.length, b.length));
    const hot = (s: string) => [...s].flatMap((ch, k) => (ch === "1" ? [k] : []));
    const ha = hot(a), hb = hot(b), hc = hot(c);
    assert.equal(ha.length + hb.length, 1, l);
    assert.deepEqual(hc, [...ha, ...hb], l);
    if (a.length !== b.length) assert.equal(ha.length === 1, a.length < b.length, l);
  }
});

Deno.test("or: max keeps a random subset; exact keeps only (n, m)", () => {
  const all = new Set(sampleLines({ op: "or", n: 5, m: 5 }));
  const some = sampleLines({ op: "or", n: 5, m: 5, max: 7 });
  assert.equal(some.length, 7);
  for (const l of some) assert(all.has(l));
  for (const l of sampleLines({ op: "or", n: 3, m: 6, exact: true })) {
    assert.match(l, /^[01]{3}\+[01]{6}=[01]{6}$/);
  }
});
