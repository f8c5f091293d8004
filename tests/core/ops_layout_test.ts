import { deepStrictEqual, throws } from "node:assert/strict";
import { backward } from "../../core/ops/backward.ts";
import { concat, permute, slice, transpose } from "../../core/ops/layout.ts";
import { type Backend, CPU } from "../../core/backend.ts";
import { Tensor } from "../../core/tensor.ts";
import { permuteKernel, sliceBackwardKernel } from "../../kernels/layout.ts";
import { assertClose, gpuTest, maybeDevice, randArray } from "../kernels/_harness.ts";

const prod = (s: number[]) => s.reduce((p, d) => p * d, 1);

/** Runs `f` on leaf inputs, back-propagates a random seed; returns output, seed and gradients. */
async function run(backend: Backend, shapes: number[][], f: (xs: Tensor[]) => Tensor) {
  const xs = shapes.map((s, i) => {
    const t = Tensor.fromArray(randArray(prod(s), 10 + i), s, { backend });
    t.requiresGrad = true;
    return t;
  });
  const out = f(xs);
  const y = await out.toArray() as Float32Array;
  const seed = randArray(out.size, 99);
  backward(out, Tensor.fromArray(seed, out.shape, { backend }));
  const grads: Float32Array[] = [];
  for (const t of xs) {
    grads.push(await t.grad!.toArray() as Float32Array);
    t.grad!.dispose();
    t.dispose();
  }
  const shape = [...out.shape];
  out.dispose();
  return { y, seed, grads, shape };
}

const CASES: [string, number[][], (xs: Tensor[]) => Tensor][] = [
  ["permute", [[2, 3, 5, 4]], ([x]) => permute(x, [0, 2, 1, 3])],
  ["permute odd", [[3, 5, 7]], ([x]) => permute(x, [2, 0, 1])],
  ["transpose", [[5, 1, 3]], ([x]) => transpose(x, 0, -1)],
  ["slice", [[3, 7, 5]], ([x]) => slice(x, 1, 2, 4)],
  ["slice last", [[4, 9]], ([x]) => slice(x, -1, 8, 1)],
  ["concat", [[2, 3, 5], [2, 1, 5], [2, 4, 5]], (xs) => concat(xs, 1)],
  ["concat last", [[3, 4], [3, 8]], (xs) => concat(xs, -1)],
];

Deno.test("permute(), slice() and concat() gradients on the cpu backend match the references", async () => {
  const p = await run(CPU, [[3, 5, 7]], ([x]) => permute(x, [2, 0, 1]));
  const dA = new Float32Array(105);
  // The gradient of a permutation is the inverse permutation of the output's gradient (7, 3, 5).
  permuteKernel.cpu({ a: p.seed, out: dA, shape: [7, 3, 5], perm: [1, 2, 0] });
  assertClose(p.grads[0], dA, 0, "permute");
  const s = await run(CPU, [[3, 7, 5]], ([x]) => slice(x, 1, 2, 4));
  const dS = new Float32Array(105);
  sliceBackwardKernel.cpu({ a: s.seed, out: dS, outer: 3, dim: 7, inner: 5, start: 2, length: 4 });
  assertClose(s.grads[0], dS, 0, "slice");
  const c = await run(CPU, [[2, 3, 5], [2, 1, 5], [2, 4, 5]], (xs) => concat(xs, 1));
  // Each input's gradient is its slice of the output's gradient along axis 1.
  const parts = [[0, 3], [3, 1], [4, 4]].map(([start, length]) =>
    Float32Array.from({ length: 2 * length * 5 }, (_, k) => {
      const o = Math.floor(k / (length * 5)), r = k % (length * 5);
      return c.seed[o * 40 + start * 5 + r];
    })
  );
  c.grads.forEach((g, i) => assertClose(g, parts[i], 0, `concat part ${i}`));
  deepStrictEqual(c.shape, [2, 8, 5]);
});

Deno.test({
  name: "permute(), transpose(), slice() and concat() agree on cpu and webgpu, gradients too",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const [name, shapes, f] of CASES) {
      const cpu = await run(CPU, shapes, f), gpu = await run(dev, shapes, f);
      deepStrictEqual(gpu.shape, cpu.shape);
      assertClose(gpu.y, cpu.y, 0, name);
      gpu.grads.forEach((g, i) => assertClose(g, cpu.grads[i], 0, `${name} grad ${i}`));
    }
  },
});

Deno.test({
  name: "slice() and concat() copy i32 ids on both backends",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const backend of [CPU, dev] as Backend[]) {
      const a = Tensor.fromArray([1, -2, 3, 4, 5, -6], [2, 3], { dtype: "i32", backend });
      const b = Tensor.fromArray([7, 8], [2, 1], { dtype: "i32", backend });
      const c = concat([slice(a, 1, 1, 2), b], 1);
      deepStrictEqual(c.dtype, "i32");
      deepStrictEqual([...await c.toArray()], [-2, 3, 7, 5, -6, 8]);
      deepStrictEqual([...await transpose(c, 0, 1).toArray()], [-2, 5, 3, -6, 7, 8]);
    }
  },
});

Deno.test("permute(), slice() and concat() reject bad arguments with clear errors", () => {
  const x = Tensor.fromArray(randArray(6, 1), [2, 3], { backend: CPU });
  throws(() => permute(x, [0, 0]), /Cannot permute shape \[2, 3\] by \[0, 0\]/);
  throws(() => transpose(x, 0, 2), /Cannot transpose shape \[2, 3\] along axis 2: it has 2 axes/);
  throws(() => slice(x, 1, 2, 2), /Cannot slice \[2, 4\) from axis 1 of shape \[2, 3\]/);
  const y = Tensor.fromArray(randArray(4, 1), [4, 1], { backend: CPU });
  throws(() => concat([x, y], 1), /Cannot concat shapes \[2, 3\] \(f32\) and \[4, 1\] \(f32\)/);
  throws(() => concat([], 0), /empty list/);
});
