import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { argmax, max, mean, meanAll, sum, sumAll } from "../../core/ops/reduce.ts";
import { CPU } from "../../core/backend.ts";
import { Tensor } from "../../core/tensor.ts";
import { gpuTest, maybeDevice, randArray } from "../kernels/_harness.ts";
import { assertFiniteDiff, assertSameRuns, runGraph } from "./_grad_both.ts";

const CASES: [string, (x: Tensor) => Tensor][] = [
  ["sum", (x) => sum(x)],
  ["mean", (x) => mean(x)],
  ["max", (x) => max(x)],
  ["sum keepDim", (x) => sum(x, { keepDim: true })],
  ["max keepDim", (x) => max(x, { keepDim: true })],
  ["sumAll", sumAll],
  ["meanAll", meanAll],
];
const SHAPES = [[1], [7], [3, 1], [5, 19], [2, 3, 300]];

Deno.test({
  name: "sum(), mean(), max(), sumAll(), meanAll() agree on cpu and webgpu, values and gradients",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const live = dev.pool.live;
    for (const [name, op] of CASES) {
      for (const shape of SHAPES) {
        const n = shape.reduce((p, d) => p * d, 1);
        const leaves = [{ data: randArray(n, n), shape }];
        const build = ([x]: Tensor[]) => op(x);
        const what = `${name}([${shape}])`;
        assertSameRuns(
          await runGraph(dev, leaves, build),
          await runGraph(CPU, leaves, build),
          what,
        );
      }
    }
    assertEquals(dev.pool.live, live);
  },
});

Deno.test("reduction gradients match finite differences on the cpu backend", async () => {
  for (const [name, op] of CASES) {
    await assertFiniteDiff([{ data: randArray(12, 3), shape: [3, 4] }], ([x]) => op(x), name);
  }
});

Deno.test("sum() and friends produce the documented shapes", () => {
  const x = Tensor.fromArray(new Float32Array(24), [2, 3, 4], { backend: CPU });
  assertEquals(sum(x).shape, [2, 3]);
  assertEquals(mean(x, { keepDim: true }).shape, [2, 3, 1]);
  assertEquals(argmax(x).shape, [2, 3]);
  assertEquals(sumAll(x).shape, []);
  assertEquals(sum(Tensor.fromArray([1, 2], [2], { backend: CPU })).shape, []);
  throws(() => sum(sumAll(x)), /^Error: Cannot sum a tensor of shape \[\]: it has no last axis$/);
  throws(
    () => max(Tensor.fromArray([], [2, 0], { backend: CPU })),
    /^Error: Cannot max shape \[2, 0\]: the last axis is empty$/,
  );
});

Deno.test({
  name: "argmax() agrees on cpu and webgpu and picks the first maximum",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const data = [1, 7, 7, 0, 5, 5, 5, 2, -1, -3, -1, -2];
    for (const backend of [CPU, dev]) {
      const x = Tensor.fromArray(data, [3, 4], { backend });
      const i = argmax(x);
      assertEquals(i.dtype, "i32");
      assertEquals([...await i.toArray()], [1, 0, 0]);
      x.dispose(), i.dispose();
    }
    const long = randArray(3 * 700, 9);
    const got = await runGraph(dev, [{ data: long, shape: [3, 700] }], ([x]) => argmax(x));
    const want = await runGraph(CPU, [{ data: long, shape: [3, 700] }], ([x]) => argmax(x));
    assertEquals([...got.out], [...want.out]);
  },
});
