import { throws } from "node:assert/strict";
import {
  concatBackward,
  concatBackwardCpu,
  concatForward,
  concatForwardCpu,
  sliceBackward,
  sliceBackwardCpu,
  sliceForward,
  sliceForwardCpu,
} from "../../kernels/layout.ts";
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
  name: "sliceForward() and sliceBackward() match the CPU references on odd shapes",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const [outer, dim, inner, start, length] of SLICES) {
      const s = { outer, dim, inner, start, length }, what = `slice ${JSON.stringify(s)}`;
      const n = outer * dim * inner, m = outer * length * inner;
      const a = randArray(n, n + start), dy = randArray(m, m + start);
      const ab = upload(dev, a), dyb = upload(dev, dy);
      const out = poisoned(dev, m), dA = poisoned(dev, n);
      sliceForward(dev, { ...s, a: ab, out });
      sliceBackward(dev, { ...s, a: dyb, out: dA });
      const want = new Float32Array(m), wantBack = new Float32Array(n).fill(NaN);
      sliceForwardCpu({ ...s, a, out: want });
      sliceBackwardCpu({ ...s, a: dy, out: wantBack });
      assertClose(await readF32(dev, out, m), want, 0, what);
      assertClose(await readF32(dev, dA, n), wantBack, 0, `${what} backward`);
      release(dev, ab, dyb, out, dA);
    }
    throws(
      () =>
        sliceForwardCpu({
          a: new Float32Array(4),
          out: new Float32Array(4),
          outer: 1,
          dim: 4,
          inner: 1,
          start: 2,
          length: 3,
        }),
      /Cannot slice \[2, 5\) from an axis of length 4/,
    );
  },
});

Deno.test("sliceBackwardCpu() matches float64 central finite differences", () => {
  const s = { outer: 3, dim: 5, inner: 2, start: 1, length: 3 };
  checkGradients("slice", [rand64(30, 3)], ([a]) => {
    const out = new Float64Array(18);
    sliceForwardCpu({ ...s, a, out });
    return out;
  }, (_, dOut) => {
    const dA = new Float64Array(30);
    sliceBackwardCpu({ ...s, a: dOut, out: dA });
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
  name: "concatForward() and concatBackward() match the CPU references on odd shapes",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const [outer, dims, inner] of CONCATS) {
      const what = `concat ${outer} [${dims}] ${inner}`;
      const total = outer * inner * dims.reduce((x, d) => x + d, 0);
      const parts = dims.map((d, i) => randArray(outer * d * inner, 10 * i + d));
      const dy = randArray(total, total);
      const pbs = parts.map((p) => upload(dev, p)), dyb = upload(dev, dy);
      const whole = poisoned(dev, total);
      const dParts = dims.map((d) => poisoned(dev, outer * d * inner));
      concatForward(dev, { parts: pbs, whole, outer, dims, inner });
      concatBackward(dev, { parts: dParts, whole: dyb, outer, dims, inner });
      const want = new Float32Array(total);
      const wantParts = dims.map((d) => new Float32Array(outer * d * inner));
      concatForwardCpu({ parts, whole: want, outer, dims, inner });
      concatBackwardCpu({ parts: wantParts, whole: dy, outer, dims, inner });
      assertClose(await readF32(dev, whole, total), want, 0, what);
      for (let i = 0; i < dims.length; i++) {
        const got = await readF32(dev, dParts[i], wantParts[i].length);
        assertClose(got, wantParts[i], 0, `${what} backward part ${i}`);
      }
      release(dev, ...pbs, dyb, whole, ...dParts);
    }
  },
});

Deno.test("concatBackwardCpu() matches float64 central finite differences", () => {
  const outer = 2, dims = [2, 3], inner = 3;
  checkGradients(
    "concat",
    dims.map((d, i) => rand64(outer * d * inner, 20 + i)),
    (parts) => {
      const whole = new Float64Array(30);
      concatForwardCpu({ parts, whole, outer, dims, inner });
      return whole;
    },
    (_, whole) => {
      const parts = dims.map((d) => new Float64Array(outer * d * inner));
      concatBackwardCpu({ parts, whole, outer, dims, inner });
      return parts;
    },
  );
});
