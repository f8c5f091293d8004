import { deepStrictEqual, throws } from "node:assert/strict";
import type { KernelContext } from "../../kernels/context.ts";
import {
  attentionForward,
  attentionForwardCpu,
  type AttentionLayout,
  type AttentionShape,
} from "../../kernels/attention.ts";
import { attentionBackward, attentionBackwardCpu } from "../../kernels/attention_backward.ts";
import {
  attentionDecodeForward,
  attentionDecodeForwardCpu,
} from "../../kernels/attention_decode.ts";
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

/** One test shape: sizes plus whether a bias is added. */
interface Case extends AttentionShape {
  bias: boolean;
}

/**
 * Odd shapes covering T in {1, 7, 33}, hd in {4, 8, 12}, B in {1, 3}, with and without bias and
 * rotary, both layouts (each value meets several others), plus a head dimension that is not a
 * multiple of 4 (scalar loads) with a T spanning several query blocks. Kept short: each shape
 * is a few shaders, and llvmpipe compiles each in a fraction of a second on a cold cache.
 */
function cases(): Case[] {
  const c = (
    batch: number,
    seq: number,
    heads: number,
    headDim: number,
    layout: AttentionLayout,
    bias: boolean,
    rotary?: { offset?: number },
  ): Case => ({ batch, seq, heads, headDim, layout, bias, rotary });
  return [
    c(1, 1, 1, 4, "pytorch", false),
    c(3, 7, 2, 8, "interleaved", true, { offset: 2 }),
    c(3, 33, 2, 12, "pytorch", true),
    c(1, 33, 3, 8, "interleaved", false, {}),
    c(1, 7, 1, 12, "pytorch", false, {}),
    c(3, 1, 2, 4, "interleaved", true, {}),
    c(2, 70, 2, 6, "interleaved", true, {}),
  ];
}

const label = (c: Case & { path?: string }) =>
  `B=${c.batch} T=${c.seq} heads=${c.heads} hd=${c.headDim} ${c.layout}` +
  `${c.bias ? " bias" : ""}${c.rotary ? " rotary" : ""}${c.path ? ` (${c.path})` : ""}`;

/** Inputs of a case: qkv in [-2, 2), bias, output gradient. */
function inputs(c: Case, seed: number) {
  const H = c.heads * c.headDim;
  return {
    qkv: randArray(c.batch * c.seq * 3 * H, seed, -2, 2),
    bias: c.bias ? randArray(c.heads * c.seq * c.seq, seed + 1, -1, 1) : undefined,
    dout: randArray(c.batch * c.seq * H, seed + 2),
  };
}

/** CPU forward of a case (float32 arrays). */
function cpuForward(c: Case, x: ReturnType<typeof inputs>) {
  const out = new Float32Array(c.batch * c.seq * c.heads * c.headDim);
  const lse = new Float32Array(c.batch * c.heads * c.seq);
  attentionForwardCpu({ ...c, qkv: x.qkv, bias: x.bias, out, lse });
  return { out, lse };
}

Deno.test({
  name: "attentionForward() matches the CPU reference on odd shapes, layouts, bias and rotary",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const [k, c0] of cases().entries()) {
      for (const [path, ctx] of inputPaths(dev)) {
        const c = { ...c0, path };
        const x = inputs(c, 10 * k + 1);
        const want = cpuForward(c, x);
        const qkv = upload(dev, x.qkv), bias = x.bias ? upload(dev, x.bias) : undefined;
        const out = poisoned(dev, want.out.length), lse = poisoned(dev, want.lse.length);
        attentionForward(ctx, { ...c, qkv, bias, out, lse });
        assertClose(
          await readF32(dev, out, want.out.length),
          want.out,
          1e-4,
          `out ${label(c)}`,
          1e-2,
        );
        assertClose(
          await readF32(dev, lse, want.lse.length),
          want.lse,
          1e-4,
          `lse ${label(c)}`,
          1e-2,
        );
        // Without lse (inference): same output.
        const out2 = poisoned(dev, want.out.length);
        attentionForward(ctx, { ...c, qkv, bias, out: out2 });
        assertClose(
          await readF32(dev, out2, want.out.length),
          want.out,
          1e-4,
          `out ${label(c)}`,
          1e-2,
        );
        release(dev, qkv, out, lse, out2, ...(bias ? [bias] : []));
      }
    }
  },
});

Deno.test("attentionForwardCpu() is a softmax-weighted mean of the visible values", () => {
  // 1 head of dim 2, T 3, q = k = 0: uniform weights over positions 0..i.
  const qkv = new Float64Array([0, 0, 0, 0, 1, 10, 0, 0, 0, 0, 2, 20, 0, 0, 0, 0, 6, 60]);
  const out = new Float64Array(6), lse = new Float64Array(3);
  attentionForwardCpu({ qkv, out, lse, batch: 1, seq: 3, heads: 1, headDim: 2, layout: "pytorch" });
  deepStrictEqual([...out], [1, 10, 1.5, 15, 3, 30]);
  assertClose(lse, [0, Math.log(2), Math.log(3)], 1e-12, "lse");
});

Deno.test("attentionForwardCpu() rejects an odd head dimension with rotary", () => {
  const a = new Float32Array(9);
  throws(
    () =>
      attentionForwardCpu({
        qkv: a,
        out: a,
        batch: 1,
        seq: 1,
        heads: 1,
        headDim: 3,
        layout: "pytorch",
        rotary: {},
      }),
    /Rotary embedding needs an even head dimension, got 3/,
  );
});

/** sum(out * w) of the CPU forward in float64. */
function loss(c: Case, qkv: Float64Array, bias: Float64Array | undefined, w: Float64Array): number {
  const out = new Float64Array(w.length);
  attentionForwardCpu({ ...c, qkv, bias, out });
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

Deno.test("attentionBackwardCpu() matches float64 finite differences for qkv and bias", () => {
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
    attentionForwardCpu({ ...c, qkv, bias, out, lse });
    const dqkv = new Float64Array(qkv.length);
    const dbias = bias ? new Float64Array(bias.length) : undefined;
    attentionBackwardCpu({ ...c, qkv, out, lse, dout: w, dqkv, bias, dbias });
    const f = () => loss(c, qkv, bias, w);
    assertClose(dqkv, numericGrad(qkv, f), 1e-3, `dqkv ${label(c)}`, 1e-3);
    if (bias && dbias) assertClose(dbias, numericGrad(bias, f), 1e-3, `dbias ${label(c)}`, 1e-3);
  }
});

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
  attentionBackward(ctx ?? dev, { ...c, ...b });
  const dqkv = await readF32(dev, b.dqkv, x.qkv.length);
  const dbias = b.dbias && x.bias ? await readF32(dev, b.dbias, x.bias.length) : null;
  release(dev, ...Object.values(b).filter((v): v is GPUBuffer => v !== undefined));
  return { dqkv, dbias };
}

Deno.test({
  name: "attentionBackward() matches the CPU backward on odd shapes, layouts, bias and rotary",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const [k, c] of cases().entries()) {
      const x = inputs(c, 10 * k + 5);
      const fwd = cpuForward(c, x);
      const dqkv = new Float32Array(x.qkv.length);
      const dbias = x.bias ? new Float32Array(x.bias.length) : undefined;
      attentionBackwardCpu({ ...c, ...fwd, qkv: x.qkv, dout: x.dout, bias: x.bias, dqkv, dbias });
      for (const [path, ctx] of inputPaths(dev)) {
        const got = await gpuBackward(c, x, fwd, ctx);
        assertClose(got.dqkv, dqkv, 1e-4, `dqkv ${label({ ...c, path })}`, 1e-2);
        if (dbias) assertClose(got.dbias!, dbias, 1e-4, `dbias ${label({ ...c, path })}`, 1e-2);
      }
    }
  },
});

Deno.test({
  name: "attentionBackward() gives bit-identical gradients run after run",
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
  name: "attentionBackward() sums the bias gradient over batch chunks like the CPU backward",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const c: Case = { batch: 3, seq: 9, heads: 2, headDim: 4, layout: "pytorch", bias: true };
    const x = inputs(c, 88);
    const fwd = cpuForward(c, x);
    const dqkv = new Float32Array(x.qkv.length), dbias = new Float32Array(x.bias!.length);
    attentionBackwardCpu({ ...c, ...fwd, qkv: x.qkv, dout: x.dout, bias: x.bias, dqkv, dbias });
    dev.tuning.set("attention.dsBatch", "2"); // chunks of 2 and 1 batch rows
    try {
      const got = await gpuBackward(c, x, fwd);
      assertClose(got.dqkv, dqkv, 1e-4, "dqkv", 1e-2);
      assertClose(got.dbias!, dbias, 1e-4, "dbias", 1e-2);
    } finally {
      dev.tuning.delete("attention.dsBatch");
    }
  },
});

/**
 * Decodes a case chunk by chunk (a prefill of 2 positions, then one at a time) with a cache,
 * on the CPU reference and on the GPU; returns both outputs laid out like the full forward.
 */
async function decodeInChunks(c: Case, x: ReturnType<typeof inputs>) {
  const dev = (await maybeDevice())!;
  const { batch: B, seq: T, heads, headDim: hd } = c;
  const H = heads * hd, cap = T + 2;
  const kc = new Float32Array(B * heads * cap * hd), vc = new Float32Array(kc.length);
  const kg = poisoned(dev, kc.length), vg = poisoned(dev, kc.length);
  const cpu = new Float32Array(B * T * H), gpu = new Float32Array(B * T * H);
  const chunks = T > 2 ? [2, ...new Array(T - 2).fill(1)] : new Array(T).fill(1);
  let L = 0;
  for (const steps of chunks) {
    const qkv = new Float32Array(B * steps * 3 * H);
    for (let b = 0; b < B; b++) {
      qkv.set(x.qkv.subarray((b * T + L) * 3 * H, (b * T + L + steps) * 3 * H), b * steps * 3 * H);
    }
    // FIRE-style bias rows of the new positions over the current length L + steps.
    const S = L + steps;
    let bias: Float32Array | undefined;
    if (x.bias) {
      bias = new Float32Array(heads * steps * S);
      for (let h = 0; h < heads; h++) {
        for (let t = 0; t < steps; t++) {
          for (let j = 0; j < S; j++) {
            bias[(h * steps + t) * S + j] = x.bias[(h * T + L + t) * T + j];
          }
        }
      }
    }
    const args = { ...c, steps, capacity: cap, cacheLen: L, biasStride: S };
    const out = new Float32Array(B * steps * H);
    attentionDecodeForwardCpu({ ...args, qkv, kCache: kc, vCache: vc, out, bias });
    const qg = upload(dev, qkv), og = poisoned(dev, out.length);
    const bg = bias ? upload(dev, bias) : undefined;
    attentionDecodeForward(dev, { ...args, qkv: qg, kCache: kg, vCache: vg, out: og, bias: bg });
    const outG = await readF32(dev, og, out.length);
    for (let b = 0; b < B; b++) {
      cpu.set(out.subarray(b * steps * H, (b + 1) * steps * H), (b * T + L) * H);
      gpu.set(outG.subarray(b * steps * H, (b + 1) * steps * H), (b * T + L) * H);
    }
    release(dev, qg, og, ...(bg ? [bg] : []));
    L += steps;
  }
  release(dev, kg, vg);
  return { cpu, gpu };
}

Deno.test({
  name: "attentionDecodeForward() decoding position by position equals full causal attention",
  ...gpuTest,
  fn: async () => {
    const list: Case[] = [
      { batch: 1, seq: 1, heads: 1, headDim: 4, layout: "pytorch", bias: false },
      { batch: 3, seq: 7, heads: 2, headDim: 8, layout: "interleaved", bias: true, rotary: {} },
      {
        batch: 2,
        seq: 13,
        heads: 3,
        headDim: 6,
        layout: "pytorch",
        bias: true,
        rotary: { offset: 2 },
      },
      { batch: 2, seq: 33, heads: 2, headDim: 12, layout: "interleaved", bias: false, rotary: {} },
    ];
    for (const [k, c] of list.entries()) {
      const x = inputs(c, 300 + k);
      const want = cpuForward(c, x).out;
      const got = await decodeInChunks(c, x);
      assertClose(got.cpu, want, 1e-5, `cpu decode ${label(c)}`, 1e-2);
      assertClose(got.gpu, want, 1e-4, `gpu decode ${label(c)}`, 1e-2);
    }
  },
});

Deno.test({
  name: "attentionDecodeForward() with per-row cache lengths matches the CPU reference",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const [k, rotary] of [undefined, { offset: 1 }].entries()) {
      const B = 3, steps = 2, heads = 2, hd = 8, cap = 21, H = heads * hd;
      const lengths = new Int32Array([0, 7, 19]);
      const qkv = randArray(B * steps * 3 * H, 500 + k);
      const kc = randArray(B * heads * cap * hd, 510 + k), vc = randArray(kc.length, 520 + k);
      const bias = randArray(B * heads * steps * cap, 530 + k);
      const args = {
        batch: B,
        steps,
        heads,
        headDim: hd,
        capacity: cap,
        cacheLen: 0,
        layout: "interleaved" as AttentionLayout,
        rotary,
        biasPerRow: true,
      };
      const g = {
        qkv: upload(dev, qkv),
        kCache: upload(dev, kc),
        vCache: upload(dev, vc),
        bias: upload(dev, bias),
        lengths: upload(dev, lengths),
        out: poisoned(dev, B * steps * H),
      };
      const out = new Float32Array(B * steps * H);
      attentionDecodeForwardCpu({ ...args, qkv, kCache: kc, vCache: vc, out, bias, lengths });
      attentionDecodeForward(dev, { ...args, ...g });
      assertClose(await readF32(dev, g.out, out.length), out, 1e-4, "out", 1e-2);
      assertClose(await readF32(dev, g.kCache, kc.length), kc, 1e-5, "kCache", 1e-2);
      assertClose(await readF32(dev, g.vCache, vc.length), vc, 0, "vCache");
      release(dev, ...Object.values(g));
    }
  },
});

Deno.test("attentionDecodeForwardCpu() rejects a cache overflow", () => {
  const a = new Float32Array(64);
  throws(
    () =>
      attentionDecodeForwardCpu({
        qkv: a,
        kCache: a,
        vCache: a,
        out: a,
        cacheLen: 3,
        batch: 1,
        steps: 2,
        heads: 1,
        headDim: 4,
        capacity: 4,
        layout: "pytorch",
      }),
    /Attention cache overflow: 3 cached \+ 2 new > capacity 4/,
  );
});

Deno.test({
  name: "attention kernels match the CPU references with the real-GPU launch geometry",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    // The same device, presented as a discrete GPU: 64-lane workgroups with one row per lane
    // (32 lanes for decoding), the variant real GPUs run.
    const ctx: KernelContext = {
      device: dev.device,
      adapterName: dev.adapterName,
      isCpuAdapter: false,
      maxWorkgroups: dev.maxWorkgroups,
      dispatch: (spec) => dev.dispatch(spec),
      scratch: (bytes) => dev.scratch(bytes),
      scratchTexture: (w, h, l) => dev.scratchTexture(w, h, l),
      tuning: new Map(),
    };
    const c: Case = {
      batch: 2,
      seq: 70,
      heads: 2,
      headDim: 8,
      layout: "interleaved",
      bias: true,
      rotary: { offset: 1 },
    };
    const x = inputs(c, 900);
    const want = cpuForward(c, x);
    const g = {
      qkv: upload(dev, x.qkv),
      bias: upload(dev, x.bias!),
      out: poisoned(dev, want.out.length),
      lse: poisoned(dev, want.lse.length),
      dout: upload(dev, x.dout),
      dqkv: poisoned(dev, x.qkv.length),
      dbias: poisoned(dev, x.bias!.length),
    };
    attentionForward(ctx, { ...c, ...g });
    assertClose(await readF32(dev, g.out, want.out.length), want.out, 1e-4, "out", 1e-2);
    const dqkv = new Float32Array(x.qkv.length), dbias = new Float32Array(x.bias!.length);
    attentionBackwardCpu({ ...c, ...want, qkv: x.qkv, dout: x.dout, bias: x.bias, dqkv, dbias });
    attentionBackward(ctx, { ...c, ...g, out: upload(dev, want.out), lse: upload(dev, want.lse) });
    assertClose(await readF32(dev, g.dqkv, dqkv.length), dqkv, 1e-4, "dqkv", 1e-2);
    assertClose(await readF32(dev, g.dbias, dbias.length), dbias, 1e-4, "dbias", 1e-2);
    // Decoding: prefill all 70 positions at once (more keys than lanes).
    const cap = c.seq, H = c.heads * c.headDim;
    const kc = poisoned(dev, c.batch * c.heads * cap * c.headDim);
    const vc = poisoned(dev, c.batch * c.heads * cap * c.headDim);
    const out = poisoned(dev, c.batch * c.seq * H);
    attentionDecodeForward(ctx, {
      ...c,
      steps: c.seq,
      capacity: cap,
      cacheLen: 0,
      qkv: g.qkv,
      kCache: kc,
      vCache: vc,
      out,
      bias: g.bias,
      biasStride: c.seq,
    });
    assertClose(await readF32(dev, out, want.out.length), want.out, 1e-4, "decode", 1e-2);
    release(dev, ...Object.values(g), kc, vc, out);
  },
});
