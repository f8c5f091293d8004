/**
 * jax-js peer of the abacus training-step benchmark (issue 9): the post-norm transformer stack of
 * `README.md` trained with Adam on jax-js's WebGPU backend under Deno, the whole step (forward,
 * backward, Adam) traced once into one `jit` function. Prints one JSON line (see `common.ts`).
 * Run from bench/peers (its own deno.json): deno run -A jax_step.ts --layers 2 --hidden 128 ... --weights FILE
 * @module
 */
// deno-lint-ignore no-import-prefix -- the brief keeps deno.json untouched
import { defaultDevice, init, jit, nn, numpy as np, valueAndGrad } from "npm:@jax-js/jax@0.1.25";
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

const VERSION = "0.1.25";

/** LayerNorm over the last axis, two-pass variance like PyTorch; consumes x, w and b. */
function layerNorm(x: np.Array, w: np.Array, b: np.Array): np.Array {
  const mu = np.mean(x.ref, -1, { keepdims: true });
  const xc = x.sub(mu);
  const v = np.mean(np.square(xc.ref), -1, { keepdims: true });
  return xc.div(np.sqrt(v.add(LN_EPS))).mul(w).add(b);
}

/** x (rows, in) times W^T for a PyTorch-layout weight W (out, in); consumes both. */
function linear(x: np.Array, w: np.Array): np.Array {
  return np.matmul(x, np.transpose(w));
}

/** loss(params, tokens, targets): the model's mean cross-entropy for params in `paramSpecs`
 * order, tokens (B, T) int32 and targets (B*T, V) one-hot; consumes its arguments. */
function makeLoss(cfg: PeerConfig) {
  const { batch: B, seq: T, hidden: H, heads, layers } = cfg;
  const hd = H / heads;
  return (params: np.Array[], tokens: np.Array, targets: np.Array): np.Array => {
    let i = 0;
    const next = () => params[i++];
    // Embedding as one-hot times table: the gradient of np.take scatters with a WGSL helper taking
    // a storage pointer, which Deno's shader compiler (naga) rejects.
    let x = np.matmul(nn.oneHot(tokens.reshape([B * T]), VOCAB), next()); // (B*T, H)
    x = layerNorm(x, next(), next());
    for (let l = 0; l < layers; l++) {
      const qkv = linear(x.ref, next()).reshape([B, T, 3 * H]);
      const [q, k, v] = np.split(qkv, 3, -1).map((a) => a.reshape([B, T, heads, hd]));
      const att = nn.dotProductAttention(q, k, v, { isCausal: true }).reshape([B * T, H]);
      x = layerNorm(x.add(linear(att, next())), next(), next());
      const [val, gate] = np.split(linear(x.ref, next()), 2, -1);
      const glu = nn.gelu(gate, { approximate: false }).mul(val);
      x = layerNorm(x.add(linear(glu, next())), next(), next());
    }
    x = layerNorm(x, next(), next());
    const logits = linear(x, next()); // (B*T, V)
    const logp = nn.logSoftmax(logits, -1);
    return np.sum(logp.mul(targets)).mul(-1 / (B * (T - 1)));
  };
}

/** Adam state and parameters carried from step to step. */
type State = { params: np.Array[]; m: np.Array[]; v: np.Array[] };

/**
 * The jitted training step(state, tokens, targets, stepSize a, invSqrtBc2 c) -> [loss, new
 * state]: loss and gradients, then PyTorch-style Adam (p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) +
 * eps)), the bias corrections passed in as scalars so that the step compiles once.
 */
function makeStep(cfg: PeerConfig) {
  const loss = makeLoss(cfg);
  const { beta1: b1, beta2: b2, eps } = ADAM;
  return jit((s: State, tokens: np.Array, targets: np.Array, a: np.Array, c: np.Array) => {
    const [value, grads] = valueAndGrad(loss)(s.params.map((p) => p.ref), tokens, targets);
    const out: State = { params: [], m: [], v: [] };
    s.params.forEach((p, j) => {
      const g = grads[j];
      const m = s.m[j].mul(b1).add(g.ref.mul(1 - b1));
      const v = s.v[j].mul(b2).add(np.square(g).mul(1 - b2));
      const upd = m.ref.div(np.sqrt(v.ref).mul(c.ref).add(eps)).mul(a.ref);
      out.params.push(p.sub(upd));
      out.m.push(m);
      out.v.push(v);
    });
    a.dispose();
    c.dispose();
    return [value, out] as const;
  });
}

if (import.meta.main) {
  const cfg = parseArgs(Deno.args);
  const t0 = performance.now();
  const devices = await init("webgpu");
  if (!devices.includes("webgpu")) throw new Error("jax-js found no WebGPU device");
  defaultDevice("webgpu");
  const inputs = readInputs(cfg);
  const { batch: B, seq: T } = cfg;
  const tokens = np.array(inputs.tokens, { dtype: np.int32 }).reshape([B, T]);
  const targets = np.array(oneHotTargets(cfg, inputs.tokens)).reshape([B * T, VOCAB]);
  let state: State = {
    params: inputs.params.map((p) => np.array(p.data).reshape(p.spec.shape)),
    m: inputs.params.map((p) => np.zeros(p.spec.shape)),
    v: inputs.params.map((p) => np.zeros(p.spec.shape)),
  };
  const jitStep = makeStep(cfg);
  let t = 0;
  const step = async () => {
    t++;
    const a = np.array([ADAM.lr / (1 - ADAM.beta1 ** t)]).reshape([]);
    const c = np.array([1 / Math.sqrt(1 - ADAM.beta2 ** t)]).reshape([]);
    const [loss, next] = jitStep(state, tokens.ref, targets.ref, a, c);
    state = next;
    return (await loss.data())[0];
  };
  await runSteps("jax-js", cfg, t0, step, () => ({
    version: VERSION,
    backend: "webgpu",
    step: "one jit(valueAndGrad + Adam) per step; nn.dotProductAttention(isCausal); " +
      "embedding as oneHot @ table",
    optimizer:
      `Adam (hand-written in jax ops) lr ${ADAM.lr} betas (${ADAM.beta1}, ${ADAM.beta2}) ` +
      `eps ${ADAM.eps}, no weight decay`,
  }));
}
