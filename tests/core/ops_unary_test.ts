import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { exp, gelu, log, neg, relu, tanh } from "../../core/ops/unary.ts";
import { CPU } from "../../core/backend.ts";
import { Tensor } from "../../core/tensor.ts";
import { gpuTest, maybeDevice, randArray } from "../kernels/_harness.ts";
import { assertFiniteDiff, assertSameRuns, type Leaf, runGraph } from "./_grad_both.ts";

const OPS: Record<string, (x: Tensor) => Tensor> = { exp, log, neg, relu, tanh, gelu };

function leafFor(name: string, shape: number[]): Leaf {
  const n = shape.reduce((p, d) => p * d, 1);
  return { data: name === "log" ? randArray(n, n, 0.1, 5) : randArray(n, n, -3, 3), shape };
}

Deno.test({
  name: "exp(), log(), neg(), relu(), tanh(), gelu() agree on cpu and webgpu, values and gradients",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const live = dev.pool.live;
    for (const [name, op] of Object.entries(OPS)) {
      for (const shape of [[1], [3, 7], [2, 4, 16]]) {
        const leaves = [leafFor(name, shape)];
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

Deno.test("unary op gradients match finite differences on the cpu backend", async () => {
  for (const [name, op] of Object.entries(OPS)) {
    if (name === "relu") continue; // kink at 0: covered by the kernel-level float64 check
    await assertFiniteDiff([leafFor(name, [2, 5])], ([x]) => op(x), name, 1e-2, 2e-2);
  }
  // relu: away from the kink, the gradient is the indicator.
  const x = [{ data: [-2, -0.5, 0.5, 2], shape: [4] }];
  await assertFiniteDiff(x, ([t]) => relu(t), "relu");
});

Deno.test("gelu() rejects integer tensors", () => {
  throws(
    () => gelu(Tensor.fromArray([1], [1], { dtype: "i32", backend: CPU })),
    /^Error: Cannot gelu a tensor of dtype i32: expected f32$/,
  );
});
