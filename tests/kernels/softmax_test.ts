import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { softmaxBackwardKernel, softmaxKernel } from "../../kernels/softmax.ts";
import {
  assertClose,
  gpuTest,
  HAS_GPU,
  maybeDevice,
  poisoned,
  randArray,
  readF32,
  release,
  upload,
} from "./_harness.ts";
import { checkGradients, rand64 } from "./_grad_check.ts";
import { LAYOUTS, shapesFor, withLayout } from "./_row_layouts.ts";

// [rows, n]: edge shapes, short rows (one invocation each) and long rows (a workgroup each).
const SHAPES: [number, number][] = [[1, 1], [1, 19], [77, 1], [130, 121], [3, 257], [2, 2999], [
  1,
  8500,
]];

Deno.test({
  name: "softmaxKernel.gpu() matches the CPU reference on odd shapes in every row layout",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const layout of LAYOUTS) {
      await withLayout(dev, layout, async () => {
        for (const [rows, n] of shapesFor(layout, SHAPES)) {
          const hx = randArray(rows * n, rows + n, -8, 8);
          const x = upload(dev, hx), y = poisoned(dev, rows * n);
          softmaxKernel.gpu(dev, { x, y, rows, n });
          const want = new Float32Array(rows * n);
          softmaxKernel.cpu({ x: hx, y: want, rows, n });
          assertClose(await readF32(dev, y, rows * n), want, 1e-4, `${layout} ${rows}x${n}`, 1e-6);
          release(dev, x, y);
        }
      });
    }
  },
});

Deno.test({
  name: "softmaxKernel.gpu() is stable for large logits",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const hx = new Float32Array([1000, 1001, -1000, 5e30, 5e30, 0]);
    const x = upload(dev, hx), y = poisoned(dev, 6);
    softmaxKernel.gpu(dev, { x, y, rows: 2, n: 3 });
    const want = new Float32Array(6);
    softmaxKernel.cpu({ x: hx, y: want, rows: 2, n: 3 });
    assertClose(await readF32(dev, y, 6), want, 1e-5, "large logits");
    release(dev, x, y);
  },
});

Deno.test({
  name: "softmaxBackwardKernel.gpu() matches the CPU backward on odd shapes in every row layout",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const layout of LAYOUTS) {
      await withLayout(dev, layout, async () => {
        for (const [rows, n] of shapesFor(layout, SHAPES)) {
          const hy = new Float32Array(rows * n);
          softmaxKernel.cpu({ x: randArray(rows * n, n, -3, 3), y: hy, rows, n });
          const hdy = randArray(rows * n, rows);
          const y = upload(dev, hy), dy = upload(dev, hdy), dx = poisoned(dev, rows * n);
          softmaxBackwardKernel.gpu(dev, { y, dy, dx, rows, n });
          const want = new Float32Array(rows * n);
          softmaxBackwardKernel.cpu({ y: hy, dy: hdy, dx: want, rows, n });
          assertClose(await readF32(dev, dx, rows * n), want, 1e-4, `${layout} ${rows}x${n}`, 1e-5);
          release(dev, y, dy, dx);
        }
      });
    }
  },
});

Deno.test("softmaxBackwardKernel.cpu() matches float64 finite differences", () => {
  for (const [rows, n] of [[1, 1], [2, 5], [3, 19]]) {
    checkGradients(
      `softmax ${rows}x${n}`,
      [rand64(rows * n, n, -2, 2)],
      ([x]) => {
        const y = new Float64Array(rows * n);
        softmaxKernel.cpu({ x, y, rows, n });
        return y;
      },
      ([x], dy) => {
        const y = new Float64Array(rows * n), dx = new Float64Array(rows * n);
        softmaxKernel.cpu({ x, y, rows, n });
        softmaxBackwardKernel.cpu({ y, dy, dx, rows, n });
        return [dx];
      },
      { floor: 1e-4 },
    );
  }
});

Deno.test({
  name: "softmax kernels raised no WebGPU validation errors",
  ...gpuTest,
  fn: async () => {
    assertEquals((await maybeDevice())!.errors, []);
  },
});

Deno.test({
  name: "softmax forward and backward reduce rows by subgroup shuffles where the device has them",
  ...gpuTest,
  // Only adapters whose device was opened with `subgroups` (llvmpipe through Deno has none).
  ignore: !HAS_GPU || !(await maybeDevice())!.device.features.has("subgroups"),
  fn: async () => {
    const dev = (await maybeDevice())!;
    dev.tuning.set("subgroups", "1");
    try {
      for (const layout of ["wg64", "wg256"]) {
        await withLayout(dev, layout, async () => {
          for (const [rows, n] of [[3, 37], [2, 300], [1, 9001]] as const) {
            const hx = randArray(rows * n, rows + n, -8, 8);
            const x = upload(dev, hx), y = poisoned(dev, rows * n);
            softmaxKernel.gpu(dev, { x, y, rows, n });
            const want = new Float32Array(rows * n);
            softmaxKernel.cpu({ x: hx, y: want, rows, n });
            const got = await readF32(dev, y, rows * n);
            assertClose(got, want, 1e-4, `subgroups ${layout} ${rows}x${n}`, 1e-6);
            const hdy = randArray(rows * n, rows);
            const dy = upload(dev, hdy), dx = poisoned(dev, rows * n);
            softmaxBackwardKernel.gpu(dev, { y, dy, dx, rows, n });
            const wantDx = new Float32Array(rows * n);
            softmaxBackwardKernel.cpu({ y: got, dy: hdy, dx: wantDx, rows, n });
            const gotDx = await readF32(dev, dx, rows * n);
            assertClose(gotDx, wantDx, 1e-4, `subgroups dx ${layout} ${rows}x${n}`, 1e-5);
            release(dev, x, y, dy, dx);
          }
        });
      }
    } finally {
      dev.tuning.delete("subgroups");
    }
  },
});

Deno.test("softmaxKernel.cpu() gives exp(x) / sum exp(x) on a worked row", () => {
  const y = new Float64Array(2);
  softmaxKernel.cpu({ x: new Float64Array([0, Math.log(3)]), y, rows: 1, n: 2 });
  assertClose(y, [0.25, 0.75], 1e-15, "softmax of [0, log 3]");
});
