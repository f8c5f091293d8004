import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { erf, unaryBackwardKernel, unaryKernel, type UnaryOp } from "../../kernels/unary.ts";
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

const OPS: UnaryOp[] = ["exp", "log", "neg", "relu", "tanh", "gelu"];

/** Inputs per op: log needs positive values; the others span both signs and a wide range. */
function inputs(op: UnaryOp, n: number, seed: number): Float32Array {
  return op === "log" ? randArray(n, seed, 0.05, 20) : randArray(n, seed, -6, 6);
}

Deno.test({
  name: "unaryKernel.gpu() matches the CPU reference on odd sizes",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const op of OPS) {
      for (const n of [1, 3, 257, 1000, 4099]) {
        const hx = inputs(op, n, n);
        const x = upload(dev, hx), out = poisoned(dev, n);
        unaryKernel.gpu(dev, { op, x, out, n });
        const want = new Float32Array(n);
        unaryKernel.cpu({ op, x: hx, out: want, n });
        assertClose(await readF32(dev, out, n), want, 1e-5, `${op} n=${n}`);
        release(dev, x, out);
      }
    }
  },
});

Deno.test({
  name: "unaryKernel.gpu() keeps GELU, tanh and log accurate in the tails and near zero",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const hx = new Float32Array([
      -12,
      -9,
      -7,
      -5,
      -3,
      -1e-3,
      -1e-6,
      0,
      1e-6,
      1e-3,
      0.1249,
      0.1251,
      3,
      9,
      50,
      -50,
    ]);
    const n = hx.length;
    for (const op of ["gelu", "tanh"] as UnaryOp[]) {
      const x = upload(dev, hx), out = poisoned(dev, n);
      unaryKernel.gpu(dev, { op, x, out, n });
      const want = new Float32Array(n);
      unaryKernel.cpu({ op, x: hx, out: want, n });
      // Relative to the value itself (tiny floor): the tails must not lose relative accuracy.
      assertClose(await readF32(dev, out, n), want, 2e-5, `${op} tails`, 1e-30);
      release(dev, x, out);
    }
    const near1 = new Float32Array([
      0.5,
      0.76,
      0.9999,
      0.99999994,
      1,
      1.0000001,
      1.0001,
      1.24,
      1.26,
      2,
    ]);
    const x = upload(dev, near1), out = poisoned(dev, near1.length);
    unaryKernel.gpu(dev, { op: "log", x, out, n: near1.length });
    const want = new Float32Array(near1.length);
    unaryKernel.cpu({ op: "log", x: near1, out: want, n: near1.length });
    assertClose(await readF32(dev, out, near1.length), want, 1e-5, "log near 1", 1e-30);
    release(dev, x, out);
  },
});

Deno.test({
  name: "unaryBackwardKernel.gpu() matches the CPU backward on odd sizes",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const op of OPS) {
      for (const n of [1, 5, 255, 1028]) {
        const hx = inputs(op, n, n + 1), hdy = randArray(n, n + 2);
        const x = upload(dev, hx), dy = upload(dev, hdy), dx = poisoned(dev, n);
        unaryBackwardKernel.gpu(dev, { op, x, dy, dx, n });
        const want = new Float32Array(n);
        unaryBackwardKernel.cpu({ op, x: hx, dy: hdy, dx: want, n });
        assertClose(await readF32(dev, dx, n), want, 1e-4, `${op} backward n=${n}`);
        release(dev, x, dy, dx);
      }
    }
  },
});

Deno.test("unaryBackwardKernel.cpu() matches float64 finite differences for every op", () => {
  for (const op of OPS) {
    const n = 23;
    const x = op === "log" ? rand64(n, 3, 0.1, 5) : rand64(n, 3, -4, 4);
    checkGradients(
      op,
      [x],
      ([v]) => {
        const out = new Float64Array(n);
        unaryKernel.cpu({ op, x: v, out, n });
        return out;
      },
      ([v], dy) => {
        const dx = new Float64Array(n);
        unaryBackwardKernel.cpu({ op, x: v, dy, dx, n });
        return [dx];
      },
    );
  }
});

Deno.test("erf() agrees with known values and is odd", () => {
  const known: [number, number][] = [
    [0.1, 0.1124629160182849],
    [0.5, 0.5204998778130465],
    [1.5, 0.9661051464753108],
    [2.5, 0.9995930479825550],
    [3.5, 0.9999992569016276],
  ];
  for (const [x, want] of known) {
    if (Math.abs(erf(x) - want) > 1e-15) throw new Error(`erf(${x}) = ${erf(x)}, want ${want}`);
    if (erf(-x) !== -erf(x)) throw new Error(`erf(-${x}) != -erf(${x})`);
  }
});

Deno.test({
  name: "unary kernels raised no WebGPU validation errors",
  ...gpuTest,
  fn: async () => {
    assertEquals((await maybeDevice())!.errors, []);
  },
});
