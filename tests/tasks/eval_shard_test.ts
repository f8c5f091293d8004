// Sharding of evaluation cells: every cell in exactly one shard for several N, nearly equal
// decoding cost per shard, the same split on every call, and one-line errors for bad values.

import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { cellCost, type EvalCell, resolveGrid } from "../../tasks/eval/grids.ts";
import { resolveShard, splitCells } from "../../tasks/eval/shard.ts";

const GRID = resolveGrid({ grid: "1..100x1..100" }).cells;
const cost = (c: EvalCell) => cellCost("addition", c);

for (const n of [1, 2, 3, 7, 20]) {
  Deno.test(`splitCells() covers the 100x100 grid exactly once with ${n} shards`, () => {
    const seen = new Map<string, number>();
    const loads: number[] = [];
    for (const piece of splitCells(GRID, n, cost)) {
      loads.push(piece.reduce((a, c) => a + cost(c), 0));
      for (const c of piece) seen.set(`${c.i},${c.j}`, (seen.get(`${c.i},${c.j}`) ?? 0) + 1);
    }
    strictEqual(seen.size, GRID.length);
    ok([...seen.values()].every((v) => v === 1));
    const maxCell = Math.max(...GRID.map(cost));
    const spread = Math.max(...loads) - Math.min(...loads);
    ok(spread <= maxCell, `spread ${spread} exceeds the largest cell ${maxCell}`);
    ok(Math.max(...loads) / Math.min(...loads) < 1.01, `loads ${loads}`);
  });
}

Deno.test("splitCells() is deterministic and keeps the input order within a piece", () => {
  const a = splitCells(GRID, 7, cost), b = splitCells(GRID, 7, cost);
  deepStrictEqual(a, b);
  for (const piece of a) {
    for (let k = 1; k < piece.length; k++) {
      const p = piece[k - 1], c = piece[k];
      ok(p.i < c.i || (p.i === c.i && p.j < c.j));
    }
  }
});

Deno.test("splitCells() handles more shards than cells and uneven costs", () => {
  const cells = resolveGrid({ grid: "1..3x1" }).cells;
  const pieces = splitCells(cells, 5, (c) => c.i);
  deepStrictEqual(pieces.map((p) => p.length), [1, 1, 1, 0, 0]);
  const heavy = splitCells(
    resolveGrid({ grid: "1..10x1" }).cells,
    2,
    (c) => (c.i === 10 ? 100 : 1),
  );
  deepStrictEqual(heavy.map((p) => p.length), [1, 9]);
});

Deno.test("resolveShard() reads k/N and rejects bad values with one line", () => {
  deepStrictEqual(resolveShard("1/1", () => undefined), { index: 1, count: 1 });
  deepStrictEqual(resolveShard(" 20/20 ", () => undefined), { index: 20, count: 20 });
  for (const bad of ["0/3", "4/3", "3", "a/b", "1/0", "-1/3", "1/2/3"]) {
    throws(() => resolveShard(bad, () => undefined), (e: Error) => {
      strictEqual(e.message, `Cannot parse shard "${bad}": expected k/N with 1 <= k <= N`);
      return true;
    });
  }
});
