// One `deno task train` run from a resolved config: find (or generate) the dataset, choose the
// backend, build the model, resume from the newest checkpoint of the run when there is one
// (after checking all of it, before writing anything), train, save FINAL_<loss>, and measure the
// test split (loss, perplexity and greedy exact match, without gradients). Kept apart from
// tasks/train.ts so tests and benchmarks can call it directly.

import { join } from "node:path";
import { configToYaml } from "../../cli/config.ts";
import { duration } from "../../cli/progress.ts";
import type { PretrainConfig } from "../../cli/config_types.ts";
import { listCheckpoints, writeFileAtomic } from "../../core/checkpoint.ts";
import { type Arch, resolveArch } from "../../core/nn/arch.ts";
import { ArithmeticModel } from "../../core/nn/model.ts";
import { evalLoss, lossTargets } from "../../core/nn/objective.ts";
import { paramCounts, paramList } from "../../core/nn/params.ts";
import { ParamArena } from "../../core/arena.ts";
import { AdamW } from "../../core/optim.ts";
import { type Backend, initBackend } from "../../core/backend.ts";
import { argmax } from "../../core/ops/reduce.ts";
import { noGrad, scope } from "../../core/tensor.ts";
import type { Dataset } from "../../data/dataset.ts";
import { EOS, EQUALS, PAD } from "../../data/tokenizer.ts";
import { Rng } from "../../kernels/rng.ts";
import { resumeFrom } from "./checkpoint_io.ts";
import { resolveTrainDataset } from "./dataset.ts";
import { TrainError } from "./errors.ts";
import { type SavedCheckpoint, TrainLoop } from "./loop.ts";
import { createRunDir, TrainReport } from "./report.ts";
import { type Budget, budgetOf } from "./schedule.ts";

/** Test rows used for the final loss and for the greedy exact-match check (at most). */
const TEST_ROWS = { loss: 4096, exactMatch: 1000 } as const;

/** What a run did (`final`, `test` and `exact` are null when nothing was left to train). */
export interface TrainOutcome {
  /** Microbatch steps done in all. */
  readonly step: number;
  /** The final checkpoint, when saved. */
  readonly final: SavedCheckpoint | null;
  /**
   * Test-split loss, when measured: mean cross-entropy per predicted token (per sample with
   * `loss_reduction=none`), its exp, and the test rows used.
   */
  readonly test: { loss: number; perplexity: number; rows: number } | null;
  /**
   * Test-split greedy exact match, when measured: rows whose whole answer (digits, EOS and the
   * padding after it) came out right, rows decoded (rows without `=` are skipped), their ratio.
   */
  readonly exact: { correct: number; rows: number; accuracy: number } | null;
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
  const specs = paramList(arch).map((s) => ({ ...s, decay: decays(s.name) }));
  const arena = new ParamArena(backend, specs);
  arena.writeAll(await model.arena.readAll());
  model.arena.dispose();
  return new ArithmeticModel(arch, arena, model.rng);
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
 * ```ts
 * import { loadConfig } from "../../cli/config.ts";
 * import { train } from "./run.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const base = await Deno.makeTempDir();
 * const args = ["preset=tiny-addition", "name=t", `base_dir=${base}`, "impl.backend=cpu"];
 * const { step, test } = await train(await loadConfig([...args, "dryrun=True"], "pretrain"));
 * deepEqual([step, test?.rows], [1, 64]); // dryrun: one step, one test batch
 * await Deno.remove(base, { recursive: true });
 * ```
 */
export async function train(cfg: PretrainConfig): Promise<TrainOutcome> {
  const ds = await resolveTrainDataset(cfg);
  const vocab = cfg.arch.embedding.vocab_size ?? ds.meta.vocabSize;
  if (vocab < ds.meta.vocabSize) {
    throw new TrainError(
      `arch.embedding.vocab_size=${vocab} is smaller than the dataset's vocabulary ` +
        `(${ds.meta.vocabSize} ids, tokenizer ${ds.meta.tokenizer})`,
    );
  }
  const arch = resolveArch(cfg.arch, vocab);
  const backend = await initBackend(cfg.impl.backend).catch((e) => {
    const why = (e as Error).message.split("\n")[0];
    throw new TrainError(
      `Cannot use impl.backend=${cfg.impl.backend}: ${why}; or set impl.backend=cpu`,
    );
  });
  const newest = (await listCheckpoints(join(cfg.model_dir, cfg.name)))[0] ?? null;
  let seed = cfg.seed ?? (newest ? 0 : crypto.getRandomValues(new Uint32Array(1))[0] >>> 1);
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
    const trainRng = new Rng(seed, 3);
    const trainRows = ds.meta.counts.train;
    const resumed = newest &&
      await resumeFrom(newest.path, { cfg, model, opt, trainRng, trainRows });
    if (resumed) seed = resumed.seed as number;
    const loop = new TrainLoop({ cfg, model, opt, ds, seed, trainRng, resumed });
    const step = loop.counters.step;
    const nothing = loop.stopReason();
    if (nothing !== null) {
      console.log(
        newest
          ? `Run ${cfg.name} is complete at step ${step} (${newest.path}): ${nothing}; ` +
            `raise it to train longer`
          : `Nothing to train: ${nothing}`,
      );
      return { step, final: null, test: null, exact: null };
    }
    const budget = budgetOf(cfg), T = ds.meta.rowLength;
    const runDir = await createRunDir(cfg.base_dir, cfg.name);
    await writeFileAtomic(join(runDir, "config.yaml"), configToYaml({ ...cfg, seed }));
    const report = new TrainReport({
      runDir,
      budget,
      printEvery: cfg.impl.print_loss_every_nth_step,
    });
    try {
      const device = backend.kind === "cpu" ? "cpu backend" : `webgpu on ${backend.adapterName}`;
      report.line(
        `Training ${cfg.name}: ${paramCounts(arch).total} parameters, ${ds.dir} ` +
          `(${ds.meta.counts.train} train rows of ${T} tokens), ${device}, ` +
          `budget ${budgetText(cfg, budget)}` +
          (newest ? `, resuming from ${newest.path} at step ${step}` : `, seed ${seed}`),
      );
      report.line(`Run folder ${runDir}`);
      const reason = await loop.run(report);
      const final = cfg.impl.save_final_model && loop.loss !== null
        ? await loop.save("final")
        : null;
      report.line(
        `Stopped at step ${loop.counters.step} (${reason}): loss ${loop.loss?.toFixed(4)}, ` +
          `${Math.round(loop.tokensPerSecond)} tokens/s, ${duration(loop.counters.elapsed)}` +
          (final ? `; saved ${final.dir}` : ""),
      );
      const evalModel = new ArithmeticModel(arch, model.arena, trainRng);
      const batch = cfg.impl.microbatch_size;
      const rows = (n: number) => ({ rows: cfg.dryrun ? batch : n, batch });
      const test = await testLoss(evalModel, ds, rows(TEST_ROWS.loss));
      const exact = await exactMatch(evalModel, ds, rows(TEST_ROWS.exactMatch));
      report.record({
        event: "test",
        ...test, // loss, perplexity, rows
        exact_match: exact.accuracy,
        exact_match_rows: exact.rows,
      });
      report.line(
        `Test split: loss ${test.loss.toFixed(4)}, perplexity ${test.perplexity.toFixed(3)} ` +
          `(${test.rows} rows); exact match ${(100 * exact.accuracy).toFixed(1)}% ` +
          `(${exact.correct}/${exact.rows}, greedy)`,
      );
      return { step: loop.counters.step, final, test, exact };
    } finally {
      report.close();
    }
  } finally {
    ds.close();
    opt.dispose();
    model.dispose();
  }
}

function budgetText(cfg: PretrainConfig, budget: Budget): string {
  const cap = cfg.train.steps < 12_000_000 ? `, train.steps=${cfg.train.steps}` : "";
  if (budget.kind === "seconds") return `${cfg.budget} hours${cap}`;
  return `${budget.total} ${budget.kind}${cap}`;
}

async function* chunks(
  ds: Dataset,
  rows: number,
  batch: number,
): AsyncGenerator<{ ids: Int32Array; B: number }> {
  const total = Math.min(rows, ds.meta.counts.test), T = ds.meta.rowLength;
  for (let start = 0; start < total; start += batch) {
    const raw = await ds.readRows("test", start, Math.min(batch, total - start));
    yield { ids: Int32Array.from(raw), B: raw.length / T };
  }
}

/**
 * The test-split loss (`maximal_recurrence_in_eval` recurrences, no Abacus shift, no gradient)
 * over the first `rows` test rows, each batch weighted by its predicted tokens (upstream logs the
 * test log-perplexity after its final save). One readback per batch; the model's generator draws
 * the initial states, so it shares the trained arena but not the training generator.
 */
async function testLoss(
  model: ArithmeticModel,
  ds: Dataset,
  options: { rows: number; batch: number },
): Promise<{ loss: number; perplexity: number; rows: number }> {
  const T = ds.meta.rowLength, a = model.arch;
  let sum = 0, weight = 0, used = 0;
  for await (const { ids, B } of chunks(ds, options.rows, options.batch)) {
    const t = scope(() => noGrad(() => evalLoss(model, ids, B, T)));
    const value = (await t.toArray())[0];
    t.dispose();
    const w = a.lossReduction === "mean"
      ? lossTargets(ids, B, T, { maskBeforeEquals: a.maskBeforeEquals }).filter((x) => x >= 0)
        .length
      : B;
    sum += value * w;
    weight += w;
    used += B;
  }
  const loss = weight > 0 ? sum / weight : NaN;
  return { loss, perplexity: Math.exp(loss), rows: used };
}

/**
 * Greedy exact-match accuracy on the first `rows` test rows: each row's prompt is everything up
 * to and including its `=`; the model then predicts one token at a time (argmax at the last
 * filled position of a full-row forward pass, upstream's `_generate(quick=True)`: no KV cache)
 * until it writes EOS or the row is full. A row is correct when the decoded row equals the
 * stored one. One readback per decoding step.
 */
async function exactMatch(
  model: ArithmeticModel,
  ds: Dataset,
  options: { rows: number; batch: number },
): Promise<{ correct: number; rows: number; accuracy: number }> {
  const T = ds.meta.rowLength;
  let correct = 0, decoded = 0;
  for await (const { ids, B } of chunks(ds, options.rows, options.batch)) {
    const work = new Int32Array(B * T).fill(PAD);
    const cur = new Int32Array(B), done = new Uint8Array(B);
    for (let b = 0; b < B; b++) {
      const eq = ids.subarray(b * T, b * T + T).indexOf(EQUALS);
      if (eq < 0 || eq + 1 >= T) {
        done[b] = 2; // no prompt: skipped
        continue;
      }
      work.set(ids.subarray(b * T, b * T + eq + 1), b * T);
      cur[b] = eq + 1;
    }
    while (done.some((d) => d === 0)) {
      // (B, T) i32: the most likely next token after every position.
      const t = scope(() => noGrad(() => argmax(model.forward(work, B, T, { training: false }))));
      const pred = await t.toArray();
      t.dispose();
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        const tok = pred[b * T + cur[b] - 1];
        work[b * T + cur[b]] = tok;
        cur[b]++;
        if (tok === EOS || cur[b] >= T) done[b] = 1;
      }
    }
    for (let b = 0; b < B; b++) {
      if (done[b] === 2) continue;
      decoded++;
      if (work.subarray(b * T, b * T + T).every((x, t) => x === ids[b * T + t])) correct++;
    }
  }
  return { correct, rows: decoded, accuracy: decoded > 0 ? correct / decoded : NaN };
}
