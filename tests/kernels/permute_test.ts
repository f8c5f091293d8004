import { deepStrictEqual, throws } from "node:assert/strict";
import {
  permuteBackward,
  permuteBackwardCpu,
  permuteForward,
  permuteForwardCpu,
} from "../../kernels/permute.ts";
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
import { checkGradients, rand64 } from "./_grad_check.ts";

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

Deno.test("permuteForwardCpu() moves each element to its permuted index", () => {
  const shape = [2, 3, 4], perm = [2, 0, 1];
  const a = Float32Array.from({ length: 24 }, (_, i) => i);
  const out = new Float32Array(24);
  permuteForwardCpu({ a, out, shape, perm });
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 3; j++) {
      for (let k = 0; k < 4; k++) deepStrictEqual(out[k * 6 + i * 3 + j], a[i * 12 + j * 4 + k]);
    }
  }
  throws(() => permuteForwardCpu({ a, out, shape, perm: [0, 0, 1] }), /not a permutation/);
});

Deno.test({
  name: "permuteForward() and permuteBackward() match the CPU references on odd shapes",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const [shape, perm] of PERMS) {
      const n = prod(shape), what = `permute [${shape}] by [${perm}]`;
      const a = randArray(n, n + perm[0]);
      const ab = upload(dev, a), out = poisoned(dev, n), back = poisoned(dev, n);
      permuteForward(dev, { a: ab, out, shape, perm });
      permuteBackward(dev, { a: out, out: back, shape, perm });
      const want = new Float32Array(n), wantBack = new Float32Array(n);
      permuteForwardCpu({ a, out: want, shape, perm });
      permuteBackwardCpu({ a: want, out: wantBack, shape, perm });
      assertClose(await readF32(dev, out, n), want, 0, what);
      assertClose(await readF32(dev, back, n), wantBack, 0, `${what} backward`);
      assertClose(wantBack, a, 0, `${what} round trip`);
      release(dev, ab, out, back);
    }
  },
});

Deno.test("permuteBackwardCpu() matches float64 central finite differences", () => {
  const shape = [2, 3, 5], perm = [2, 0, 1];
  checkGradients("permute", [rand64(30, 1)], ([a]) => {
    const out = new Float64Array(30);
    permuteForwardCpu({ a, out, shape, perm });
    return out;
  }, (_, dOut) => {
    const dA = new Float64Array(30);
    permuteBackwardCpu({ a: dOut, out: dA, shape, perm });
    return [dA];
  });
});

Deno.test({
  name: "permuteForward() copies i32 words exactly",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const shape = [3, 4, 5], perm = [1, 2, 0];
    const a = randInts(60, 5, 1 << 30).map((v, i) => (i % 2 ? -v : v));
    const ab = upload(dev, a), out = poisoned(dev, 60, "i32");
    permuteForward(dev, { a: ab, out, shape, perm });
    const want = new Int32Array(60);
    permuteForwardCpu({ a, out: want, shape, perm });
    deepStrictEqual(await readI32(dev, out, 60), want);
    release(dev, ab, out);
  },
});
