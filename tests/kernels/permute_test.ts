import { deepStrictEqual } from "node:assert/strict";
import { permuteKernel } from "../../kernels/layout.ts";
import {
  assertClose,
  gpuTest,
  maybeDevice,
  poisoned,
  randArray,
  randInts,
  readF32,
  readI32,
  release,
  upload,
} from "./_harness.ts";

const prod = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);

// [input shape, permutation]: odd sizes, size-1 axes, mergeable runs, vec4 inner runs.
const PERMS: [number[], number[]][] = [
  [[1], [0]],
  [[7], [0]],
  [[3, 5], [1, 0]],
  [[1, 9], [1, 0]],
  [[2, 3, 5, 7], [0, 2, 1, 3]],
  [[2, 3, 5, 8], [0, 2, 1, 3]],
  [[3, 1, 4, 5], [3, 2, 1, 0]],
  [[5, 3, 2, 7], [2, 0, 3, 1]],
  [[2, 3, 4, 5], [1, 2, 3, 0]],
  [[2, 5, 3, 4, 8], [2, 0, 3, 1, 4]],
  [[17, 33], [0, 1]],
];

Deno.test("permuteKernel.cpu() moves each element to its permuted index", () => {
  const shape = [2, 3, 4], perm = [2, 0, 1];
  const a = Float32Array.from({ length: 24 }, (_, i) => i);
  const out = new Float32Array(24);
  permuteKernel.cpu({ a, out, shape, perm });
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 3; j++) {
      for (let k = 0; k < 4; k++) deepStrictEqual(out[k * 6 + i * 3 + j], a[i * 12 + j * 4 + k]);
    }
  }
});

Deno.test({
  name: "permuteKernel.gpu() matches the CPU reference on odd shapes",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const [shape, perm] of PERMS) {
      const n = prod(shape), what = `permute [${shape}] by [${perm}]`;
      const a = randArray(n, n + perm[0]);
      const ab = upload(dev, a), out = poisoned(dev, n);
      permuteKernel.gpu(dev, { a: ab, out, shape, perm });
      const want = new Float32Array(n);
      permuteKernel.cpu({ a, out: want, shape, perm });
      assertClose(await readF32(dev, out, n), want, 0, what);
      release(dev, ab, out);
    }
  },
});

Deno.test({
  name: "permuteKernel.gpu() copies i32 words exactly",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const shape = [3, 4, 5], perm = [1, 2, 0];
    const a = randInts(60, 5, 1 << 30).map((v, i) => (i % 2 ? -v : v));
    const ab = upload(dev, a), out = poisoned(dev, 60, "i32");
    permuteKernel.gpu(dev, { a: ab, out, shape, perm });
    const want = new Int32Array(60);
    permuteKernel.cpu({ a, out: want, shape, perm });
    deepStrictEqual(await readI32(dev, out, 60), want);
    release(dev, ab, out);
  },
});
