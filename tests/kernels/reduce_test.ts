import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { reduceBackwardKernel, reduceKernel, type ReduceOp } from "../../kernels/reduce.ts";
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
import { LAYOUTS, shapesFor, withLayout } from "./_row_layouts.ts";

const OPS: ReduceOp[] = ["sum", "mean", "max"];
// [rows, n]: one row, one column, short rows (one invocation each) and long rows (a workgroup
// each, including a row longer than 8192 for the 256-wide workgroup).
const SHAPES: [number, number][] = [
  [1, 1],
  [1, 37],
  [67, 1],
  [129, 19],
  [3, 121],
  [5, 257],
  [
    2,
    3001,
  ],
  [1, 9001],
  [70, 255],
];

Deno.test({
  name: "reduceKernel.gpu() matches the CPU reference on odd shapes in every row layout",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const layout of LAYOUTS) {
      await withLayout(dev, layout, async () => {
        for (const op of OPS) {
          for (const [rows, n] of shapesFor(layout, SHAPES)) {
            const hx = randArray(rows * n, rows + n);
            const x = upload(dev, hx), out = poisoned(dev, rows), idx = poisoned(dev, rows, "i32");
            reduceKernel.gpu(dev, { op, x, out, idx: op === "max" ? idx : undefined, rows, n });
            const want = new Float32Array(rows), wantIdx = new Int32Array(rows);
            reduceKernel.cpu({ op, x: hx, out: want, idx: wantIdx, rows, n });
            assertClose(await readF32(dev, out, rows), want, 1e-4, `${layout} ${op} ${rows}x${n}`);
            if (op === "max") assertEquals([...await readI32(dev, idx, rows)], [...wantIdx]);
            release(dev, x, out, idx);
          }
        }
      });
    }
  },
});

Deno.test({
  name: "reduceKernel.gpu() argmax alone returns the first index on ties in every row layout",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const layout of LAYOUTS) {
      await withLayout(dev, layout, async () => {
        for (const [rows, n] of [[41, 7], [3, 1000], [1, 9001]]) {
          // Few distinct values so that every row has ties at its maximum.
          const hx = Float32Array.from(randInts(rows * n, n, 5));
          const x = upload(dev, hx), idx = poisoned(dev, rows, "i32");
          reduceKernel.gpu(dev, { op: "max", x, idx, rows, n });
          const want = new Int32Array(rows);
          reduceKernel.cpu({ op: "max", x: hx, idx: want, rows, n });
          assertEquals(
            [...await readI32(dev, idx, rows)],
            [...want],
            `layout ${layout} ${rows}x${n}`,
          );
          release(dev, x, idx);
        }
      });
    }
  },
});

Deno.test({
  name: "reduceBackwardKernel.gpu() matches the CPU backward on odd and vec4-friendly shapes",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const op of OPS) {
      for (const [rows, n] of [...SHAPES, [5, 8], [3, 300], [1, 4000]]) {
        const hdy = randArray(rows, rows * 3 + n);
        const hidx = randInts(rows, n, n);
        const dy = upload(dev, hdy), idx = upload(dev, hidx), dx = poisoned(dev, rows * n);
        reduceBackwardKernel.gpu(dev, { op, dy, idx, dx, rows, n });
        const want = new Float32Array(rows * n);
        reduceBackwardKernel.cpu({ op, dy: hdy, idx: hidx, dx: want, rows, n });
        assertClose(await readF32(dev, dx, rows * n), want, 1e-6, `${op} backward ${rows}x${n}`);
        release(dev, dy, idx, dx);
      }
    }
  },
});

Deno.test("reduceBackwardKernel.cpu() matches float64 finite differences", () => {
  for (const op of OPS) {
    for (const [rows, n] of [[1, 1], [3, 7], [4, 1]]) {
      const x = rand64(rows * n, 17);
      const idx = new Int32Array(rows);
      reduceKernel.cpu({ op, x, idx, rows, n });
      checkGradients(
        `${op} ${rows}x${n}`,
        [x],
        ([v]) => {
          const out = new Float64Array(rows);
          reduceKernel.cpu({ op, x: v, out, rows, n });
          return out;
        },
        (_, dy) => {
          const dx = new Float64Array(rows * n);
          reduceBackwardKernel.cpu({ op, dy, idx, dx, rows, n });
          return [dx];
        },
      );
    }
  }
});

Deno.test({
  name: "reduce kernels raised no WebGPU validation errors",
  ...gpuTest,
  fn: async () => {
    assertEquals((await maybeDevice())!.errors, []);
  },
});

Deno.test("reduceKernel.cpu() gives each row's max and its first index on a worked case", () => {
  const out = new Float32Array(2), idx = new Int32Array(2);
  reduceKernel.cpu({ op: "max", x: new Float32Array([1, 3, 3, 5, 4, 0]), out, idx, rows: 2, n: 3 });
  assertEquals([...out, ...idx], [3, 5, 1, 0]);
});
