import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import { backward } from "../../core/ops/backward.ts";
import { crossEntropy } from "../../core/ops/loss.ts";
import { CPU } from "../../core/backend.ts";
import { Tensor } from "../../core/tensor.ts";
import { gpuTest, maybeDevice, randArray, randInts } from "../kernels/_harness.ts";
import { assertFiniteDiff, assertSameRuns, type Leaf, runGraph } from "./_grad_both.ts";

function leaves(rows: number, classes: number, seed: number, lead = [rows]): Leaf[] {
  const t = randInts(rows, seed, classes);
  for (let r = 0; r < rows; r += 3) t[r] = -100;
  return [
    { data: randArray(rows * classes, seed, -4, 4), shape: [...lead, classes] },
    { data: t, shape: lead, dtype: "i32", grad: false },
  ];
}

Deno.test({
  name: "crossEntropy() agrees on cpu and webgpu for mean and none, values and gradients",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const live = dev.pool.live;
    for (const reduction of ["mean", "none"] as const) {
      for (
        const [rows, classes, lead] of [[1, 1, [1]], [7, 19, [7]], [12, 121, [3, 4]], [5, 700, [
          5,
        ]]] as [number, number, number[]][]
      ) {
        const ls = leaves(rows, classes, rows + classes, lead);
        const build = ([x, t]: Tensor[]) => crossEntropy(x, t, { reduction });
        const what = `crossEntropy ${reduction} [${lead}, ${classes}]`;
        const cpu = await runGraph(CPU, ls, build);
        assertSameRuns(await runGraph(dev, ls, build), cpu, what, 1e-5);
        assertEquals(cpu.shape, reduction === "mean" ? [] : lead);
      }
    }
    assertEquals(dev.pool.live, live);
  },
});

Deno.test("crossEntropy() gradient matches finite differences on the cpu backend", async () => {
  for (const reduction of ["mean", "none"] as const) {
    await assertFiniteDiff(
      leaves(5, 4, 1),
      ([x, t]) => crossEntropy(x, t, { reduction }),
      reduction,
    );
  }
  // A pad class inside the vocabulary as the ignore index.
  const custom = leaves(6, 3, 2);
  custom[1] = { ...custom[1], data: Int32Array.from(custom[1].data, (v) => (v < 0 ? 1 : v)) };
  await assertFiniteDiff(
    custom,
    ([x, t]) => crossEntropy(x, t, { ignoreIndex: 1 }),
    "ignoreIndex 1",
  );
});

Deno.test({
  name: "crossEntropy() is 0 with zero gradients when every target is ignored",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const backend of [CPU, dev]) {
      const x = Tensor.fromArray(randArray(8, 1), [2, 4], { backend });
      x.requiresGrad = true;
      const t = Tensor.fromArray([-100, -100], [2], { dtype: "i32", backend });
      const loss = crossEntropy(x, t);
      assertEquals([...await loss.toArray()], [0]);
      backward(loss);
      assertEquals([...await x.grad!.toArray()], new Array(8).fill(0));
      for (const v of [x, x.grad!, t, loss]) v.dispose();
    }
  },
});

Deno.test("crossEntropy() checks shapes, dtypes and targets with clear errors", () => {
  const x = Tensor.fromArray(new Float32Array(6), [2, 3], { backend: CPU });
  const t = (v: number[], dtype: "i32" | "f32" = "i32") =>
    Tensor.fromArray(v, [v.length], { dtype, backend: CPU });
  throws(
    () => crossEntropy(x, t([0, 1, 2])),
    /^Error: Cannot take cross-entropy of logits \[2, 3\] with targets \[3\]: expected one target per row of classes$/,
  );
  throws(() => crossEntropy(x, t([0, 1], "f32")), /dtype f32: expected i32 or u32/);
  throws(() => crossEntropy(x, t([0, 3])), /target 3 of row 1 is outside \[0, 3\)/);
  ok(crossEntropy(x, t([0, 1]), { reduction: "none" }).shape[0] === 2);
});
