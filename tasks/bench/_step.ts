/**
 * Shared timing loop of the model benchmarks (`bench step`, `bench model`): builds a model from
 * arch keys, feeds random token batches, and times forward-only or forward + backward + AdamW
 * steps with the loss read back once per step (deferred by one step), counting submits and
 * readbacks per step from the device's counters.
 * @module
 */
import { AdamW } from "../../core/optim.ts";
import { noGrad } from "../../core/grad_mode.ts";
import { backward } from "../../core/ops/backward.ts";
import { type Backend, initBackend } from "../../core/backend.ts";
import { scope, type Tensor } from "../../core/tensor.ts";
import { ArithmeticModel } from "../../core/nn/model.ts";
import { resolveArch } from "../../core/nn/arch.ts";
import { evalLoss, trainingLoss } from "../../core/nn/objective.ts";
import { Rng } from "../../kernels/rng.ts";

/** Result of one timed configuration. */
export interface StepTiming {
  /** Label of the configuration. */
  name: string;
  /** `forward` or `train` (forward + backward + AdamW). */
  mode: "forward" | "train";
  /** Median milliseconds per step. */
  msPerStep: number;
  /** Fastest step. */
  msMin: number;
  /** First step (includes pipeline compilation). */
  warmupMs: number;
  /** Queue submits per step. */
  submitsPerStep: number;
  readbacksPerStep: number;
  /** Tokens per second at the median. */
  tokensPerSecond: number;
  /** Parameter count. */
  params: number;
  /** Loss of the last step (a sanity check that it computed something). */
  lastLoss: number;
}

/** A model, its optimizer and one training step, as the benchmarks build them. */
export interface TrainSetup {
  /** The model (seed 1, vocabulary 19). */
  model: ArithmeticModel;
  /** AdamW, lr 1e-3, upstream's other defaults. */
  opt: AdamW;
  /** Records one step on a (B, T) batch (zeroGrad, loss, backward, AdamW); returns the loss. */
  record: (ids: Int32Array) => Tensor;
}

/**
 * Builds a model from upstream-style arch keys with its optimizer and training step (shared by
 * `bench step`, `bench model` and `bench profile`). Call `record` inside `scope()`.
 *
 * @example
 * ```ts ignore
 * const { record } = trainSetup({ hidden_size: 128 }, backend, 64, 19);
 * const loss = scope(() => record(ids).toArray());
 * ```
 * @param archKeys upstream `arch` keys
 */
export function trainSetup(
  archKeys: Record<string, unknown>,
  backend: Backend,
  B: number,
  T: number,
): TrainSetup {
  const model = ArithmeticModel.create(resolveArch(archKeys, 19), { backend, seed: 1 });
  const opt = new AdamW(model.arena, { lr: 1e-3 });
  const record = (ids: Int32Array): Tensor => {
    opt.zeroGrad();
    const loss = trainingLoss(model, ids, B, T);
    backward(loss);
    opt.step();
    return loss;
  };
  return { model, opt, record };
}

/**
 * Times steps of a model built from upstream-style arch keys.
 *
 * @example
 * ```ts ignore
 * const t = await timeSteps("1x128", { hidden_size: 128 }, { B: 64, T: 64, steps: 10, mode: "train" });
 * ```
 * @param archKeys upstream `arch` keys
 */
export async function timeSteps(
  name: string,
  archKeys: Record<string, unknown>,
  o: { B: number; T: number; steps: number; mode: "forward" | "train"; backend?: Backend },
): Promise<StepTiming> {
  const backend = o.backend ?? await initBackend();
  const { model, opt, record } = trainSetup(archKeys, backend, o.B, o.T);
  const rng = new Rng(7);
  const ids = new Int32Array(o.B * o.T);
  const times: number[] = [];
  let pending: Promise<ArrayLike<number>> | null = null;
  let lastLoss = NaN;
  const dev = backend.kind === "webgpu" ? backend : null;
  const s0 = { submits: dev?.stats.submits ?? 0, readbacks: dev?.stats.readbacks ?? 0 };
  let counted = 0;
  for (let s = 0; s <= o.steps; s++) {
    for (let i = 0; i < ids.length; i++) ids[i] = rng.int(4, 18);
    if (s === 1 && dev) {
      s0.submits = dev.stats.submits;
      s0.readbacks = dev.stats.readbacks;
    }
    const t0 = performance.now();
    const read = scope(() => {
      if (o.mode === "train") return record(ids).toArray();
      return noGrad(() => evalLoss(model, ids, o.B, o.T).toArray());
    });
    if (pending) lastLoss = (await pending)[0];
    pending = read;
    times.push(performance.now() - t0);
    if (s >= 1) counted++;
  }
  lastLoss = (await pending!)[0];
  const submits = dev ? (dev.stats.submits - s0.submits) / counted : 0;
  const readbacks = dev ? (dev.stats.readbacks - s0.readbacks) / counted : 0;
  const steady = times.slice(1).sort((a, b) => a - b);
  const median = steady[Math.floor(steady.length / 2)];
  const params = model.arena.entries.reduce((n, e) => n + e.size, 0);
  model.dispose();
  opt.dispose();
  return {
    name,
    mode: o.mode,
    msPerStep: median,
    msMin: steady[0],
    warmupMs: times[0],
    submitsPerStep: submits,
    readbacksPerStep: readbacks,
    tokensPerSecond: (o.B * o.T) / (median / 1000),
    params,
    lastLoss,
  };
}

/** Prints timings as a table (or JSON with `--json`). */
export function printTimings(
  title: string,
  adapter: string,
  rows: StepTiming[],
  json: boolean,
): void {
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
