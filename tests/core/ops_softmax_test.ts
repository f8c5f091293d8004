import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { softmax } from "../../core/ops/softmax.ts";
import { CPU } from "../../core/backend.ts";
import { Tensor } from "../../core/tensor.ts";
import { gpuTest, maybeDevice, randArray } from "../kernels/_harness.ts";
import { assertFiniteDiff, assertSameRuns, runGraph } from "./_grad_both.ts";

Deno.test({
  name: "softmax() agrees on cpu and webgpu, values and gradients",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const live = dev.pool.live;
    for (const shape of [[1], [1, 19], [4, 1], [3, 5, 23], [2, 600]]) {
      const n = shape.reduce((p, d) => p * d, 1);
      const leaves = [{ data: randArray(n, n, -4, 4), shape }];
      const build = ([x]: Tensor[]) => softmax(x);
      const what = `softmax([${shape}])`;
      assertSameRuns(
        await runGraph(dev, leaves, build),
        await runGraph(CPU, leaves, build),
        what,
        1e-5,
      );
    }
    assertEquals(dev.pool.live, live);
  },
});

Deno.test("softmax() gradient matches finite differences on the cpu backend", async () => {
  await assertFiniteDiff(
    [{ data: randArray(15, 2, -2, 2), shape: [3, 5] }],
    ([x]) => softmax(x),
    "softmax",
  );
});

Deno.test("softmax() rows sum to one and scalars are rejected", async () => {
  const y = await softmax(Tensor.fromArray(randArray(12, 1, -9, 9), [3, 4], { backend: CPU }))
    .toArray();
  for (let r = 0; r < 3; r++) {
    const s = y[4 * r] + y[4 * r + 1] + y[4 * r + 2] + y[4 * r + 3];
    if (Math.abs(s - 1) > 1e-6) throw new Error(`row ${r} sums to ${s}`);
  }
  throws(
    () => softmax(Tensor.fromArray([1], [], { backend: CPU })),
    /Cannot softmax a tensor of shape \[\]/,
  );
});
