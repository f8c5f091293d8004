import { deepStrictEqual, throws } from "node:assert/strict";
import type { KernelContext } from "../../kernels/context.ts";
import {
  attentionBackwardKernel,
  attentionDecodeKernel,
  attentionKernel,
} from "../../kernels/attention.ts";
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

Deno.test({
  name: "attentionKernel.gpu() matches the CPU reference on odd shapes, layouts, bias and rotary",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    // Rows of one (batch, head) pair across the lanes ("0"), or pairs across them ("1").
    for (const across of ["0", "1"]) {
      dev.tuning.set("attention.across", across);
      for (const [k, c0] of cases().entries()) {
        for (const [path, ctx] of inputPaths(dev)) {
          const c = { ...c0, path: `${path}, pairs across lanes ${across}` };
          const x = inputs(c, 10 * k + 1);
          const want = cpuForward(c, x);
          const qkv = upload(dev, x.qkv), bias = x.bias ? upload(dev, x.bias) : undefined;
          const out = poisoned(dev, want.out.length), lse = poisoned(dev, want.lse.length);
          // A GPU result against the CPU's, read back at the CPU array's length.
          const check = async (buf: GPUBuffer, cpu: Float32Array, what: string) =>
            assertClose(
              await readF32(dev, buf, cpu.length),
              cpu,
              1e-4,
              `${what} ${label(c)}`,
              1e-2,
            );
          attentionKernel.gpu(ctx, { ...c, qkv, bias, out, lse });
          await check(out, want.out, "out");
          await check(lse, want.lse, "lse");
          // Without lse (inference): same output.
          const out2 = poisoned(dev, want.out.length);
          attentionKernel.gpu(ctx, { ...c, qkv, bias, out: out2 });
          await check(out2, want.out, "out");
          release(dev, qkv, out, lse, out2, ...(bias ? [bias] : []));
        }
      }
    }
    dev.tuning.delete("attention.across");
  },
});

Deno.test("attentionKernel.cpu() is a softmax-weighted mean of the visible values", () => {
  // 1 head of dim 2, T 3, q = k = 0: uniform weights over positions 0..i.
  const qkv = new Float64Array([0, 0, 0, 0, 1, 10, 0, 0, 0, 0, 2, 20, 0, 0, 0, 0, 6, 60]);
  const out = new Float64Array(6), lse = new Float64Array(3);
  attentionKernel.cpu({ qkv, out, lse, batch: 1, seq: 3, heads: 1, headDim: 2, layout: "pytorch" });
  deepStrictEqual([...out], [1, 10, 1.5, 15, 3, 30]);
  assertClose(lse, [0, Math.log(2), Math.log(3)], 1e-12, "lse");
});

Deno.test("attentionKernel.cpu() rejects an odd head dimension with rotary", () => {
  const a = new Float32Array(9);
  throws(
    () =>
      attentionKernel.cpu({
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

Deno.test({
  name: "attentionKernel.gpu() with keys and values staged in workgroup memory matches the CPU",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    // Tiles of 3 and 8 rows (ragged against the sequences and the 8-lane blocks), through
    // flat textures and storage buffers, on the CPU geometry (the GPU geometry: next test).
    for (const tile of ["3", "8"]) {
      dev.tuning.set("attention.tile", tile);
      try {
        for (const [k, c0] of cases().entries()) {
          for (const [path, ctx] of inputPaths(dev)) {
            const c = { ...c0, path };
            const x = inputs(c, 10 * k + 2);
            const want = cpuForward(c, x);
            const qkv = upload(dev, x.qkv), bias = x.bias ? upload(dev, x.bias) : undefined;
            const out = poisoned(dev, want.out.length), lse = poisoned(dev, want.lse.length);
            attentionKernel.gpu(ctx, { ...c, qkv, bias, out, lse });
            const what = `tile ${tile} ${label(c)}`;
            assertClose(await readF32(dev, out, want.out.length), want.out, 1e-4, what, 1e-2);
            assertClose(await readF32(dev, lse, want.lse.length), want.lse, 1e-4, what, 1e-2);
            release(dev, qkv, out, lse, ...(bias ? [bias] : []));
          }
        }
      } finally {
        dev.tuning.delete("attention.tile");
      }
    }
  },
});

Deno.test({
  name: "attention kernels match the CPU references with the real-GPU launch geometry",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    // The same device, presented as a discrete GPU: 64-lane workgroups with one row per lane
    // (32 lanes for decoding), keys and values staged in workgroup memory 32 rows at a time,
    // the variant real GPUs run.
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
    attentionKernel.gpu(ctx, { ...c, ...g });
    assertClose(await readF32(dev, g.out, want.out.length), want.out, 1e-4, "out", 1e-2);
    const dqkv = new Float32Array(x.qkv.length), dbias = new Float32Array(x.bias!.length);
    attentionBackwardKernel.cpu({
      ...c,
      ...want,
      qkv: x.qkv,
      dout: x.dout,
      bias: x.bias,
      dqkv,
      dbias,
    });
    attentionBackwardKernel.gpu(ctx, {
      ...c,
      ...g,
      out: upload(dev, want.out),
      lse: upload(dev, want.lse),
    });
    assertClose(await readF32(dev, g.dqkv, dqkv.length), dqkv, 1e-4, "dqkv", 1e-2);
    assertClose(await readF32(dev, g.dbias, dbias.length), dbias, 1e-4, "dbias", 1e-2);
    // Decoding: prefill all 70 positions at once (more keys than lanes).
    const cap = c.seq, H = c.heads * c.headDim;
    const kc = poisoned(dev, c.batch * c.heads * cap * c.headDim);
    const vc = poisoned(dev, c.batch * c.heads * cap * c.headDim);
    const out = poisoned(dev, c.batch * c.seq * H);
    attentionDecodeKernel.gpu(ctx, {
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
