/**
 * `deno task bench step|model [--json] [--steps N]`: time per step of models built from arch
 * keys, fed random token batches at B=64, T=64, with the loss read back once per step (deferred
 * by one step) and the submits and readbacks per step (target: one of each). `step` times
 * forward + backward + AdamW of a one-block model (d=128, 4 heads); `model` times forward and
 * forward + backward for the 2x128 and 4x256 models, looped (one layer repeated) and standard
 * (separate layers).
 * @module
 */
import { AdamW } from "../../core/optim.ts";
import { backward } from "../../core/ops/backward.ts";
import { type Backend, initBackend } from "../../core/backend.ts";
import { noGrad, scope, type Tensor } from "../../core/tensor.ts";
import { ArithmeticModel } from "../../core/nn/model.ts";
import { type Arch, resolveArch } from "../../core/nn/arch.ts";
import { evalLoss, trainingLoss } from "../../core/nn/objective.ts";
import { Rng } from "../../kernels/rng.ts";

/**
 * Builds a model (seed 1, vocabulary 19; `params` counts its parameters) with AdamW (lr 1e-3
 * unless given, upstream's other defaults) and a training step on a (B, T) batch: zeroGrad, loss
 * (`trainingLoss` unless given), backward, AdamW. Shared by `bench step`, `bench model`, `bench profile` and `bench gpu`; call
 * `record` inside `scope()`.
 *
 * @example
 * ```ts ignore
 * const { record } = trainSetup(resolveArch({ hidden_size: 128 }, 19), backend, 64, 19);
 * const loss = scope(() => record(ids).toArray());
 * ```
 */
export function trainSetup(
  arch: Arch,
  backend: Backend,
  B: number,
  T: number,
  o: { lr?: number; loss?: (model: ArithmeticModel, ids: Int32Array) => Tensor } = {},
): { model: ArithmeticModel; opt: AdamW; record: (ids: Int32Array) => Tensor; params: number } {
  const model = ArithmeticModel.create(arch, { backend, seed: 1 });
  const opt = new AdamW(model.arena, { lr: o.lr ?? 1e-3 });
  const loss = o.loss ?? ((m, ids) => trainingLoss(m, ids, B, T));
  const record = (ids: Int32Array): Tensor => {
    opt.zeroGrad();
    const l = loss(model, ids);
    backward(l);
    opt.step();
    return l;
  };
  return { model, opt, record, params: model.arena.entries.reduce((n, e) => n + e.size, 0) };
}

/** One configuration's median and fastest ms per step, first step (compilation included),
 * submits, readbacks and tokens/s at the median, and the last loss (a sanity check). */
async function timeSteps(
  name: string,
  archKeys: Record<string, unknown>,
  o: { B: number; T: number; steps: number; mode: "forward" | "train"; backend: Backend },
) {
  const { backend, B, T } = o;
  const { model, opt, record, params } = trainSetup(resolveArch(archKeys, 19), backend, B, T);
  const rng = new Rng(7);
  const ids = new Int32Array(B * T);
  const times: number[] = [];
  let pending: Promise<ArrayLike<number>> | null = null;
  const dev = backend.kind === "webgpu" ? backend : null;
  let s0 = { submits: 0, readbacks: 0 };
  for (let s = 0; s <= o.steps; s++) {
    for (let i = 0; i < ids.length; i++) ids[i] = rng.int(4, 18);
    if (s === 1 && dev) s0 = { ...dev.stats };
    const t0 = performance.now();
    const read = scope(() => {
      if (o.mode === "train") return record(ids).toArray();
      return noGrad(() => evalLoss(model, ids, B, T).toArray());
    });
    await pending;
    pending = read;
    times.push(performance.now() - t0);
  }
  const lastLoss = (await pending!)[0];
  const steady = times.slice(1).sort((a, b) => a - b);
  const median = steady[Math.floor(steady.length / 2)];
  model.dispose();
  opt.dispose();
  return {
    name,
    mode: o.mode,
    msPerStep: median,
    msMin: steady[0],
    warmupMs: times[0],
    submitsPerStep: dev ? (dev.stats.submits - s0.submits) / o.steps : 0,
    readbacksPerStep: dev ? (dev.stats.readbacks - s0.readbacks) / o.steps : 0,
    tokensPerSecond: (B * T) / (median / 1000),
    params,
    lastLoss,
  };
}

/** Arch keys of a d-wide model with `heads` heads: `layers` layers looped `rec` times. */
function archKeys(layers: number, rec: number, d: number, heads: number): Record<string, unknown> {
  return {
    layers_in_recurrent_block: layers,
    maximal_recurrence: rec,
    hidden_size: d,
    intermed_size: 2 * d,
    attention: { num_attention_heads: heads },
    embedding: { pos_embedding: "abacus", max_seq_length: 256 },
  };
}

/** Times each `[name, arch keys, mode]` case; prints a table (or JSON with `--json`). */
async function bench(
  title: string,
  args: string[],
  defaultSteps: number,
  cases: [string, Record<string, unknown>, "forward" | "train"][],
): Promise<void> {
  const json = args.includes("--json");
  const si = args.indexOf("--steps");
  const steps = si >= 0 ? Number(args[si + 1]) : defaultSteps;
  const backend = await initBackend();
  const adapter = backend.kind === "webgpu" ? backend.adapterName : "cpu backend";
  const rows = [];
  for (const [name, keys, mode] of cases) {
    rows.push(await timeSteps(name, keys, { B: 64, T: 64, steps, mode, backend }));
  }
  if (json) {
    console.log(JSON.stringify({ bench: title, adapter, results: rows }, null, 2));
    return;
  }
  console.log(`${title} on ${adapter}`);
  console.log(
    "config        mode     ms/step   min    warm-up  submits/step  readbacks/step  tokens/s",
  );
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(13)} ${r.mode.padEnd(8)} ${r.msPerStep.toFixed(1).padStart(7)} ${
        r.msMin.toFixed(1).padStart(6)
      } ${r.warmupMs.toFixed(0).padStart(8)} ${r.submitsPerStep.toFixed(1).padStart(13)} ${
        r.readbacksPerStep.toFixed(1).padStart(15)
      } ${r.tokensPerSecond.toFixed(0).padStart(9)}`,
    );
  }
}

/**
 * Runs `bench step` (20 steps unless `--steps N`).
 *
 * @example
 * ```ts ignore
 * await runStep(["--json"]);
 * ```
 */
export function runStep(args: string[]): Promise<void> {
  return bench("bench step", args, 20, [["1x128", archKeys(1, 1, 128, 4), "train"]]);
}

/**
 * Runs `bench model` (10 steps unless `--steps N`).
 *
 * @example
 * ```ts ignore
 * await run(["--json"]);
 * ```
 */
export function run(args: string[]): Promise<void> {
  const cases: [string, Record<string, unknown>, "forward" | "train"][] = [];
  for (const [d, heads, depth] of [[128, 4, 2], [256, 8, 4]]) {
    for (const looped of [false, true]) {
      const name = looped ? `1x${depth} d${d}` : `${depth}x1 d${d}`;
      const keys = looped ? archKeys(1, depth, d, heads) : archKeys(depth, 1, d, heads);
      for (const mode of ["forward", "train"] as const) cases.push([name, keys, mode]);
    }
  }
  return bench("bench model", args, 10, cases);
}
