// Golden tests of training as a whole: a one-block causal transformer built ad hoc from the ops
// overfits a fixed batch; a full step returns the pool to its live count; gradients are
// bit-identical run after run.
import { deepStrictEqual, ok } from "node:assert/strict";
import { causalAttention } from "../../core/ops/attention.ts";
import { backward } from "../../core/ops/backward.ts";
import { add } from "../../core/ops/elementwise.ts";
import { embedding } from "../../core/ops/embedding.ts";
import { gluGelu } from "../../core/ops/glu.ts";
import { addLayerNorm, layerNorm } from "../../core/ops/layernorm.ts";
import { crossEntropy } from "../../core/ops/loss.ts";
import { linear } from "../../core/ops/matmul.ts";
import { ParamArena } from "../../core/arena.ts";
import { AdamW } from "../../core/optim.ts";
import { type Backend, CPU } from "../../core/backend.ts";
import { scope, Tensor } from "../../core/tensor.ts";
import { gpuTest, maybeDevice, mulberry } from "../kernels/_harness.ts";

const [V, H, I, HEADS, B, T] = [19, 32, 64, 4, 16, 8];

/** A one-block post-norm transformer over the flat arena, as a closure. */
function tinyTransformer(backend: Backend) {
  const specs = [
    { name: "tok", shape: [V, H] },
    { name: "pos", shape: [T, H] },
    { name: "ln0.weight", shape: [H] },
    { name: "ln0.bias", shape: [H] },
    { name: "qkv", shape: [3 * H, H] },
    { name: "proj", shape: [H, H] },
    { name: "ln1.weight", shape: [H] },
    { name: "ln1.bias", shape: [H] },
    { name: "fc1", shape: [I, H] },
    { name: "fc2", shape: [H, I / 2] },
    { name: "ln2.weight", shape: [H] },
    { name: "ln2.bias", shape: [H] },
    { name: "head", shape: [V, H] },
  ];
  const arena = new ParamArena(backend, specs);
  const r = mulberry(42);
  const init: Record<string, Float32Array> = {};
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    init[s.name] = s.name.endsWith("weight")
      ? new Float32Array(n).fill(1)
      : s.name.endsWith("bias")
      ? new Float32Array(n)
      : Float32Array.from({ length: n }, () => (r() - 0.5) * 0.4);
  }
  arena.writeAll(init);
  const p = (n: string) => arena.get(n);
  const positions = Tensor.fromArray(Array.from({ length: T }, (_, i) => i), [T], {
    dtype: "i32",
    backend,
  });
  const loss = (ids: Tensor, targets: Tensor) => {
    // Token + learned position embeddings, then LayerNorm. (B, T, H)
    let x = add(embedding(p("tok"), ids), embedding(p("pos"), positions));
    x = layerNorm(x, p("ln0.weight"), p("ln0.bias"));
    const att = causalAttention(linear(x, p("qkv")), { heads: HEADS }); // (B, T, H)
    x = addLayerNorm(x, linear(att, p("proj")), p("ln1.weight"), p("ln1.bias"));
    x = addLayerNorm(
      x,
      linear(gluGelu(linear(x, p("fc1"))), p("fc2")),
      p("ln2.weight"),
      p("ln2.bias"),
    );
    const logits = linear(x, p("head")).reshape([B * T, V]);
    return crossEntropy(logits, targets);
  };
  return { arena, loss };
}

function batch(backend: Backend) {
  const r = mulberry(7);
  const ids = new Int32Array(B * T), targets = new Int32Array(B * T);
  for (let i = 0; i < B * T; i++) ids[i] = 4 + Math.floor(r() * 15);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) targets[b * T + t] = t + 1 < T ? ids[b * T + t + 1] : -100;
  }
  return {
    ids: Tensor.fromArray(ids, [B, T], { dtype: "i32", backend }),
    targets: Tensor.fromArray(targets, [B * T], { dtype: "i32", backend }),
  };
}

Deno.test({
  name: "a one-block transformer built from the ops overfits a fixed batch within 300 steps",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const { arena, loss } = tinyTransformer(dev);
    const opt = new AdamW(arena, { lr: 3e-3, weightDecay: 0, maxGradNorm: 1 });
    const { ids, targets } = batch(dev);
    let first = NaN, last = NaN;
    for (let s = 0; s < 300; s++) {
      const value = await scope(() => {
        opt.zeroGrad();
        const l = loss(ids, targets);
        backward(l);
        opt.step();
        return l.toArray();
      });
      if (s === 0) first = value[0];
      last = value[0];
      if (last < 0.05 * first) break;
    }
    ok(last < 0.05 * first, `loss went from ${first} to ${last}`);
    opt.dispose();
    arena.dispose();
  },
});

Deno.test({
  name: "a full forward + backward + AdamW step leaves the pool's live count unchanged, " +
    "and steady-state steps create no buffers, pipelines or bind groups",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const { arena, loss } = tinyTransformer(dev);
    const opt = new AdamW(arena, {});
    const { ids, targets } = batch(dev);
    const step = () =>
      scope(() => {
        opt.zeroGrad();
        const l = loss(ids, targets);
        backward(l);
        opt.step();
        return l.toArray();
      });
    await step();
    const live = dev.pool.live, created = dev.pool.created;
    await step();
    deepStrictEqual(dev.pool.live, live);
    const { pipelines, bindGroups } = dev.stats;
    await step();
    deepStrictEqual(dev.pool.created, created, "steady-state steps allocate no new buffers");
    deepStrictEqual(dev.stats.pipelines, pipelines, "steady-state steps compile nothing");
    deepStrictEqual(dev.stats.bindGroups, bindGroups, "steady-state steps reuse their bind groups");
    opt.dispose();
    arena.dispose();
  },
});

async function gradsOf(backend: Backend): Promise<Float32Array> {
  const { arena, loss } = tinyTransformer(backend);
  const { ids, targets } = batch(backend);
  arena.zeroGrad();
  scope(() => backward(loss(ids, targets)));
  const g = await arena.readAll("grad");
  arena.dispose();
  return Float32Array.from(Object.values(g).flatMap((a) => [...a]));
}

Deno.test({
  name: "gradients are bit-identical run after run (webgpu and cpu)",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const be of [dev, CPU] as Backend[]) {
      const a = await gradsOf(be), b = await gradsOf(be);
      ok(a.some((x) => x !== 0));
      deepStrictEqual(a, b);
    }
  },
});
