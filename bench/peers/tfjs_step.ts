/**
 * TensorFlow.js peer of the abacus training-step benchmark (issue 9): the post-norm transformer
 * stack of `README.md` trained with `tf.train.adam` on TF.js's WebGPU backend under Deno (eager
 * ops, `WEBGPU_CPU_FORWARD` off so that no op silently runs on the CPU). Prints one JSON line.
 * Run from bench/peers (its own deno.json): deno run -A tfjs_step.ts --layers 2 --hidden 128 ... --weights FILE
 * @module
 */
// The umbrella package registers the gradients; tfjs-core alone would leave them missing.
// deno-lint-ignore no-import-prefix -- the brief keeps deno.json untouched
import * as tf from "npm:@tensorflow/tfjs@4.22.0";
// deno-lint-ignore no-import-prefix -- the brief keeps deno.json untouched
import "npm:@tensorflow/tfjs-backend-webgpu@4.22.0";
import {
  ADAM,
  LN_EPS,
  oneHotTargets,
  parseArgs,
  type PeerConfig,
  readInputs,
  runSteps,
  VOCAB,
} from "./common.ts";

const VERSION = "4.22.0";

/** LayerNorm over the last axis, two-pass variance like PyTorch. */
function layerNorm(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const xc = tf.sub(x, tf.mean(x, -1, true));
  const v = tf.mean(tf.square(xc), -1, true);
  return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(v, LN_EPS))), w), b);
}

/** x (rows, in) times W^T for a PyTorch-layout weight W (out, in). */
function linear(x: tf.Tensor, w: tf.Tensor): tf.Tensor2D {
  return tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D, false, true);
}

/** Exact GELU, x/2 (1 + erf(x / sqrt 2)); TF.js has no exact GELU op. */
function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

/** The model's mean cross-entropy for params in `paramSpecs` order, (B*T) int32 tokens and
 * (B*T, V) one-hot targets, as a function to call inside a tape (e.g. `minimize`). */
function makeLoss(
  cfg: PeerConfig,
  params: tf.Variable[],
  tokens: tf.Tensor1D,
  targets: tf.Tensor2D,
): () => tf.Scalar {
  const { batch: B, seq: T, hidden: H, heads, layers } = cfg;
  const hd = H / heads;
  // Additive causal mask: 0 on and below the diagonal, -1e9 above (exp underflows to exactly 0).
  const mask = tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)), -1e9));
  const toHeads = (a: tf.Tensor) => tf.transpose(tf.reshape(a, [B, T, heads, hd]), [0, 2, 1, 3]);
  return () => {
    let i = 0;
    const next = () => params[i++];
    let x: tf.Tensor = tf.gather(next(), tokens); // (B*T, H)
    x = layerNorm(x, next(), next());
    for (let l = 0; l < layers; l++) {
      const [q, k, v] = tf.split(linear(x, next()), 3, -1).map(toHeads);
      const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hd)), mask);
      const att = tf.matMul(tf.softmax(scores, -1), v); // (B, heads, T, hd)
      const merged = tf.reshape(tf.transpose(att, [0, 2, 1, 3]), [B * T, H]);
      x = layerNorm(tf.add(x, linear(merged, next())), next(), next());
      const [val, gate] = tf.split(linear(x, next()), 2, -1);
      x = layerNorm(tf.add(x, linear(tf.mul(gelu(gate), val), next())), next(), next());
    }
    x = layerNorm(x, next(), next());
    const logp = tf.logSoftmax(linear(x, next()), -1);
    return tf.mul(tf.sum(tf.mul(logp, targets)), -1 / (B * (T - 1))) as tf.Scalar;
  };
}

if (import.meta.main) {
  const cfg = parseArgs(Deno.args);
  const t0 = performance.now();
  tf.env().set("WEBGPU_CPU_FORWARD", false);
  if (!(await tf.setBackend("webgpu"))) throw new Error("TF.js could not start its WebGPU backend");
  await tf.ready();
  const inputs = readInputs(cfg);
  const tokens = tf.tensor1d(inputs.tokens, "int32");
  const targets = tf.tensor2d(oneHotTargets(cfg, inputs.tokens), [cfg.batch * cfg.seq, VOCAB]);
  const params = inputs.params.map((p) =>
    tf.variable(tf.tensor(p.data, p.spec.shape), true, p.spec.name)
  );
  const loss = makeLoss(cfg, params, tokens, targets);
  const opt = tf.train.adam(ADAM.lr, ADAM.beta1, ADAM.beta2, ADAM.eps);
  const step = async () => {
    const cost = opt.minimize(loss, true, params);
    if (!cost) throw new Error("minimize returned no cost");
    const value = (await cost.data())[0];
    cost.dispose();
    return value;
  };
  await runSteps("tfjs", cfg, t0, step, () => ({
    version: VERSION,
    backend: tf.getBackend(),
    flags: { WEBGPU_CPU_FORWARD: tf.env().getBool("WEBGPU_CPU_FORWARD") },
    step: "eager ops under optimizer.minimize; attention as matMul + additive mask + softmax",
    optimizer: `tf.train.adam lr ${ADAM.lr} betas (${ADAM.beta1}, ${ADAM.beta2}) eps ${ADAM.eps}`,
    tensors_after: tf.memory().numTensors,
  }));
}
