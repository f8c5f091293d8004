import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { fireDistances } from "../../core/ops/fire.ts";
import { CPU } from "../../core/backend.ts";
import { Tensor } from "../../core/tensor.ts";
import { gpuTest, maybeDevice } from "../kernels/_harness.ts";
import { assertFiniteDiff, assertSameRuns, type Leaf, runGraph } from "./_grad_both.ts";

/** Leaves: positions (no gradient), c, L_multiplier. */
function leaves(positions: number[], c: number, l: number): Leaf[] {
  return [
    { data: positions, shape: [positions.length], grad: false },
    { data: [c], shape: [1] },
    { data: [l], shape: [1] },
  ];
}

const seq = (S: number, step = 1, from = 0) => Array.from({ length: S }, (_, i) => from + i * step);

Deno.test({
  name: "fireDistances() agrees on cpu and webgpu, values and gradients",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const live = dev.pool.live;
    const cases: [number[], number, number, number | undefined][] = [
      [seq(1), 0.1, 1, undefined],
      [seq(9), 0.1, 1, undefined],
      [seq(13, 97, 3), 0.2, 1.4, undefined], // positions on both sides of |L init_L|
      [seq(11, 3), -0.15, 0.7, 4], // last 4 rows
    ];
    for (const [pos, c, l, rows] of cases) {
      const build = ([p, cc, ll]: Tensor[]) => fireDistances(p, { c: cc, lMult: ll, rows });
      const ls = leaves(pos, c, l);
      const what = `fireDistances S=${pos.length} rows=${rows ?? pos.length}`;
      assertSameRuns(await runGraph(dev, ls, build), await runGraph(CPU, ls, build), what);
    }
    assertEquals(dev.pool.live, live);
  },
});

Deno.test("fireDistances() gradients of c and L_multiplier match finite differences", async () => {
  for (const [pos, c, l] of [[seq(7), 0.1, 1], [seq(9, 130, 11), 0.3, 1.2]] as const) {
    await assertFiniteDiff(
      leaves([...pos], c, l),
      ([p, cc, ll]) => fireDistances(p, { c: cc, lMult: ll }),
      `fireDistances S=${pos.length}`,
      1e-3,
      2e-2,
    );
  }
});

Deno.test("fireDistances() rejects bad positions, scalars and rows", () => {
  const t = (d: number[], s: number[]) => Tensor.fromArray(d, s, { backend: CPU });
  const c = t([0.1], [1]), l = t([1], [1]);
  throws(
    () => fireDistances(t([0, 1, 2, 3], [2, 2]), { c, lMult: l }),
    /^Error: Cannot compute FIRE distances of positions \[2, 2\]: expected \(S\)$/,
  );
  throws(
    () => fireDistances(t([0, 1], [2]), { c: t([1, 2], [2]), lMult: l }),
    /^Error: Cannot use FIRE's c of shape \[2\]: expected 1 value$/,
  );
  throws(
    () => fireDistances(t([0, 1], [2]), { c, lMult: l, rows: 3 }),
    /^Error: Cannot compute 3 rows of FIRE distances over 2 positions$/,
  );
});
