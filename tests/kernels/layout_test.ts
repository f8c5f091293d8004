import { concatKernel, sliceBackwardKernel, sliceKernel } from "../../kernels/layout.ts";
import {
  assertClose,
  gpuTest,
  maybeDevice,
  poisoned,
  randArray,
  readF32,
  release,
  upload,
} from "./_harness.ts";
import { checkGradients, rand64 } from "./_grad_check.ts";

// [outer, dim, inner, start, length]
const SLICES: [number, number, number, number, number][] = [
  [1, 1, 1, 0, 1],
  [1, 9, 1, 2, 5],
  [3, 7, 5, 1, 3],
  [4, 8, 4, 4, 4],
  [2, 12, 1, 4, 8],
  [5, 6, 3, 0, 6],
  [7, 5, 1, 4, 1],
];

Deno.test({
  name: "sliceKernel.gpu() and sliceBackwardKernel.gpu() match the CPU references on odd shapes",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const [outer, dim, inner, start, length] of SLICES) {
      const s = { outer, dim, inner, start, length }, what = `slice ${JSON.stringify(s)}`;
      const n = outer * dim * inner, m = outer * length * inner;
      const a = randArray(n, n + start), dy = randArray(m, m + start);
      const ab = upload(dev, a), dyb = upload(dev, dy);
      const out = poisoned(dev, m), dA = poisoned(dev, n);
      sliceKernel.gpu(dev, { ...s, a: ab, out });
      sliceBackwardKernel.gpu(dev, { ...s, a: dyb, out: dA });
      const want = new Float32Array(m), wantBack = new Float32Array(n).fill(NaN);
      sliceKernel.cpu({ ...s, a, out: want });
      sliceBackwardKernel.cpu({ ...s, a: dy, out: wantBack });
      assertClose(await readF32(dev, out, m), want, 0, what);
      assertClose(await readF32(dev, dA, n), wantBack, 0, `${what} backward`);
      release(dev, ab, dyb, out, dA);
    }
  },
});

Deno.test("sliceBackwardKernel.cpu() matches float64 central finite differences", () => {
  const s = { outer: 3, dim: 5, inner: 2, start: 1, length: 3 };
  checkGradients("slice", [rand64(30, 3)], ([a]) => {
    const out = new Float64Array(18);
    sliceKernel.cpu({ ...s, a, out });
    return out;
  }, (_, dOut) => {
    const dA = new Float64Array(30);
    sliceBackwardKernel.cpu({ ...s, a: dOut, out: dA });
    return [dA];
  });
});

// [outer, dims, inner]
const CONCATS: [number, number[], number][] = [
  [1, [1], 1],
  [1, [1, 1], 1],
  [3, [2, 5], 1],
  [2, [3, 1, 4], 5],
  [4, [4, 8], 4],
  [5, [1, 2, 3, 4], 3],
];

Deno.test({
  name: "concatKernel.gpu() matches the CPU reference on odd shapes",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const [outer, dims, inner] of CONCATS) {
      const what = `concat ${outer} [${dims}] ${inner}`;
      const total = outer * inner * dims.reduce((x, d) => x + d, 0);
      const parts = dims.map((d, i) => randArray(outer * d * inner, 10 * i + d));
      const pbs = parts.map((p) => upload(dev, p));
      const whole = poisoned(dev, total);
      concatKernel.gpu(dev, { parts: pbs, whole, outer, dims, inner });
      const want = new Float32Array(total);
      concatKernel.cpu({ parts, whole: want, outer, dims, inner });
      assertClose(await readF32(dev, whole, total), want, 0, what);
      release(dev, ...pbs, whole);
    }
  },
});
