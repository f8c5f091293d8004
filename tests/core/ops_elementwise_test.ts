import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { backward } from "../../core/ops/backward.ts";
import { add, addInto, axpby, div, mul, scale, sub } from "../../core/ops/elementwise.ts";
import { sumAll } from "../../core/ops/reduce.ts";
import { CPU } from "../../core/backend.ts";
import { Tensor } from "../../core/tensor.ts";
import { assertClose, gpuTest, maybeDevice, randArray } from "../kernels/_harness.ts";
import { assertFiniteDiff, assertSameRuns, type Leaf, runGraph } from "./_grad_both.ts";

const BINARY = { add, sub, mul, div };
// [shape of a, shape of b]: same shape, suffix, scalar of rank 0 and 1, a broadcast.
const PAIRS: [number[], number[]][] = [
  [[3, 5], [3, 5]],
  [[3, 5], [5]],
  [[2, 3, 7], [3, 7]],
  [[4, 3], []],
  [[1], [9]],
  [[6], [5, 6]],
  [[64, 8], [8]],
];

function leavesFor(sa: number[], sb: number[], seed: number): Leaf[] {
  const na = sa.reduce((p, d) => p * d, 1), nb = sb.reduce((p, d) => p * d, 1);
  const b = randArray(nb, seed + 1, 0.5, 2);
  for (let i = 0; i < nb; i += 2) b[i] = -b[i];
  return [{ data: randArray(na, seed), shape: sa }, { data: b, shape: sb }];
}

Deno.test({
  name: "add(), sub(), mul(), div() agree on cpu and webgpu, values and gradients",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const live = dev.pool.live;
    for (const [name, op] of Object.entries(BINARY)) {
      for (const [sa, sb] of PAIRS) {
        const leaves = leavesFor(sa, sb, sa.length * 10 + sb.length);
        const build = ([a, b]: Tensor[]) => op(a, b);
        const what = `${name}([${sa}], [${sb}])`;
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

Deno.test("add(), sub(), mul(), div() gradients match finite differences on the cpu backend", async () => {
  for (const [name, op] of Object.entries(BINARY)) {
    for (const [sa, sb] of [[[2, 3], [3]], [[4], []], [[2], [3, 2]]] as [number[], number[]][]) {
      await assertFiniteDiff(
        leavesFor(sa, sb, 3),
        ([a, b]) => op(a, b),
        `${name}([${sa}], [${sb}])`,
      );
    }
  }
});

Deno.test("add() broadcasts to the larger shape and rejects incompatible shapes", () => {
  const t = (shape: number[]) =>
    Tensor.fromArray(new Float32Array(shape.reduce((p, d) => p * d, 1)), shape, { backend: CPU });
  assertEquals(add(t([2, 3]), t([3])).shape, [2, 3]);
  assertEquals(add(t([3]), t([2, 3])).shape, [2, 3]);
  assertEquals(mul(t([]), t([4, 1])).shape, [4, 1]);
  throws(
    () => add(t([2, 3]), t([2])),
    /^Error: Cannot add shapes \[2, 3\] and \[2\]: one must equal the other's trailing dimensions or be a scalar$/,
  );
  throws(
    () => sub(t([2]), Tensor.fromArray([1, 2], [2], { dtype: "i32", backend: CPU })),
    /dtype i32/,
  );
});

Deno.test({
  name: "add() rejects tensors on different backends",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const a = Tensor.fromArray([1], [1], { backend: CPU }),
      b = Tensor.fromArray([1], [1], { backend: dev });
    throws(() => add(a, b), /^Error: Cannot add tensors on different backends \(cpu and webgpu\)$/);
    b.dispose();
  },
});

Deno.test({
  name: "scale() and axpby() agree on cpu and webgpu, values and gradients",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const leaves: Leaf[] = [{ data: randArray(37, 1), shape: [37] }, {
      data: randArray(37, 2),
      shape: [37],
    }];
    const builds: [string, (ts: Tensor[]) => Tensor][] = [
      ["scale", ([a]) => scale(a, -1.75)],
      ["axpby", ([a, b]) => axpby(a, b, 0.3, -2)],
    ];
    for (const [what, build] of builds) {
      assertSameRuns(await runGraph(dev, leaves, build), await runGraph(CPU, leaves, build), what);
      await assertFiniteDiff(leaves, build, what);
    }
    throws(
      () =>
        axpby(
          Tensor.fromArray([1], [1], { backend: CPU }),
          Tensor.fromArray([1, 2], [2], { backend: CPU }),
          1,
          1,
        ),
      /Cannot axpby shapes \[1\] and \[2\]: shapes differ/,
    );
  },
});

Deno.test({
  name: "addInto() adds in place on both backends without recording",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const hd = randArray(1001, 5), hs = randArray(1001, 6);
    for (const backend of [CPU, dev]) {
      const dst = Tensor.fromArray(hd, [7, 143], { backend });
      const src = Tensor.fromArray(hs, [1001], { backend });
      src.requiresGrad = true;
      addInto(dst, src);
      assertEquals(dst.node, null);
      const want = hd.map((v, i) => v + hs[i]);
      assertClose(await dst.toArray(), want, 1e-6, `addInto on ${backend.kind}`);
      throws(
        () => addInto(dst, Tensor.fromArray([1], [1], { backend })),
        /Cannot add \[1\] into \[7, 143\]: sizes differ/,
      );
      dst.dispose(), src.dispose();
    }
  },
});

Deno.test("add() gradients of two leaves stay independent across accumulated backward passes", async () => {
  const a = Tensor.fromArray([1, 2, 3], [3], { backend: CPU });
  const b = Tensor.fromArray([4, 5, 6], [3], { backend: CPU });
  a.requiresGrad = b.requiresGrad = true;
  // (backward outside scope(): leaf gradients made inside a scope are disposed with it)
  for (let k = 0; k < 2; k++) backward(sumAll(add(a, b)));
  assertEquals([...await a.grad!.toArray()], [2, 2, 2]);
  assertEquals([...await b.grad!.toArray()], [2, 2, 2]);
  // x used twice: gradients from both uses add up (d(x*x)/dx = 2x).
  const x = Tensor.fromArray([3, -1], [2], { backend: CPU });
  x.requiresGrad = true;
  backward(sumAll(mul(x, x)));
  assertEquals([...await x.grad!.toArray()], [6, -2]);
});
