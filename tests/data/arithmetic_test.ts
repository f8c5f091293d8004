// Tests of the arithmetic generators on generated samples: bucket balance, exact digit counts
// without leading zeros, answers checked with BigInt after un-reversing, hints, spaces and the
// multiplication scratchpad.

import assert from "node:assert/strict";
import { CHAR_SET } from "../../data/tokenizer.ts";
import { oracle, rev, sampleLines, splitArith } from "./_helpers.ts";
import { DataError, maxSampleChars, resolveSpec } from "../../data/spec.ts";

for (const op of ["+", "-", "x"] as const) {
  Deno.test(`bucket ${op}: equal pair counts, exact digits, no leading zeros, right answers`, () => {
    const n = 4, m = 3, per = 30;
    const lines = sampleLines({ op, n, m, limit: n * m * per, reverseAll: true, seed: 1 });
    const counts = new Map<string, number>();
    for (const line of lines) {
      const [ra, rb, rc] = splitArith(line, op);
      const a = rev(ra), b = rev(rb), c = rev(rc);
      assert(a[0] !== "0" && b[0] !== "0", `leading zero in ${line}`);
      assert(a.length <= n && b.length <= m);
      const key = `${a.length},${b.length}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      assert.deepEqual(c, oracle(op, a, b), line);
    }
    assert.deepEqual(counts.size, n * m);
    for (const v of counts.values()) assert.deepEqual(v, per);
  });
}

Deno.test("bucket method spreads a remainder over the first pairs in upstream order", () => {
  const lines = sampleLines({ op: "+", n: 2, m: 2, limit: 10 });
  const counts: Record<string, number> = {};
  for (const l of lines) {
    const [a, b] = splitArith(l, "+");
    counts[`${a.length},${b.length}`] = (counts[`${a.length},${b.length}`] ?? 0) + 1;
  }
  assert.deepEqual(counts, { "1,1": 3, "1,2": 3, "2,1": 2, "2,2": 2 });
});

Deno.test("bucket order is shuffled, not cycling", () => {
  const lines = sampleLines({ op: "+", n: 3, m: 3, limit: 90 });
  const firstNine = lines.slice(0, 9).map((l) =>
    splitArith(l, "+").slice(0, 2).map((s) => s.length).join()
  );
  assert(new Set(firstNine).size < 9 || firstNine.join() !== "1,1,1,2,1,3,2,1,2,2,2,3,3,1,3,2,3,3");
});

Deno.test("keep0ForLen1 allows 0 only as a 1-digit operand", () => {
  const lines = sampleLines({ op: "+", n: 2, m: 2, limit: 4000, keep0ForLen1: true });
  assert(lines.some((l) => l.startsWith("0+")));
  for (const l of lines) {
    const [a, b] = splitArith(l, "+");
    assert(!(a.length > 1 && a[0] === "0") && !(b.length > 1 && b[0] === "0"), l);
  }
});

Deno.test("reverseAnswer reverses only the answer; subtraction keeps upstream's sign placement", () => {
  for (const l of sampleLines({ op: "-", n: 3, m: 3, limit: 300, reverseAnswer: true })) {
    const [a, b, rc] = splitArith(l, "-");
    assert.deepEqual(rev(rc), oracle("-", a, b), l);
  }
  for (const l of sampleLines({ op: "-", n: 2, m: 3, limit: 300 })) {
    const [a, b, c] = splitArith(l, "-");
    assert.deepEqual(c, oracle("-", a, b), l);
  }
});

Deno.test("plain sampling: exact gives exactly n and m digits; otherwise values in [0, 10^n)", () => {
  for (
    const l of sampleLines({ op: "x", method: "sample", n: 5, m: 2, numSamples: 200, exact: true })
  ) {
    const [a, b, c] = splitArith(l, "x");
    assert.deepEqual([a.length, b.length], [5, 2]);
    assert(a[0] !== "0" && b[0] !== "0");
    assert.deepEqual(c, oracle("x", a, b));
  }
  const loose = sampleLines({ op: "+", method: "sample", n: 2, m: 2, numSamples: 500 });
  assert(loose.some((l) => splitArith(l, "+")[0].length === 1));
});

Deno.test("index hints precede every character with consecutive cyclic symbols", () => {
  const lines = sampleLines({
    op: "+",
    n: 4,
    m: 4,
    limit: 200,
    reverseAll: true,
    indexHints: true,
  });
  for (const line of lines) {
    const [left, c] = line.split("=");
    const [a, b] = left.split("+");
    const strip = (s: string) => {
      const cs = [...s];
      const hints = cs.filter((_, k) => k % 2 === 0), digits = cs.filter((_, k) => k % 2 === 1);
      return { hints, digits: digits.join("") };
    };
    const pa = strip(a), pb = strip(b), pc = strip(c);
    assert.deepEqual(rev(pc.digits), oracle("+", rev(pa.digits), rev(pb.digits)), line);
    const start = CHAR_SET.indexOf(pa.hints[0]);
    for (const p of [pa, pb, pc]) {
      p.hints.forEach((h, k) => assert.deepEqual(h, CHAR_SET[(start + k) % CHAR_SET.length], line));
    }
  }
});

Deno.test("random spaces appear with p > 0 and removing them gives a valid sample", () => {
  const lines = sampleLines({ op: "+", n: 3, m: 3, limit: 500, p: 0.3, reverseAll: true });
  assert(lines.filter((l) => l.includes(" ")).length > 100);
  for (const l of lines) {
    const [a, b, c] = splitArith(l.replaceAll(" ", ""), "+");
    assert.deepEqual(rev(c), oracle("+", rev(a), rev(b)));
  }
});

Deno.test("scratchpad: p_k = a * b_k * 10^k with its zeros, written like the answer, sum to c", () => {
  for (const dir of ["all", "answer", "none"] as const) {
    const flags = { reverseAll: dir === "all", reverseAnswer: dir === "answer" };
    const spec = { op: "x" as const, n: 3, m: 4, limit: 600, scratchpad: true, seed: 3, ...flags };
    let longest = 0;
    for (const line of sampleLines(spec)) {
      longest = Math.max(longest, line.length);
      const m = /^(\d+)x(\d+)=([\d+]+)=(\d+)$/.exec(line);
      assert(m, line);
      const a = dir === "all" ? rev(m[1]) : m[1], b = dir === "all" ? rev(m[2]) : m[2];
      const parts = m[3].split("+").map((p) => (dir === "none" ? p : rev(p)));
      assert.deepEqual(parts.length, b.length, line);
      parts.forEach((p, k) => {
        const bk = b[b.length - 1 - k];
        // The product's own digits (no leading zero unless it is 0), then exactly k zeros.
        assert.deepEqual(p, oracle("x", a, bk) + "0".repeat(k), `${line}: p${k}`);
      });
      const c = dir === "none" ? m[4] : rev(m[4]);
      assert.deepEqual(c, oracle("x", a, b), line);
    }
    // The row-length rule is exact: 3 x 4 digits can reach its bound (3+1+4+1+4+5+6+7+3+1+7).
    assert.deepEqual(longest, maxSampleChars(resolveSpec(spec)));
  }
});

Deno.test("scratchpad is refused for anything but multiplication, with one line", () => {
  for (const op of ["+", "-", "sort", "or"] as const) {
    assert.throws(
      () => resolveSpec({ op, scratchpad: true }),
      (e: Error) =>
        e instanceof DataError && /scratchpad: it is for multiplication/.test(e.message),
    );
  }
});
