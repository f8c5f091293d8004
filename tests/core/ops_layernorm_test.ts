import { deepStrictEqual, notStrictEqual, throws } from "node:assert/strict";
import { backward } from "../../core/ops/backward.ts";
import type { Device } from "../../core/device.ts";
import { addLayerNorm, layerNorm } from "../../core/ops/layernorm.ts";
import { type Backend, CPU } from "../../core/backend.ts";
import { scope, Tensor } from "../../core/tensor.ts";
import { layerNormBackwardKernel, layerNormKernel } from "../../kernels/layernorm.ts";
import { assertClose, gpuTest, maybeDevice, randArray } from "../kernels/_harness.ts";
import { add, mul } from "../../core/ops/elementwise.ts";
import { linear } from "../../core/ops/matmul.ts";
import { assertFiniteDiff, assertSameRuns, type Leaf, runGraph } from "./_grad_both.ts";

const R = 13, C = 12; // (R, C) rows; shaped (1, R, C) to check leading axes
const X = randArray(R * C, 1, -2, 2), RES = randArray(R * C, 2), W = randArray(C, 3, 0.5, 1.5);
const B = randArray(C, 4), DY = randArray(R * C, 5);

function leaf(data: Float32Array, shape: number[], backend: Backend): Tensor {
  const t = Tensor.fromArray(data, shape, { backend });
  t.requiresGrad = true;
  return t;
}

/** Runs (add)LayerNorm with all inputs as leaves, back-propagates DY, returns out and grads. */
async function run(backend: Backend, residual: boolean) {
  const x = leaf(X, [1, R, C], backend), r = leaf(RES, [1, R, C], backend);
  const w = leaf(W, [C], backend), b = leaf(B, [C], backend);
  const out = residual ? addLayerNorm(x, r, w, b, 1e-5) : layerNorm(x, w, b, 1e-5);
  const y = await out.toArray();
  backward(out, Tensor.fromArray(DY, [1, R, C], { backend }));
  const grads = {
    x: await x.grad!.toArray(),
    r: residual ? await r.grad!.toArray() : null,
    w: await w.grad!.toArray(),
    b: await b.grad!.toArray(),
  };
  if (residual) notStrictEqual(x.grad, r.grad);
  for (const t of [x, r, w, b, out]) {
    t.grad?.dispose();
    t.dispose();
  }
  return { y, grads };
}

/** The float64 kernel references for the same computation. */
function reference(residual: boolean) {
  const n = R * C, f = (a: Float32Array) => Float64Array.from(a);
  const out = new Float64Array(n);
  const mean = new Float64Array(R), rstd = new Float64Array(R);
  layerNormKernel.cpu({
    x: f(X),
    residual: residual ? f(RES) : undefined,
    w: f(W),
    b: f(B),
    out,
    mean,
    rstd,
    rows: R,
    cols: C,
    eps: 1e-5,
  });
  const dX = new Float64Array(n), dW = new Float64Array(C), dB = new Float64Array(C);
  layerNormBackwardKernel.cpu({
    x: f(X),
    residual: residual ? f(RES) : undefined,
    w: f(W),
    mean,
    rstd,
    dOut: f(DY),
    dX,
    dW,
    dB,
    rows: R,
    cols: C,
  });
  return { out, dX, dW, dB };
}

Deno.test("layerNorm() and addLayerNorm() on the cpu backend match the float64 references", async () => {
  for (const residual of [false, true]) {
    const { y, grads } = await run(CPU, residual), want = reference(residual);
    assertClose(y, want.out, 1e-5, `out residual=${residual}`);
    assertClose(grads.x, want.dX, 1e-4, "dX");
    if (residual) assertClose(grads.r!, want.dX, 1e-4, "dR");
    assertClose(grads.w, want.dW, 1e-4, "dW");
    assertClose(grads.b, want.dB, 1e-4, "dB");
  }
});

Deno.test({
  name: "layerNorm() and addLayerNorm() give the same values and gradients on cpu and webgpu",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const residual of [false, true]) {
      const cpu = await run(CPU, residual), gpu = await run(dev, residual);
      assertClose(gpu.y, cpu.y, 1e-4, `out residual=${residual}`);
      for (const k of ["x", "r", "w", "b"] as const) {
        if (cpu.grads[k]) assertClose(gpu.grads[k]!, cpu.grads[k]!, 1e-4, `grad ${k}`);
      }
    }
  },
});

Deno.test({
  name: "addLayerNorm() accumulates both gradients when x and r are one tensor, without leaks",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const grads: Float32Array[] = [];
    for (const backend of [CPU, dev] as Backend[]) {
      const live = (backend as Device).pool?.live;
      const x = leaf(X, [R, C], backend), w = leaf(W, [C], backend), b = leaf(B, [C], backend);
      const out = scope(() => addLayerNorm(x, x, w, b));
      backward(out, Tensor.fromArray(DY, [R, C], { backend }));
      out.dispose();
      grads.push(await x.grad!.toArray() as Float32Array);
      for (const t of [x, w, b]) {
        t.grad?.dispose();
        t.dispose();
      }
      if (live !== undefined) deepStrictEqual((backend as Device).pool.live, live);
    }
    // d LN(2x) / dx = 2 LN'(2x): compare with the reference at 2x.
    const x2 = Float64Array.from(X, (v) => 2 * v);
    const mean = new Float64Array(R), rstd = new Float64Array(R), out = new Float64Array(R * C);
    const w = Float64Array.from(W);
    layerNormKernel.cpu({ x: x2, w, b: w, out, mean, rstd, rows: R, cols: C });
    const dX = new Float64Array(R * C);
    layerNormBackwardKernel.cpu({
      x: x2,
      w,
      mean,
      rstd,
      dOut: Float64Array.from(DY),
      dX,
      rows: R,
      cols: C,
    });
    const want = dX.map((v) => 2 * v);
    assertClose(grads[0], want, 1e-3, "cpu");
    assertClose(grads[1], want, 1e-3, "webgpu");
  },
});

Deno.test("layerNorm() rejects mismatched weights and residuals with clear errors", () => {
  const x = Tensor.fromArray(X, [R, C], { backend: CPU });
  const w = Tensor.fromArray(W.subarray(0, 5), [5], { backend: CPU });
  const b = Tensor.fromArray(B, [C], { backend: CPU });
  throws(
    () => layerNorm(x, w, b),
    /Cannot layerNorm shape \[13, 12\] with weight \[5\] and bias \[12\]: both must be \[12\]/,
  );
  const r = Tensor.fromArray(X, [C, R], { backend: CPU });
  throws(() => addLayerNorm(x, r, b, b), /Cannot addLayerNorm shapes \[13, 12\] and \[12, 13\]/);
});

Deno.test({
  name: "addLayerNorm() gives x and r one shared gradient when both come from ops, correctly",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const rows = 5, cols = 8;
    const leaves: Leaf[] = [
      { data: randArray(rows * cols, 11, -1, 1), shape: [rows, cols] },
      { data: randArray(rows * cols, 12, -1, 1), shape: [rows, cols] },
      { data: randArray(cols, 13, 0.5, 1.5), shape: [cols] },
      { data: randArray(cols, 14), shape: [cols] },
      { data: randArray(cols * cols, 15, -0.5, 0.5), shape: [cols, cols] },
    ];
    // r computed from x by a linear layer (a post-norm block: the linear's input gradient would
    // be added in place into x's if that storage were not shared), and x and r used again after
    // the norm: their gradients get contributions before and after the shared one.
    const graphs: [string, (t: Tensor[]) => Tensor][] = [
      ["block", ([a, c, w, b, m]) => {
        const x = add(a, c);
        return addLayerNorm(x, linear(x, m), w, b);
      }],
      ["reused", ([a, c, w, b]) => {
        const x = add(a, c), r = mul(a, c);
        return add(addLayerNorm(x, r, w, b), mul(x, r));
      }],
    ];
    for (const [what, build] of graphs) {
      await assertFiniteDiff(leaves, build, what);
      const live = dev.pool.live;
      assertSameRuns(await runGraph(dev, leaves, build), await runGraph(CPU, leaves, build), what);
      deepStrictEqual(dev.pool.live, live);
    }
  },
});
