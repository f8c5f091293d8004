/**
 * abacus's own side of the peer benchmark (issue 9): the post-norm transformer stack of
 * `README.md` built directly from abacus's ops on its WebGPU backend, trained with its AdamW
 * (weight decay 0, no clipping), one submit per step and the loss read back once per step,
 * deferred by one step (the way `tasks/bench/_step.ts` does) so the GPU never idles. Same CLI and
 * JSON line as the other peers (see `common.ts`).
 * Run from bench/peers (its own deno.json): deno run -A abacus_step.ts --layers 2 --hidden 128 ... --weights FILE
 * @module
 */
import { ParamArena } from "../../core/arena.ts";
import { AdamW } from "../../core/optim.ts";
import { causalAttention } from "../../core/ops/attention.ts";
import { backward } from "../../core/ops/backward.ts";
import { embedding } from "../../core/ops/embedding.ts";
import { gluGelu } from "../../core/ops/glu.ts";
import { addLayerNorm, layerNorm } from "../../core/ops/layernorm.ts";
import { crossEntropy } from "../../core/ops/loss.ts";
import { linear } from "../../core/ops/matmul.ts";
import { initBackend } from "../../core/backend.ts";
import { scope, Tensor } from "../../core/tensor.ts";
import { ADAM, LN_EPS, parseArgs, readInputs, runSteps, VOCAB } from "./common.ts";

if (import.meta.main) {
  const cfg = parseArgs(Deno.args);
  const t0 = performance.now();
  const backend = await initBackend("webgpu");
  if (backend.kind !== "webgpu") throw new Error("abacus found no WebGPU device");
  const inputs = readInputs(cfg);
  const { batch: B, seq: T, heads, layers } = cfg;
  const arena = new ParamArena(backend, inputs.params.map((p) => p.spec));
  arena.writeAll(Object.fromEntries(inputs.params.map((p) => [p.spec.name, p.data])));
  const opt = new AdamW(arena, {
    lr: ADAM.lr,
    betas: [ADAM.beta1, ADAM.beta2],
    eps: ADAM.eps,
    weightDecay: 0,
    maxGradNorm: null,
  });
  const P = (name: string) => arena.get(name);
  const targetIds = new Int32Array(B * T).fill(-100);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) targetIds[b * T + t] = inputs.tokens[b * T + t + 1];
  }
  // Created outside any scope: they live for the whole run.
  const ids = Tensor.fromArray(inputs.tokens, [B, T], { dtype: "i32", backend });
  const targets = Tensor.fromArray(targetIds, [B * T], { dtype: "i32", backend });

  const lossOf = (): Tensor => {
    let x = layerNorm(embedding(P("embed.weight"), ids), P("embed_norm.weight"), P("embed_norm.bias"), LN_EPS);
    for (let l = 0; l < layers; l++) {
      const p = `layers.${l}.`;
      const att = causalAttention(linear(x, P(p + "attn.qkv.weight")), { heads, layout: "pytorch" });
      x = addLayerNorm(x, linear(att, P(p + "attn.out.weight")), P(p + "norm1.weight"), P(p + "norm1.bias"), LN_EPS);
      const glu = gluGelu(linear(x, P(p + "ffn.in.weight")));
      x = addLayerNorm(x, linear(glu, P(p + "ffn.out.weight")), P(p + "norm2.weight"), P(p + "norm2.bias"), LN_EPS);
    }
    x = layerNorm(x, P("final_norm.weight"), P("final_norm.bias"), LN_EPS);
    const logits = linear(x, P("decoder.weight")).reshape([B * T, VOCAB]);
    return crossEntropy(logits, targets, { ignoreIndex: -100, reduction: "mean" });
  };

  // Step s is recorded and its loss readback started; then the loss of step s-1 is awaited.
  const step = () =>
    scope(() => {
      opt.zeroGrad();
      const loss = lossOf();
      backward(loss);
      opt.step();
      return loss.toArray();
    }).then((l) => l[0]);
  const details = () => ({
    backend: "webgpu",
    adapter: backend.adapterName,
    step: "abacus ops (embedding, layerNorm, addLayerNorm, linear, causalAttention pytorch " +
      "layout, gluGelu, crossEntropy), backward, one AdamW dispatch; one submit per step, " +
      "loss readback deferred by one step (step time = interval between successive losses " +
      "reaching the host; one unreported trailing step)",
    optimizer: `AdamW lr ${ADAM.lr} betas (${ADAM.beta1}, ${ADAM.beta2}) eps ${ADAM.eps}, ` +
      "weight decay 0, no clipping",
  });
  await runSteps("abacus", cfg, t0, step, details, true);
  opt.dispose();
  arena.dispose();
}
