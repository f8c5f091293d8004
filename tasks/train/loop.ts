// The training loop: optimizer steps of accumulated microbatches under upstream's batch ramp and
// trapezoid schedule, until the budget, the step cap or a non-finite loss stops it. A step (every
// microbatch's TBPTT loss, divided by their number, back-propagated into the arena's gradients,
// then clipping + AdamW and a zeroing fill) is recorded without a readback, a submit per
// microbatch at most; its loss is read back while the next step is recorded (one readback per
// step, deferred by one). Checkpoints are written at step boundaries with everything a bit-exact
// resume needs.

import { basename, join } from "node:path";
import type { PretrainConfig } from "../../cli/config_types.ts";
import type { CheckpointState, CrashPoint } from "../../core/checkpoint.ts";
import { trainingLoss } from "../../core/nn/objective.ts";
import type { ArithmeticModel } from "../../core/nn/model.ts";
import { backward } from "../../core/ops/backward.ts";
import { add, scale } from "../../core/ops/elementwise.ts";
import { noGrad, scope, type Tensor } from "../../core/tensor.ts";
import type { AdamW } from "../../core/optim.ts";
import type { Dataset } from "../../data/dataset.ts";
import type { Rng } from "../../kernels/rng.ts";
import { runConfigHash, saveTrainCheckpoint } from "./checkpoint_io.ts";
import { TrainStream } from "./dataset.ts";
import { TrainError } from "./errors.ts";
import type { StepRecord, TrainReport } from "./report.ts";
import {
  batchSizeAt,
  budgetOf,
  budgetProgress,
  type Counters,
  learningRate,
  microbatchesLeft,
  stopReason,
} from "./schedule.ts";

/**
 * Records one optimizer step over `batches` (gradient accumulation) and returns its mean loss.
 *
 * On the webgpu backend the work of every microbatch but the last is submitted as it is
 * recorded; the last one, the optimizer and the gradient zeroing go out with the next submit
 * (the loss readback). The model's generator draws the Abacus shift, TBPTT split and initial
 * state of each microbatch.
 *
 * @example
 * ```ts
 * import { recordStep } from "./loop.ts";
 * import { resolveArch } from "../../core/nn/arch.ts";
 * import { ArithmeticModel } from "../../core/nn/model.ts";
 * import { AdamW } from "../../core/optim.ts";
 * import { CPU } from "../../core/backend.ts";
 * import { ok } from "node:assert/strict";
 *
 * const arch = resolveArch({ hidden_size: 8, intermed_size: 16, attention: { num_attention_heads: 2 } }, 19);
 * const model = ArithmeticModel.create(arch, { backend: CPU, seed: 1 });
 * const opt = new AdamW(model.arena);
 * const ids = new Int32Array([5, 14, 6, 17, 7, 3]); // "1+2=3" and EOS
 * const loss = recordStep(model, opt, { batches: [ids, ids], rows: 1, rowLength: 6, lr: 1e-3 });
 * const read = loss.toArray(); // records the copy: `loss` may be disposed right away
 * loss.dispose();
 * ok((await read)[0] > 0);
 * ```
 *
 * @param model The model (its arena holds zero gradients on entry).
 * @param step Token ids of each microbatch ((rows, rowLength) row-major), rows per microbatch,
 *   row length, and the learning rate of this step.
 * @returns The step's mean loss, a scalar tensor the caller disposes.
 */
export function recordStep(
  model: ArithmeticModel,
  opt: AdamW,
  step: { batches: readonly Int32Array[]; rows: number; rowLength: number; lr: number },
): Tensor {
  const { batches, rows, rowLength } = step;
  const n = batches.length, be = model.backend;
  let total: Tensor | null = null;
  for (let i = 0; i < n; i++) {
    const prev: Tensor | null = total;
    total = scope(() => {
      const loss = positioned(() => trainingLoss(model, batches[i], rows, rowLength));
      const part = n === 1 ? loss : scale(loss, 1 / n);
      backward(part);
      return prev ? noGrad(() => add(prev, part)) : part;
    });
    prev?.dispose();
    if (i < n - 1 && be.kind !== "cpu") be.flush();
  }
  opt.step(step.lr);
  opt.zeroGrad();
  return total!;
}

/** Turns the model's position-table errors into one-line advice about the config. */
function positioned<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const msg = e instanceof Error ? e.message : "";
    if (!msg.startsWith("Abacus index")) throw e;
    throw new TrainError(`${msg}: raise data.seq_length or lower arch.embedding.max_abacus_len`);
  }
}

/** Everything the loop works with. */
export interface LoopContext {
  /** The resolved config. */
  readonly cfg: PretrainConfig;
  /** The model (training generator in `model.rng`). */
  readonly model: ArithmeticModel;
  /** Its optimizer. */
  readonly opt: AdamW;
  /** The dataset, read on from the resumed position (its folder goes into `state.json`). */
  readonly ds: Dataset;
  /** The run's seed (drawn when `seed` is None). */
  readonly seed: number;
  /** The generator of evaluation passes, saved with the model's. */
  readonly trainRng: Rng;
  /** The checkpoint's state to continue from (null for a new run). */
  readonly resumed: CheckpointState | null;
}

/** A saved checkpoint: its folder and the step it holds. */
export interface SavedCheckpoint {
  readonly dir: string;
  readonly step: number;
}

/** A recorded step whose loss is still being read back. */
type Pending = { read: Promise<number>; record: StepRecord };

/** Test hook `ABACUS_TRAIN_CRASH=<point>@<n>`: SIGKILL right after `point` of the n-th save. */
function crashHook(): { point: CrashPoint; save: number } | null {
  let spec: string | undefined;
  try {
    spec = Deno.env.get("ABACUS_TRAIN_CRASH");
  } catch {
    return null;
  }
  const m = /^(written|moved-old|moved-new)@(\d+)$/.exec(spec ?? "");
  return m ? { point: m[1] as CrashPoint, save: Number(m[2]) } : null;
}

/**
 * Runs a training session: see the module comment; call `run()` once.
 *
 * @example
 * ```ts ignore
 * import { TrainLoop } from "./loop.ts";
 *
 * const loop = new TrainLoop(context);
 * if (loop.stopReason() === null) await loop.run(report);
 * if (cfg.impl.save_final_model) await loop.save("final");
 * ```
 */
export class TrainLoop {
  #c: LoopContext;
  #report: TrainReport | null = null;
  #stream: TrainStream;
  #step: number;
  #optSteps: number;
  #tokens: number;
  #loss: number | null;
  #t0 = performance.now();
  #lr = 0;
  #batch = 0;
  #saves = 0;
  #crash = crashHook();
  #lastSaveAt = performance.now();
  #lastSaved: SavedCheckpoint | null = null;

  constructor(context: LoopContext) {
    this.#c = context;
    const s = context.resumed;
    this.#stream = new TrainStream(context.ds, context.cfg.impl.microbatch_size, s?.data);
    this.#step = s?.step ?? 0;
    this.#optSteps = s?.optimizer_steps ?? 0;
    this.#tokens = s?.tokens ?? 0;
    this.#loss = s?.loss ?? null;
  }

  /** Counters now. */
  get counters(): Counters {
    const before = this.#c.resumed?.elapsed_seconds ?? 0;
    const elapsed = before + (performance.now() - this.#t0) / 1000;
    return { step: this.#step, tokens: this.#tokens, elapsed };
  }

  /** Last training loss (null before any step). */
  get loss(): number | null {
    return this.#loss;
  }

  /** Tokens per second in this session. */
  get tokensPerSecond(): number {
    const s = (performance.now() - this.#t0) / 1000;
    return s > 0 ? (this.#tokens - (this.#c.resumed?.tokens ?? 0)) / s : 0;
  }

  /** Why the run must stop now, or null (see {@link stopReason}; `dryrun` stops after one step). */
  stopReason(): string | null {
    if (this.#c.cfg.dryrun && this.#step > (this.#c.resumed?.step ?? 0)) return "dryrun";
    const rowLength = this.#c.ds.meta.rowLength;
    return stopReason(this.#c.cfg, this.counters, rowLength);
  }

  /** Trains until the budget, the step cap or `dryrun` says stop; returns why (a phrase). */
  async run(report: TrainReport): Promise<string> {
    const { cfg, model, opt } = this.#c;
    this.#report = report;
    const budget = budgetOf(cfg);
    const mb = cfg.impl.microbatch_size, T = this.#c.ds.meta.rowLength;
    let pending: Pending | null = null;
    let reason: string | null;
    this.#t0 = performance.now();
    this.#lastSaveAt = this.#t0;
    while ((reason = this.stopReason()) === null) {
      const at = this.counters;
      const p = budgetProgress(budget, at);
      const lr = learningRate(p, cfg.train);
      const bs = batchSizeAt(p, cfg.train, mb);
      const left = microbatchesLeft(cfg, at, T);
      const n = Math.max(1, Math.min(Math.ceil(bs / mb), left));
      const batches: Int32Array[] = [];
      for (let i = 0; i < n; i++) batches.push(await this.#stream.next());
      const lossT = recordStep(model, opt, { batches, rows: mb, rowLength: T, lr });
      this.#step += n;
      this.#optSteps++;
      this.#tokens += n * mb * T;
      this.#lr = lr;
      this.#batch = n * mb;
      const read = lossT.toArray().then((a) => a[0]);
      lossT.dispose();
      if (pending) await this.#settle(pending);
      pending = {
        read,
        record: {
          step: this.#step,
          optimizer_step: this.#optSteps,
          tokens: this.#tokens,
          loss: NaN, // read back one step later, by #settle
          lr,
          batch_size: this.#batch,
          elapsed: this.counters.elapsed,
          tokens_per_second: this.tokensPerSecond,
        },
      };
      if (this.#saveDue()) {
        await this.#settle(pending);
        pending = null;
        await this.save("intermediate");
      }
    }
    if (pending) await this.#settle(pending);
    return reason;
  }

  async #settle(p: Pending): Promise<void> {
    const loss = await p.read;
    if (!Number.isFinite(loss)) {
      throw new TrainError(
        `Training loss is ${loss} at step ${p.record.step}: stopped without saving; ` +
          this.#kept(),
      );
    }
    this.#loss = loss;
    this.#report!.step({ ...p.record, loss });
  }

  #kept(): string {
    const last = this.#lastSaved;
    return last
      ? `the last good checkpoint is ${last.dir} (step ${last.step})`
      : "no checkpoint was saved in this session";
  }

  #saveDue(): boolean {
    const impl = this.#c.cfg.impl;
    if (!impl.save_intermediate_checkpoints) return false;
    const n = impl.save_every_nth_step;
    const last = this.#lastSaved?.step ?? this.#c.resumed?.step ?? 0;
    if (n > 0 && Math.floor(this.#step / n) > Math.floor(last / n)) return true;
    const minutes = impl.save_every_n_minutes;
    return minutes > 0 && performance.now() - this.#lastSaveAt >= minutes * 60_000;
  }

  /**
   * Writes a checkpoint of the current state into `<model_dir>/<name>/checkpoints/` (call
   * between steps, with no loss pending): `impl.save_intermediate_model_name` (else upstream's
   * `<model_type>_<date>_<loss>`) or `FINAL_<loss with 4 decimals>`.
   */
  async save(kind: "intermediate" | "final"): Promise<SavedCheckpoint> {
    const { cfg, model, ds } = this.#c;
    const loss = this.#loss;
    const lossText = loss === null ? "nan" : loss.toFixed(4);
    const day = new Date().toISOString().slice(0, 10);
    const name = kind === "final"
      ? `FINAL_${lossText}`
      : cfg.impl.save_intermediate_model_name ?? `${cfg.arch.model_type}_${day}_${lossText}`;
    const at = this.counters;
    const state: CheckpointState = {
      format: "abacus-checkpoint",
      version: 1,
      saved_at: new Date().toISOString(),
      kind,
      step: this.#step,
      optimizer_steps: this.#optSteps,
      tokens: this.#tokens,
      elapsed_seconds: at.elapsed,
      schedule: {
        progress: budgetProgress(budgetOf(cfg), at),
        lr: this.#lr,
        batch_size: this.#batch,
      },
      data: {
        dataset: cfg.data.dataset ?? ds.dir,
        folder: basename(ds.dir),
        ...this.#stream.at,
      },
      rng: { model: model.rng.getState(), train: this.#c.trainRng.getState() },
      loss,
      config_hash: await runConfigHash(cfg),
      seed: this.#c.seed,
    };
    const dir = join(cfg.model_dir, cfg.name, "checkpoints", name);
    const crash = this.#crash;
    const crashNow = crash && ++this.#saves === crash.save ? crash.point : undefined;
    try {
      await saveTrainCheckpoint(model, this.#c.opt, { dir, cfg, state, crashAfter: crashNow });
    } catch (e) {
      if (!(e instanceof TrainError)) throw e;
      throw new TrainError(
        `Training diverged by step ${this.#step}: ${e.message}; stopped without saving; ` +
          this.#kept(),
      );
    }
    if (crashNow) Deno.kill(Deno.pid, "SIGKILL");
    this.#lastSaveAt = performance.now();
    this.#lastSaved = { dir, step: this.#step };
    this.#report!.record({ event: "checkpoint", kind, dir, step: this.#step, loss });
    return this.#lastSaved;
  }
}
