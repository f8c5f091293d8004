import { deepStrictEqual, throws } from "node:assert/strict";
import {
  type LayerNormBackwardArgs,
  layerNormBackwardKernel,
  layerNormKernel,
} from "../../kernels/layernorm.ts";
import {
  assertClose,
  gpuStyleContext,
  gpuTest,
  inputPaths,
  maybeDevice,
  poisoned,
  randArray,
  readF32,
  release,
  upload,
} from "./_harness.ts";
import { checkGradients, f64 } from "./_grad_check.ts";
import type { Device } from "../../core/device.ts";

// [rows, cols]: 1 row, 1 column, odd widths, vec4 widths, more rows than one dW block (64).
const SHAPES: [number, number][] = [[1, 1], [1, 7], [5, 1], [3, 5], [17, 12], [65, 9], [130, 32]];

function inputs(rows: number, cols: number, seed: number) {
  return {
    // rows with an offset and a scale, as residual streams have
    x: randArray(rows * cols, seed, -1, 1).map((v, i) => 3 * v + ((i / cols) | 0) % 5),
    r: randArray(rows * cols, seed + 1, -2, 2),
    w: randArray(cols, seed + 2, 0.5, 1.5),
    b: randArray(cols, seed + 3),
  };
}

Deno.test({
  name: "layerNormKernel.gpu() matches the CPU reference on odd shapes, with and without residual",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    // The adapter's own layout, then a workgroup per row of 8 and of 64 (what GPUs run).
    for (const layout of [undefined, "wg8", "wg64"]) {
      if (layout) dev.tuning.set("layernorm", layout);
      try {
        await forwardCases(dev, layout ? [...SHAPES, [3, 300], [2, 1024]] : SHAPES, layout);
      } finally {
        dev.tuning.delete("layernorm");
      }
    }
  },
});

async function forwardCases(
  dev: Device,
  shapes: [number, number][],
  layout = "auto",
): Promise<void> {
  for (const [rows, cols] of shapes) {
    const { x, r, w, b } = inputs(rows, cols, rows * 7 + cols);
    const xb = upload(dev, x), rb = upload(dev, r), wb = upload(dev, w), bb = upload(dev, b);
    for (
      const [residual, [path, ctx]] of [false, true].flatMap((r) =>
        inputPaths(dev).map((p) => [r, p] as const)
      )
    ) {
      const n = rows * cols;
      const what = `layernorm ${rows}x${cols} residual=${residual} (${path}, ${layout})`;
      const out = poisoned(dev, n);
      const mean = poisoned(dev, rows), rstd = poisoned(dev, rows);
      const eps = 1e-5;
      layerNormKernel.gpu(ctx, {
        x: xb,
        residual: residual ? rb : undefined,
        w: wb,
        b: bb,
        out,
        mean,
        rstd,
        rows,
        cols,
        eps,
      });
      const want = {
        out: new Float32Array(n),
        mean: new Float32Array(rows),
        rstd: new Float32Array(rows),
      };
      layerNormKernel.cpu({
        x,
        residual: residual ? r : undefined,
        w,
        b,
        ...want,
        rows,
        cols,
        eps,
      });
      assertClose(await readF32(dev, out, n), want.out, 1e-4, what);
      assertClose(await readF32(dev, mean, rows), want.mean, 1e-4, `${what} mean`);
      assertClose(await readF32(dev, rstd, rows), want.rstd, 1e-4, `${what} rstd`);
      // Without saved statistics (the no-grad variant) the output is the same.
      const out2 = poisoned(dev, n);
      layerNormKernel.gpu(ctx, {
        x: xb,
        residual: residual ? rb : undefined,
        w: wb,
        b: bb,
        out: out2,
        rows,
        cols,
        eps,
      });
      assertClose(await readF32(dev, out2, n), want.out, 1e-4, `${what} no stats`);
      release(dev, out, mean, rstd, out2);
    }
    release(dev, xb, rb, wb, bb);
  }
}

Deno.test("layerNormKernel.cpu() uses eps 1e-12 by default and rejects half the statistics", () => {
  const out = new Float64Array(3), mean = new Float64Array(1), rstd = new Float64Array(1);
  const x = new Float64Array([1, 1, 1]), w = new Float64Array([1, 1, 1]);
  layerNormKernel.cpu({ x, w, b: new Float64Array([0, 2, 0]), out, mean, rstd, rows: 1, cols: 3 });
  deepStrictEqual([...out], [0, 2, 0]);
  deepStrictEqual(rstd[0], 1e6);
  throws(() => layerNormKernel.cpu({ x, w, b: w, out, mean, rows: 1, cols: 3 }), /give both/);
});

Deno.test("layerNormBackwardKernel.cpu() matches float64 central finite differences", () => {
  for (const [rows, cols] of [[1, 1], [1, 6], [3, 5], [4, 8]]) {
    const f = inputs(rows, cols, rows + 13 * cols), eps = 1e-5;
    const forward = ([x, w, b]: Float64Array[]) => {
      const out = new Float64Array(rows * cols);
      const mean = new Float64Array(rows), rstd = new Float64Array(rows);
      layerNormKernel.cpu({ x, w, b, out, mean, rstd, rows, cols, eps });
      return { out, mean, rstd };
    };
    checkGradients(
      `layernorm ${rows}x${cols}`,
      [f64(f.x), f64(f.w), f64(f.b)],
      (xs) => forward(xs).out,
      (xs, dOut) => {
        const { mean, rstd } = forward(xs);
        const dX = new Float64Array(rows * cols);
        const dW = new Float64Array(cols), dB = new Float64Array(cols);
        layerNormBackwardKernel.cpu({
          x: xs[0],
          w: xs[1],
          mean,
          rstd,
          dOut,
          dX,
          dW,
          dB,
          rows,
          cols,
        });
        return [dX, dW, dB];
      },
    );
  }
});

Deno.test({
  name: "layerNormBackwardKernel.gpu() matches the CPU reference on odd shapes",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    // The adapter's own layout, then a workgroup per row of 8 and of 64 (what GPUs run).
    for (const layout of [undefined, "wg8", "wg64"]) {
      if (layout) dev.tuning.set("layernorm", layout);
      try {
        // Default layout on CPU adapters: rows long enough for several words per invocation
        // (300: 75 words, 131: odd) and for two groups of words (1028: 257 words).
        const shapes: [number, number][] = layout
          ? [...SHAPES, [3, 300]]
          : [...SHAPES, [300, 12], [70, 300], [67, 131], [66, 1028]];
        await backwardCases(dev, shapes, layout);
      } finally {
        dev.tuning.delete("layernorm");
      }
    }
  },
});

async function backwardCases(
  dev: Device,
  shapes: [number, number][],
  layout = "auto",
): Promise<void> {
  // With the adapter's own layout, also as a GPU would run it (one word per invocation).
  const paths = layout === "auto"
    ? [...inputPaths(dev), ["gpu-style", gpuStyleContext(dev)] as const]
    : inputPaths(dev);
  // Every other shape in the residual form (the backward adds x + residual again).
  for (
    const [[rows, cols], residual, [path, ctx]] of shapes.flatMap((s, i) =>
      paths.map((p) => [s, i % 2 === 1, p] as const)
    )
  ) {
    const { x, r, w, b } = inputs(rows, cols, rows * 3 + cols);
    const res = residual ? r : undefined;
    const dy = randArray(rows * cols, rows + cols);
    const n = rows * cols, out = new Float32Array(n);
    const mean = new Float32Array(rows), rstd = new Float32Array(rows);
    layerNormKernel.cpu({ x, residual: res, w, b, out, mean, rstd, rows, cols });
    const xb = upload(dev, x), resb = residual ? upload(dev, r) : undefined;
    const wb = upload(dev, w), mb = upload(dev, mean);
    const rb = upload(dev, rstd), dyb = upload(dev, dy);
    const dX = poisoned(dev, n), dW = poisoned(dev, cols), dB = poisoned(dev, cols);
    const dX2 = poisoned(dev, n);
    // One backward launch on these inputs, writing the outputs given.
    const launch = (outs: Partial<LayerNormBackwardArgs<GPUBuffer>>) =>
      layerNormBackwardKernel.gpu(ctx, {
        x: xb,
        residual: resb,
        w: wb,
        mean: mb,
        rstd: rb,
        dOut: dyb,
        ...outs,
        rows,
        cols,
      });
    launch({ dX, dX2, dW, dB });
    const want = {
      dX: new Float32Array(n),
      dW: new Float32Array(cols),
      dB: new Float32Array(cols),
    };
    layerNormBackwardKernel.cpu({ x, residual: res, w, mean, rstd, dOut: dy, ...want, rows, cols });
    const what = `layernorm bwd ${rows}x${cols} residual=${residual} (${path}, ${layout})`;
    assertClose(await readF32(dev, dX, n), want.dX, 1e-4, `${what} dX`);
    deepStrictEqual(await readF32(dev, dX2, n), await readF32(dev, dX, n));
    // dW and dB sum `rows` terms of order 1 in float32: compare relative to 1e-2 at least (a sum
    // that cancels to near 0 keeps an absolute error of a few float32 steps of 1).
    const sumFloor = 1e-2;
    assertClose(await readF32(dev, dW, cols), want.dW, 1e-4, `${what} dW`, sumFloor);
    assertClose(await readF32(dev, dB, cols), want.dB, 1e-4, `${what} dB`, sumFloor);
    // Only the weight gradients, then twice: bit-identical.
    const dW2 = poisoned(dev, cols), dB2 = poisoned(dev, cols);
    launch({ dW: dW2, dB: dB2 });
    deepStrictEqual(await readF32(dev, dW2, cols), await readF32(dev, dW, cols));
    deepStrictEqual(await readF32(dev, dB2, cols), await readF32(dev, dB, cols));
    // Only the input gradient: the same values, bit for bit.
    const dX4 = poisoned(dev, n);
    launch({ dX: dX4 });
    deepStrictEqual(await readF32(dev, dX4, n), await readF32(dev, dX, n));
    // Accumulating into gradients already held (one block of rows or several).
    const w0 = randArray(cols, rows + 7), b0 = randArray(cols, rows + 8);
    const dW3 = upload(dev, w0), dB3 = upload(dev, b0);
    launch({ dW: dW3, dB: dB3, accumulate: true });
    const acc = { dW: w0.slice(), dB: b0.slice() };
    layerNormBackwardKernel.cpu({
      x,
      residual: res,
      w,
      mean,
      rstd,
      dOut: dy,
      ...acc,
      accumulate: true,
      rows,
      cols,
    });
    assertClose(await readF32(dev, dW3, cols), acc.dW, 1e-4, `${what} dW accumulated`, sumFloor);
    assertClose(await readF32(dev, dB3, cols), acc.dB, 1e-4, `${what} dB accumulated`, sumFloor);
    release(dev, xb, wb, mb, rb, dyb, dX, dX2, dW, dB, dW2, dB2, dW3, dB3, dX4);
    if (resb) release(dev, resb);
  }
}

Deno.test("layerNormKernel.cpu() centres and scales a worked row", () => {
  const out = new Float64Array(2), one = new Float64Array([1, 1]), zero = new Float64Array(2);
  layerNormKernel.cpu({ x: new Float64Array([1, 3]), w: one, b: zero, out, rows: 1, cols: 2 });
  assertClose(out, [-1, 1], 1e-9, "LN of [1, 3]");
});
