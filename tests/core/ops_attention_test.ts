import { deepStrictEqual, throws } from "node:assert/strict";
import { attentionDecode, causalAttention } from "../../core/ops/attention.ts";
import { type Backend, CPU } from "../../core/backend.ts";
import { noGrad, Tensor } from "../../core/tensor.ts";
import { assertClose, gpuTest, maybeDevice, randArray } from "../kernels/_harness.ts";
import { assertFiniteDiff, assertSameRuns, type Leaf, runGraph } from "./_grad_both.ts";

const B = 2, T = 5, HEADS = 2, HD = 4, H = HEADS * HD;

/** qkv (B, T, 3H) and a FIRE-like bias (heads, T, T). */
function leaves(seed: number, biasGrad = true): Leaf[] {
  return [
    { data: randArray(B * T * 3 * H, seed, -1, 1), shape: [B, T, 3 * H] },
    { data: randArray(HEADS * T * T, seed + 1, -1, 1), shape: [HEADS, T, T], grad: biasGrad },
  ];
}

const withBias = (ts: Tensor[]) =>
  causalAttention(ts[0], { heads: HEADS, layout: "interleaved", bias: ts[1], rotary: true });
const plain = (ts: Tensor[]) => causalAttention(ts[0], { heads: HEADS, layout: "pytorch" });

Deno.test("causalAttention() gradients match finite differences on the cpu backend", async () => {
  await assertFiniteDiff(leaves(1), withBias, "bias + rotary");
  await assertFiniteDiff(leaves(3).slice(0, 1), plain, "plain");
});

Deno.test({
  name: "causalAttention() gives the same values and gradients on cpu and webgpu",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (
      const [what, ls, build] of [
        ["bias + rotary", leaves(5), withBias],
        ["bias without gradient", leaves(6, false), withBias],
        ["plain", leaves(7).slice(0, 1), plain],
      ] as const
    ) {
      const cpu = await runGraph(CPU, [...ls], build);
      const gpu = await runGraph(dev, [...ls], build);
      deepStrictEqual(cpu.shape, [B, T, H]);
      assertSameRuns(gpu, cpu, what, 1e-2);
    }
  },
});

Deno.test("causalAttention() rejects bad shapes with clear messages", () => {
  const x = (shape: number[]) =>
    Tensor.fromArray(new Float32Array(shape.reduce((a, b) => a * b)), shape, { backend: CPU });
  throws(
    () => causalAttention(x([2, 5, 20]), { heads: 3 }),
    /Cannot attend over qkv of shape \[2, 5, 20\] with 3 heads: expected \(B, T, 3H\)/,
  );
  throws(
    () => causalAttention(x([2, 5, 24]), { heads: 2, bias: x([2, 5, 4]) }),
    /Cannot add an attention bias of shape \[2, 5, 4\]: expected \[2, 5, 5\]/,
  );
  throws(
    () => causalAttention(x([1, 2, 18]), { heads: 2, rotary: true }),
    /Cannot apply rotary embedding to heads of odd dimension 3/,
  );
});

/** Full causal attention, then the same sequence prefilled (3 positions) and decoded one by one. */
async function decodeVersusFull(backend: Backend) {
  const qkvData = randArray(B * T * 3 * H, 11, -1, 1);
  const biasData = randArray(HEADS * T * T, 12, -1, 1);
  const cap = T + 1;
  const made: Tensor[] = [];
  const make = (data: Float32Array, shape: number[]) => {
    const t = Tensor.fromArray(data, shape, { backend });
    made.push(t);
    return t;
  };
  const opts = { heads: HEADS, layout: "interleaved" as const, rotary: true };
  const qkv = make(qkvData, [B, T, 3 * H]), bias = make(biasData, [HEADS, T, T]);
  const fullOut = noGrad(() => causalAttention(qkv, { ...opts, bias }));
  made.push(fullOut);
  const full = await fullOut.toArray();
  const kCache = make(new Float32Array(B * HEADS * cap * HD), [B, HEADS, cap, HD]);
  const vCache = make(new Float32Array(kCache.size), [B, HEADS, cap, HD]);
  const got = new Float32Array(B * T * H);
  let L = 0;
  for (const steps of [3, 1, 1]) {
    const rows = new Float32Array(B * steps * 3 * H);
    for (let b = 0; b < B; b++) {
      rows.set(
        qkvData.subarray((b * T + L) * 3 * H, (b * T + L + steps) * 3 * H),
        b * steps * 3 * H,
      );
    }
    // Bias rows of the new positions over the current length (FIRE-style, stride L + steps).
    const S = L + steps, br = new Float32Array(HEADS * steps * S);
    for (let h = 0; h < HEADS; h++) {
      for (let t = 0; t < steps; t++) {
        for (let j = 0; j < S; j++) br[(h * steps + t) * S + j] = biasData[(h * T + L + t) * T + j];
      }
    }
    const out = attentionDecode(make(rows, [B, steps, 3 * H]), kCache, vCache, {
      ...opts,
      cacheLen: L,
      bias: make(br, [HEADS, steps, S]),
    });
    made.push(out);
    const o = await out.toArray();
    for (let b = 0; b < B; b++) {
      got.set(o.subarray(b * steps * H, (b + 1) * steps * H), (b * T + L) * H);
    }
    L += steps;
  }
  for (const t of made) t.dispose();
  return { full, got };
}

Deno.test("attentionDecode() on the cpu backend equals causalAttention position by position", async () => {
  const { full, got } = await decodeVersusFull(CPU);
  assertClose(got, full, 1e-5, "decode", 1e-2);
});

Deno.test({
  name: "attentionDecode() on webgpu equals causalAttention position by position",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const { full, got } = await decodeVersusFull(dev);
    assertClose(got, full, 1e-4, "decode", 1e-2);
  },
});

Deno.test("attentionDecode() rejects a cache of the wrong shape", () => {
  const t = (shape: number[]) =>
    Tensor.fromArray(new Float32Array(shape.reduce((a, b) => a * b)), shape, { backend: CPU });
  throws(
    () => attentionDecode(t([1, 1, 24]), t([1, 2, 4, 3]), t([1, 2, 4, 3]), { heads: 2 }),
    /Cannot use a key\/value cache of shape \[1, 2, 4, 3\]: expected \[1, 2, capacity, 4\]/,
  );
});
