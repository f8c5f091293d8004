import { throws } from "node:assert/strict";
import type { AttentionLayout } from "../../kernels/attention.ts";
import { attentionDecodeKernel } from "../../kernels/attention.ts";
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
import { type Case, cpuForward, inputs, label } from "./_attention_cases.ts";

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
    attentionDecodeKernel.cpu({ ...args, qkv, kCache: kc, vCache: vc, out, bias });
    const qg = upload(dev, qkv), og = poisoned(dev, out.length);
    const bg = bias ? upload(dev, bias) : undefined;
    attentionDecodeKernel.gpu(dev, { ...args, qkv: qg, kCache: kg, vCache: vg, out: og, bias: bg });
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
  name: "attentionDecodeKernel.gpu() decoding position by position equals full causal attention",
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
  name: "attentionDecodeKernel.gpu() with per-row cache lengths matches the CPU reference",
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
      attentionDecodeKernel.cpu({ ...args, qkv, kCache: kc, vCache: vc, out, bias, lengths });
      attentionDecodeKernel.gpu(dev, { ...args, ...g });
      assertClose(await readF32(dev, g.out, out.length), out, 1e-4, "out", 1e-2);
      assertClose(await readF32(dev, g.kCache, kc.length), kc, 1e-5, "kCache", 1e-2);
      assertClose(await readF32(dev, g.vCache, vc.length), vc, 0, "vCache");
      release(dev, ...Object.values(g));
    }
  },
});

Deno.test("attentionDecodeKernel.cpu() rejects a cache overflow", () => {
  const a = new Float32Array(64);
  throws(
    () =>
      attentionDecodeKernel.cpu({
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

Deno.test("attentionDecodeKernel.cpu() appends to the caches and averages v on a worked case", () => {
  // one head of dim 1, a cached key/value (q.k = 0 everywhere): the new query averages v
  const kCache = new Float64Array([0, 0]), vCache = new Float64Array([1, 0]);
  const out = new Float64Array(1);
  attentionDecodeKernel.cpu({
    qkv: new Float64Array([1, 0, 3]),
    kCache,
    vCache,
    out,
    cacheLen: 1,
    batch: 1,
    steps: 1,
    heads: 1,
    headDim: 1,
    capacity: 2,
    layout: "pytorch",
  });
  assertClose([vCache[1], out[0]], [3, 2], 0, "cached v and output");
});
