// One `deno task train` run from a resolved config: find (or generate) the dataset, choose the
// backend, build the model, resume from the newest checkpoint of the run when there is one
// (after checking all of it, before writing anything), train, save FINAL_<loss>, and measure the
// test split. Kept apart from tasks/train.ts so tests and benchmarks can call it directly.

import { basename, join } from "node:path";
import { configToYaml } from "../../cli/config.ts";
import type { PretrainConfig } from "../../cli/config_types.ts";
import {
  type CheckpointInfo,
  type CrashPoint,
  listCheckpoints,
  writeFileAtomic,
} from "../../core/checkpoint.ts";
import { type Arch, resolveArch } from "../../core/nn/arch.ts";
import { ArithmeticModel } from "../../core/nn/model.ts";
import { paramCounts, paramList } from "../../core/nn/params.ts";
import { ParamArena } from "../../core/arena.ts";
import { AdamW } from "../../core/optim.ts";
import { type Backend, initBackend } from "../../core/backend.ts";
import { openDataset } from "../../data/dataset.ts";
import { Rng } from "../../kernels/rng.ts";
import { readTrainCheckpoint, runConfigHash } from "./checkpoint_io.ts";
import { resolveTrainDataset, type TrainDataset, TrainStream } from "./dataset.ts";
import { TrainError } from "./errors.ts";
import { type ExactMatch, exactMatch, type TestLoss, testLoss } from "./evaluate.ts";
import { type LoopStart, type SavedCheckpoint, TrainLoop } from "./loop.ts";
import { createRunDir, formatDuration, TrainReport } from "./report.ts";
import { type Budget, budgetOf, stopReason } from "./schedule.ts";

/** Test rows used for the final loss and for the greedy exact-match check (at most). */
const TEST_ROWS = { loss: 4096, exactMatch: 1000 } as const;

/** What a run did. */
export interface TrainOutcome {
  /** The run folder (null when nothing was left to train). */
  readonly runDir: string | null;
  /** Why training stopped. */
  readonly reason: string;
  /** Microbatch steps done in all. */
  readonly step: number;
  /** Last training loss. */
  readonly loss: number | null;
  /** The final checkpoint, when saved. */
  readonly final: SavedCheckpoint | null;
  /** Test-split loss, when measured. */
  readonly test: TestLoss | null;
  /** Test-split greedy exact match, when measured. */
  readonly exact: ExactMatch | null;
}

async function chooseBackend(name: "webgpu" | "cpu"): Promise<Backend> {
  try {
    return await initBackend(name);
  } catch (e) {
    const why = (e as Error).message.split("\n")[0];
    throw new TrainError(`Cannot use impl.backend=${name}: ${why}; or set impl.backend=cpu`);
  }
}

/** The model with a fresh init, its weight-decay groups following `train.limited_decay_keys`. */
async function buildModel(
  cfg: PretrainConfig,
  arch: Arch,
  backend: Backend,
  seed: number,
): Promise<ArithmeticModel> {
  const model = ArithmeticModel.create(arch, { backend, seed });
  const decays = (n: string) => !cfg.train.limited_decay_keys.some((k) => n.includes(k));
  if (model.arena.entries.every((e) => e.decay === decays(e.name))) return model;
  const specs = paramList(arch).map((s) => ({
    name: s.name,
    shape: s.shape,
    decay: decays(s.name),
  }));
  const arena = new ParamArena(backend, specs);
  arena.writeAll(await model.arena.readAll());
  model.arena.dispose();
  return new ArithmeticModel(arch, arena, model.rng);
}

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

interface Resumed {
  start: LoopStart;
  position: { position: number; epoch: number };
  seed: number;
}

/** Loads the newest checkpoint into the model, optimizer and generators (checked first). */
async function resume(
  dir: string,
  parts: { cfg: PretrainConfig; model: ArithmeticModel; opt: AdamW; trainRng: Rng },
  trainRows: number,
): Promise<Resumed> {
  const ck = await readTrainCheckpoint(dir, parts);
  const s = ck.state, rng = s.rng as { model: number[]; train: number[] };
  if (s.data.position > trainRows) {
    throw new TrainError(
      `Cannot resume from ${dir}: its data position ${s.data.position} is past the train ` +
        `split (${trainRows} rows)`,
    );
  }
  parts.model.arena.writeAll(ck.weights);
  parts.opt.loadStateDict(ck.optimizer);
  parts.model.rng.setState(rng.model);
  parts.trainRng.setState(rng.train);
  return {
    start: {
      step: s.step,
      optimizerSteps: s.optimizer_steps,
      tokens: s.tokens,
      elapsed: s.elapsed_seconds,
      loss: s.loss,
    },
    position: { position: s.data.position, epoch: s.data.epoch },
    seed: s.seed as number,
  };
}

/**
 * Runs training from a resolved config, resuming from the run's newest checkpoint if any.
 *
 * Throws `TrainError`, `DataError` or `CheckpointError` (one-line messages) for problems the
 * user can fix; nothing in the run's folders is changed before the dataset and the checkpoint to
 * resume from have been checked whole. A run whose budget is used up returns without training.
 * The environment variable `ABACUS_TRAIN_CRASH=<point>@<n>` (tests only) SIGKILLs the process
 * during its n-th checkpoint save, right after `point` (`written`, `moved-old`, `moved-new`).
 *
 * @example
 * ```ts ignore
 * import { loadConfig } from "../../cli/config.ts";
 * import { train } from "./run.ts";
 *
 * const cfg = await loadConfig(["preset=tiny-addition", "name=t", "train.steps=40"], "pretrain");
 * const { final, test } = await train(cfg);
 * console.log(final?.dir, test?.loss);
 * ```
 */
export async function train(cfg: PretrainConfig): Promise<TrainOutcome> {
  const data = await resolveTrainDataset(cfg);
  const vocab = cfg.arch.embedding.vocab_size ?? data.meta.vocabSize;
  if (vocab < data.meta.vocabSize) {
    throw new TrainError(
      `arch.embedding.vocab_size=${vocab} is smaller than the dataset's vocabulary ` +
        `(${data.meta.vocabSize} ids, tokenizer ${data.meta.tokenizer})`,
    );
  }
  let arch: Arch;
  try {
    arch = resolveArch(cfg.arch, vocab);
  } catch (e) {
    throw new TrainError((e as Error).message.split("\n")[0]);
  }
  const backend = await chooseBackend(cfg.impl.backend);
  const runRoot = join(cfg.model_dir, cfg.name);
  const newest = (await listCheckpoints(runRoot))[0] ?? null;
  const seed = cfg.seed ?? (newest ? 0 : crypto.getRandomValues(new Uint32Array(1))[0] >>> 1);
  const model = await buildModel(cfg, arch, backend, seed);
  const clip = cfg.train.gradient_clipping;
  const opt = new AdamW(model.arena, {
    lr: cfg.train.optim.lr,
    betas: [cfg.train.optim.betas[0], cfg.train.optim.betas[1]],
    eps: cfg.train.optim.eps,
    weightDecay: cfg.train.optim.weight_decay,
    maxGradNorm: clip !== null && clip > 0 ? clip : null,
  });
  try {
    return await session({ cfg, data, arch, backend, model, opt, newest, seed });
  } finally {
    opt.dispose();
    model.dispose();
  }
}

/** Everything `train()` has built before the session starts. */
interface Built {
  cfg: PretrainConfig;
  data: TrainDataset;
  arch: Arch;
  backend: Backend;
  model: ArithmeticModel;
  opt: AdamW;
  newest: CheckpointInfo | null;
  seed: number;
}

/** Resumes (when there is a checkpoint), trains, saves and evaluates. */
async function session(built: Built): Promise<TrainOutcome> {
  const { cfg, data, arch, backend, model, opt, newest } = built;
  let seed = built.seed;
  const runRoot = join(cfg.model_dir, cfg.name);
  const trainRng = new Rng(seed, 3);
  let start: LoopStart = { step: 0, optimizerSteps: 0, tokens: 0, elapsed: 0, loss: null };
  let position = { position: 0, epoch: 0 };
  if (newest) {
    const r = await resume(newest.path, { cfg, model, opt, trainRng }, data.meta.counts.train);
    ({ start, position, seed } = r);
  }
  const budget = budgetOf(cfg), T = data.meta.rowLength;
  const nothing = stopReason(cfg, { budget, at: start, rowLength: T });
  if (nothing !== null) {
    console.log(
      newest
        ? `Run ${cfg.name} is complete at step ${start.step} (${newest.path}): ${nothing}; ` +
          `raise it to train longer`
        : `Nothing to train: ${nothing}`,
    );
    return {
      runDir: null,
      reason: nothing,
      step: start.step,
      loss: start.loss,
      final: null,
      test: null,
      exact: null,
    };
  }
  const ds = await openDataset(data.dir);
  const runDir = await createRunDir(cfg.base_dir, cfg.name);
  await writeFileAtomic(join(runDir, "config.yaml"), configToYaml({ ...cfg, seed }));
  const report = new TrainReport({
    runDir,
    budget,
    printEvery: cfg.impl.print_loss_every_nth_step,
  });
  try {
    const loop = new TrainLoop({
      cfg,
      model,
      opt,
      stream: new TrainStream(ds, cfg.impl.microbatch_size, position),
      dataset: data.name,
      datasetFolder: basename(data.dir),
      rowLength: T,
      budget,
      seed,
      trainRng,
      configHash: await runConfigHash(cfg),
      checkpointRoot: join(runRoot, "checkpoints"),
      report,
      start,
      crash: crashHook(),
    });
    const counts = paramCounts(arch);
    report.line(
      `Training ${cfg.name}: ${counts.total} parameters, ${data.dir} (${data.meta.counts.train} ` +
        `train rows of ${T} tokens), ${describe(backend)}, budget ${budgetText(cfg, budget)}` +
        (newest ? `, resuming from ${newest.path} at step ${start.step}` : `, seed ${seed}`),
    );
    report.line(`Run folder ${runDir}`);
    const reason = await loop.run();
    const final = cfg.impl.save_final_model && loop.loss !== null ? await loop.save("final") : null;
    report.line(
      `Stopped at step ${loop.counters.step} (${reason}): loss ${loop.loss?.toFixed(4)}, ` +
        `${Math.round(loop.tokensPerSecond)} tokens/s, ${formatDuration(loop.counters.elapsed)}` +
        (final ? `; saved ${final.dir}` : ""),
    );
    const evalModel = new ArithmeticModel(arch, model.arena, trainRng);
    const rows = (n: number) => (cfg.dryrun ? cfg.impl.microbatch_size : n);
    const batch = cfg.impl.microbatch_size;
    const test = await testLoss(evalModel, ds, { rows: rows(TEST_ROWS.loss), batch });
    const exact = await exactMatch(evalModel, ds, { rows: rows(TEST_ROWS.exactMatch), batch });
    report.record({
      event: "test",
      loss: test.loss,
      perplexity: test.perplexity,
      rows: test.rows,
      exact_match: exact.accuracy,
      exact_match_rows: exact.rows,
    });
    report.line(
      `Test split: loss ${test.loss.toFixed(4)}, perplexity ${test.perplexity.toFixed(3)} ` +
        `(${test.rows} rows); exact match ${(100 * exact.accuracy).toFixed(1)}% ` +
        `(${exact.correct}/${exact.rows}, greedy)`,
    );
    return { runDir, reason, step: loop.counters.step, loss: loop.loss, final, test, exact };
  } finally {
    report.close();
    ds.close();
  }
}

function describe(backend: Backend): string {
  return backend.kind === "cpu" ? "cpu backend" : `webgpu on ${backend.adapterName}`;
}

function budgetText(cfg: PretrainConfig, budget: Budget): string {
  const cap = cfg.train.steps < 12_000_000 ? `, train.steps=${cfg.train.steps}` : "";
  if (budget.kind === "seconds") return `${cfg.budget} hours${cap}`;
  return `${budget.total} ${budget.kind}${cap}`;
}
