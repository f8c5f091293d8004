import { deepStrictEqual } from "node:assert/strict";
import type { KernelContext } from "../../kernels/context.ts";
import { attentionBackwardKernel, attentionKernel } from "../../kernels/attention.ts";
import {
  assertClose,
  gpuTest,
  inputPaths,
  maybeDevice,
  poisoned,
  readF32,
  release,
  upload,
} from "./_harness.ts";
import { type Case, cases, cpuForward, inputs, label } from "./_attention_cases.ts";

/** sum(out * w) of the CPU forward in float64. */
function loss(c: Case, qkv: Float64Array, bias: Float64Array | undefined, w: Float64Array): number {
  const out = new Float64Array(w.length);
  attentionKernel.cpu({ ...c, qkv, bias, out });
  let s = 0;
  for (let i = 0; i < out.length; i++) s += out[i] * w[i];
  return s;
}

/** Central differences of `f` with respect to every element of `x` (restored afterwards). */
function numericGrad(x: Float64Array, f: () => number, h = 1e-5): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    x[i] = v + h;
    const lp = f();
    x[i] = v - h;
    const lm = f();
    x[i] = v;
    g[i] = (lp - lm) / (2 * h);
  }
  return g;
}

Deno.test("attentionBackwardKernel.cpu() matches float64 finite differences for qkv and bias", () => {
  const small: Case[] = [
    { batch: 2, seq: 5, heads: 2, headDim: 4, layout: "interleaved", bias: true, rotary: {} },
    {
      batch: 1,
      seq: 7,
      heads: 1,
      headDim: 6,
      layout: "pytorch",
      bias: true,
      rotary: { offset: 3 },
    },
    { batch: 2, seq: 4, heads: 3, headDim: 2, layout: "pytorch", bias: false },
    { batch: 1, seq: 1, heads: 1, headDim: 4, layout: "interleaved", bias: true, rotary: {} },
  ];
  for (const [k, c] of small.entries()) {
    const x = inputs(c, 100 + k);
    const qkv = Float64Array.from(x.qkv), bias = x.bias ? Float64Array.from(x.bias) : undefined;
    const w = Float64Array.from(x.dout);
    const out = new Float64Array(w.length), lse = new Float64Array(c.batch * c.heads * c.seq);
    attentionKernel.cpu({ ...c, qkv, bias, out, lse });
    const dqkv = new Float64Array(qkv.length);
    const dbias = bias ? new Float64Array(bias.length) : undefined;
    attentionBackwardKernel.cpu({ ...c, qkv, out, lse, dout: w, dqkv, bias, dbias });
    const f = () => loss(c, qkv, bias, w);
    assertClose(dqkv, numericGrad(qkv, f), 1e-3, `dqkv ${label(c)}`, 1e-3);
    if (bias && dbias) assertClose(dbias, numericGrad(bias, f), 1e-3, `dbias ${label(c)}`, 1e-3);
  }
});

/** Runs the CPU reference backward (float32) of a case; dbias only when the case has a bias. */
function cpuBackward(
  c: Case,
  x: ReturnType<typeof inputs>,
  fwd: ReturnType<typeof cpuForward>,
): { dqkv: Float32Array; dbias: Float32Array | undefined } {
  const dqkv = new Float32Array(x.qkv.length);
  const dbias = x.bias ? new Float32Array(x.bias.length) : undefined;
  attentionBackwardKernel.cpu({
    ...c,
    ...fwd,
    qkv: x.qkv,
    dout: x.dout,
    bias: x.bias,
    dqkv,
    dbias,
  });
  return { dqkv, dbias };
}

/** Runs the GPU backward of a case; returns dqkv and dbias. */
async function gpuBackward(
  c: Case,
  x: ReturnType<typeof inputs>,
  fwd: ReturnType<typeof cpuForward>,
  ctx?: KernelContext,
) {
  const dev = (await maybeDevice())!;
  const b = {
    qkv: upload(dev, x.qkv),
    out: upload(dev, fwd.out),
    lse: upload(dev, fwd.lse),
    dout: upload(dev, x.dout),
    bias: x.bias ? upload(dev, x.bias) : undefined,
    dqkv: poisoned(dev, x.qkv.length),
    dbias: x.bias ? poisoned(dev, x.bias.length) : undefined,
  };
  attentionBackwardKernel.gpu(ctx ?? dev, { ...c, ...b });
  const dqkv = await readF32(dev, b.dqkv, x.qkv.length);
  const dbias = b.dbias && x.bias ? await readF32(dev, b.dbias, x.bias.length) : null;
  release(dev, ...Object.values(b).filter((v): v is GPUBuffer => v !== undefined));
  return { dqkv, dbias };
}

Deno.test({
  name:
    "attentionBackwardKernel.gpu() matches the CPU backward on odd shapes, layouts, bias and rotary",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const [k, c] of cases().entries()) {
      const x = inputs(c, 10 * k + 5);
      const fwd = cpuForward(c, x);
      const { dqkv, dbias } = cpuBackward(c, x, fwd);
      // Rows of one (batch, head) pair across the lanes ("0"), or pairs across them ("1").
      for (const across of ["0", "1"]) {
        dev.tuning.set("attention.across", across);
        for (const [p, ctx] of inputPaths(dev)) {
          const got = await gpuBackward(c, x, fwd, ctx);
          const path = `${p}, pairs across lanes ${across}`;
          assertClose(got.dqkv, dqkv, 1e-4, `dqkv ${label({ ...c, path })}`, 1e-2);
          if (dbias) assertClose(got.dbias!, dbias, 1e-4, `dbias ${label({ ...c, path })}`, 1e-2);
        }
      }
    }
    dev.tuning.delete("attention.across");
  },
});

Deno.test({
  name: "attentionBackwardKernel.gpu() gives bit-identical gradients run after run",
  ...gpuTest,
  fn: async () => {
    const c: Case = {
      batch: 3,
      seq: 33,
      heads: 2,
      headDim: 8,
      layout: "interleaved",
      bias: true,
      rotary: {},
    };
    const x = inputs(c, 77);
    const fwd = cpuForward(c, x);
    const a = await gpuBackward(c, x, fwd), b = await gpuBackward(c, x, fwd);
    deepStrictEqual(a.dqkv, b.dqkv);
    deepStrictEqual(a.dbias, b.dbias);
  },
});

Deno.test({
  name:
    "attentionBackwardKernel.gpu() sums the bias gradient over batch chunks like the CPU backward",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const c: Case = { batch: 3, seq: 9, heads: 2, headDim: 4, layout: "pytorch", bias: true };
    const x = inputs(c, 88);
    const fwd = cpuForward(c, x);
    const { dqkv, dbias } = cpuBackward(c, x, fwd);
    dev.tuning.set("attention.dsBatch", "2"); // chunks of 2 and 1 batch rows
    try {
      for (const across of ["0", "1"]) {
        dev.tuning.set("attention.across", across);
        const got = await gpuBackward(c, x, fwd);
        assertClose(got.dqkv, dqkv, 1e-4, `dqkv, pairs across lanes ${across}`, 1e-2);
        assertClose(got.dbias!, dbias!, 1e-4, `dbias, pairs across lanes ${across}`, 1e-2);
      }
    } finally {
      dev.tuning.delete("attention.dsBatch");
      dev.tuning.delete("attention.across");
    }
  },
});
