// The training loop: optimizer steps of accumulated microbatches under upstream's batch ramp and
// trapezoid schedule, until the budget, the step cap or a non-finite loss stops it; the loss of
// step s is read back while step s+1 is recorded (one readback per step, deferred by one), and
// checkpoints are written at step boundaries with everything a bit-exact resume needs.

import { join } from "node:path";
import type { PretrainConfig } from "../../cli/config_types.ts";
import type { CheckpointState, CrashPoint } from "../../core/checkpoint.ts";
import type { ArithmeticModel } from "../../core/nn/model.ts";
import type { AdamW } from "../../core/optim.ts";
import type { Rng } from "../../kernels/rng.ts";
import { saveTrainCheckpoint } from "./checkpoint_io.ts";
import type { TrainStream } from "./dataset.ts";
import { TrainError } from "./errors.ts";
import type { StepRecord, TrainReport } from "./report.ts";
import {
  batchSizeAt,
  type Budget,
  budgetProgress,
  type Counters,
  learningRate,
  microbatchesLeft,
  stopReason,
} from "./schedule.ts";
import { recordStep, startLossRead } from "./step.ts";

/** Everything the loop works with. */
export interface LoopContext {
  /** The resolved config. */
  readonly cfg: PretrainConfig;
  /** The model (training generator in `model.rng`). */
  readonly model: ArithmeticModel;
  /** Its optimizer. */
  readonly opt: AdamW;
  /** The train split, positioned. */
  readonly stream: TrainStream;
  /** Dataset name for `state.json`. */
  readonly dataset: string;
  /** Name of the folder the dataset resolved to, for `state.json`. */
  readonly datasetFolder?: string;
  /** Row length T. */
  readonly rowLength: number;
  /** What drives the schedules. */
  readonly budget: Budget;
  /** The run's seed (drawn when `seed` is None). */
  readonly seed: number;
  /** The generator of evaluation passes, saved with the model's. */
  readonly trainRng: Rng;
  /** `config_hash` for `state.json`. */
  readonly configHash: string;
  /** `<model_dir>/<name>/checkpoints`. */
  readonly checkpointRoot: string;
  /** Progress display and metrics. */
  readonly report: TrainReport;
  /** Counters to continue from (zeros for a new run). */
  readonly start: LoopStart;
  /** Test hook: SIGKILL this process right after step `point` of save number `save`. */
  readonly crash?: { point: CrashPoint; save: number } | null;
}

/** Where a run continues from. */
export interface LoopStart {
  /** Microbatch steps done. */
  readonly step: number;
  /** Optimizer steps done. */
  readonly optimizerSteps: number;
  /** Tokens consumed. */
  readonly tokens: number;
  /** Training seconds so far. */
  readonly elapsed: number;
  /** Last training loss. */
  readonly loss: number | null;
}

/** A saved checkpoint. */
export interface SavedCheckpoint {
  /** Its folder. */
  readonly dir: string;
  /** The step it holds. */
  readonly step: number;
}

interface Pending {
  read: Promise<number>;
  step: Omit<StepRecord, "loss">;
}

/**
 * Runs a training session: see the module comment; call `run()` once.
 *
 * @example
 * ```ts ignore
 * import { TrainLoop } from "./loop.ts";
 *
 * const loop = new TrainLoop(context);
 * const reason = await loop.run();
 * if (cfg.impl.save_final_model) await loop.save("final");
 * ```
 */
export class TrainLoop {
  #c: LoopContext;
  #step: number;
  #optSteps: number;
  #tokens: number;
  #elapsedBefore: number;
  #t0 = performance.now();
  #sessionTokens = 0;
  #loss: number | null;
  #lr = 0;
  #batch = 0;
  #saves = 0;
  #lastSaveAt = performance.now();
  #lastSaveStep: number;
  #lastSaved: SavedCheckpoint | null = null;

  /** @param context Model, optimizer, data, budget, counters and outputs. */
  constructor(context: LoopContext) {
    this.#c = context;
    this.#step = context.start.step;
    this.#optSteps = context.start.optimizerSteps;
    this.#tokens = context.start.tokens;
    this.#elapsedBefore = context.start.elapsed;
    this.#loss = context.start.loss;
    this.#lastSaveStep = context.start.step;
  }

  /** Counters now. */
  get counters(): Counters {
    const elapsed = this.#elapsedBefore + (performance.now() - this.#t0) / 1000;
    return { step: this.#step, tokens: this.#tokens, elapsed };
  }

  /** Last training loss (null before any step). */
  get loss(): number | null {
    return this.#loss;
  }

  /** Tokens per second in this session. */
  get tokensPerSecond(): number {
    const s = (performance.now() - this.#t0) / 1000;
    return s > 0 ? this.#sessionTokens / s : 0;
  }

  /** The last checkpoint this session saved. */
  get lastSaved(): SavedCheckpoint | null {
    return this.#lastSaved;
  }

  /**
   * Why the run must stop now, or null (see {@link stopReason}; `dryrun` stops after one step).
   *
   * @returns A phrase such as `reached train.steps=40`, or null.
   */
  stopReason(): string | null {
    if (this.#c.cfg.dryrun && this.#step > this.#c.start.step) return "dryrun";
    const { cfg, budget, rowLength } = this.#c;
    return stopReason(cfg, { budget, at: this.counters, rowLength });
  }

  /** Trains until {@link TrainLoop.stopReason} says stop. */
  async run(): Promise<string> {
    const { cfg, model, opt, stream, budget } = this.#c;
    const mb = cfg.impl.microbatch_size, T = this.#c.rowLength;
    let pending: Pending | null = null;
    let reason: string | null;
    this.#t0 = performance.now();
    this.#lastSaveAt = this.#t0;
    while ((reason = this.stopReason()) === null) {
      const at = this.counters;
      const p = budgetProgress(budget, at);
      const lr = learningRate(p, {
        peak: cfg.train.optim.lr,
        warmup: cfg.train.warmup_steps,
        cooldown: cfg.train.cooldown_steps,
      });
      const bs = batchSizeAt(p, {
        batchSize: cfg.train.batch_size,
        ramp: cfg.train.batch_size_ramp,
        microbatch: mb,
      });
      const n = Math.max(
        1,
        Math.min(
          Math.ceil(bs / mb),
          microbatchesLeft(budget, at, { cap: cfg.train.steps, tokensPerMicrobatch: mb * T }),
        ),
      );
      const batches: Int32Array[] = [];
      for (let i = 0; i < n; i++) batches.push(await stream.next());
      const lossT = recordStep(model, opt, { batches, rows: mb, rowLength: T, lr });
      this.#step += n;
      this.#optSteps++;
      this.#tokens += n * mb * T;
      this.#sessionTokens += n * mb * T;
      this.#lr = lr;
      this.#batch = n * mb;
      const read = startLossRead(lossT);
      lossT.dispose();
      if (pending) await this.#settle(pending);
      pending = { read, step: this.#record() };
      if (this.#saveDue()) {
        await this.#settle(pending);
        pending = null;
        await this.save("intermediate");
      }
    }
    if (pending) await this.#settle(pending);
    return reason;
  }

  #record(): Omit<StepRecord, "loss"> {
    return {
      step: this.#step,
      optimizerStep: this.#optSteps,
      tokens: this.#tokens,
      lr: this.#lr,
      batchSize: this.#batch,
      elapsed: this.counters.elapsed,
      tokensPerSecond: this.tokensPerSecond,
    };
  }

  async #settle(p: Pending): Promise<void> {
    const loss = await p.read;
    if (!Number.isFinite(loss)) {
      throw new TrainError(
        `Training loss is ${loss} at step ${p.step.step}: stopped without saving; ${this.#kept()}`,
      );
    }
    this.#loss = loss;
    this.#c.report.step({ ...p.step, loss });
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
    if (n > 0 && Math.floor(this.#step / n) > Math.floor(this.#lastSaveStep / n)) return true;
    const minutes = impl.save_every_n_minutes;
    return minutes > 0 && performance.now() - this.#lastSaveAt >= minutes * 60_000;
  }

  /**
   * Writes a checkpoint of the current state (call between steps, with no loss pending):
   * `impl.save_intermediate_model_name` (else upstream's `<model_type>_<date>_<loss>`) or
   * `FINAL_<loss with 4 decimals>`.
   *
   * @param kind `intermediate` or `final`.
   */
  async save(kind: "intermediate" | "final"): Promise<SavedCheckpoint> {
    const { cfg, model, stream, budget } = this.#c;
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
      schedule: { progress: budgetProgress(budget, at), lr: this.#lr, batch_size: this.#batch },
      data: {
        dataset: this.#c.dataset,
        folder: this.#c.datasetFolder,
        position: stream.position,
        epoch: stream.epoch,
      },
      rng: { model: model.rng.getState(), train: this.#c.trainRng.getState() },
      loss,
      config_hash: this.#c.configHash,
      seed: this.#c.seed,
    };
    const dir = join(this.#c.checkpointRoot, name);
    const crash = this.#c.crash;
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
    this.#lastSaveStep = this.#step;
    this.#lastSaved = { dir, step: this.#step };
    this.#c.report.record({ event: "checkpoint", kind, dir, step: this.#step, loss });
    return this.#lastSaved;
  }
}
