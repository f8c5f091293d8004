import { gluBackwardKernel, gluKernel } from "../../kernels/glu.ts";
import {
  assertClose,
  gpuTest,
  inputPaths,
  maybeDevice,
  poisoned,
  randArray,
  readF32,
  release,
  upload,
} from "./_harness.ts";
import { checkGradients, rand64 } from "./_grad_check.ts";

const SHAPES: [number, number][] = [[1, 1], [1, 7], [3, 5], [17, 12], [5, 4], [33, 9], [2, 260]];

Deno.test({
  name: "gluKernel.gpu() matches the CPU reference on odd shapes, incl. far gate values",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const [rows, half] of SHAPES) {
      for (const [path, ctx] of inputPaths(dev)) {
        const a = randArray(rows * 2 * half, rows * 31 + half, -6, 6);
        const ab = upload(dev, a), out = poisoned(dev, rows * half);
        gluKernel.gpu(ctx, { a: ab, out, rows, half });
        const want = new Float32Array(rows * half);
        gluKernel.cpu({ a, out: want, rows, half });
        const what = `glu ${rows}x${half} (${path})`;
        assertClose(await readF32(dev, out, rows * half), want, 1e-4, what);
        release(dev, ab, out);
      }
    }
  },
});

Deno.test("gluBackwardKernel.cpu() matches float64 central finite differences", () => {
  for (const [rows, half] of [[1, 1], [3, 5], [2, 4]]) {
    checkGradients(
      `glu ${rows}x${half}`,
      [rand64(rows * 2 * half, 7 + half, -3, 3)],
      ([a]) => {
        const out = new Float64Array(rows * half);
        gluKernel.cpu({ a, out, rows, half });
        return out;
      },
      ([a], dOut) => {
        const dA = new Float64Array(rows * 2 * half);
        gluBackwardKernel.cpu({ a, dOut, dA, rows, half });
        return [dA];
      },
    );
  }
});

Deno.test({
  name: "gluBackwardKernel.gpu() matches the CPU reference on odd shapes",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const [rows, half] of SHAPES) {
      for (const [path, ctx] of inputPaths(dev)) {
        const a = randArray(rows * 2 * half, rows + 3 * half, -6, 6);
        const dy = randArray(rows * half, rows + 5 * half);
        const ab = upload(dev, a), db = upload(dev, dy), dA = poisoned(dev, rows * 2 * half);
        gluBackwardKernel.gpu(ctx, { a: ab, dOut: db, dA, rows, half });
        const want = new Float32Array(rows * 2 * half);
        gluBackwardKernel.cpu({ a, dOut: dy, dA: want, rows, half });
        const what = `glu bwd ${rows}x${half} (${path})`;
        assertClose(await readF32(dev, dA, rows * 2 * half), want, 1e-4, what);
        release(dev, ab, db, dA);
      }
    }
  },
});
