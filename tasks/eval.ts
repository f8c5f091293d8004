/**
 * `deno task eval name=NAME base_dir=DIR [eval.grid=1..12x1..12] [max_rec=R] [--shard k/N|auto]
 * [checkpoint=PATH] [upstream flags ...]`: evaluates a run's newest checkpoint on a grid of operand
 * lengths with batched KV-cached greedy decoding, writing per-cell results as they finish (a rerun
 * skips them), a summary and the heatmaps. A shard job (`--shard k/N`, or `--shard auto` inside a
 * Slurm job array or a Kubernetes Indexed Job) writes only its own subfolder, so any number of
 * them can run at once on a shared folder; `deno task eval merge name=NAME ...` then combines the
 * shards into the grid folder and draws the heatmap.
 * @module
 */
import { loadConfig, userCwd } from "../cli/config.ts";
import { helpText } from "../cli/config_help.ts";
import { Progress } from "../cli/progress.ts";
import { greedyDecode } from "../core/nn/decode.ts";
import { type Backend, CPU, initBackend } from "../core/backend.ts";
import { join } from "node:path";
import { cellTokens, EvalError, resolveGrid } from "./eval/grids.ts";
import { loadCheckpoint } from "./eval/model_io.ts";
import { mergeResults, type Summary } from "./eval/results.ts";
import { evaluateGrid } from "./eval/runner.ts";
import { findGridData } from "./eval/samples.ts";
import type { CellResult } from "./eval/scoring.ts";
import { type EnvReader, resolveShard, type Shard } from "./eval/shard.ts";
import { heatmapSvg, writeFigure } from "./plot.ts";

/** What one evaluation produced. */
export interface EvalOutcome {
  /** The grid's results folder, or the shard's subfolder for a shard job. */
  dir: string;
  /** The piece a shard job evaluated (`from` names the variables of `--shard auto`), else null. */
  shard: (Shard & { from?: string }) | null;
  /** The summary (fractions). */
  summary: Summary;
  /** The results of every cell of the grid (a shard job: of its piece), sorted. */
  cells: CellResult[];
  /** Heatmap files written. */
  plots: string[];
}

/**
 * Evaluates a run (or merges shards) from `key=value` arguments.
 *
 * A shard job evaluates its piece into its own subfolder and neither merges nor plots the grid
 * (other shards may be writing beside it); `merge` does both once all shards are done.
 *
 * @example
 * ```ts ignore
 * const out = await evaluate(["name=demo", "base_dir=/tmp/x", "eval.grid=1..12x1..12"]);
 * console.log(out.summary.in_distribution);
 * ```
 * @param options backend override, a quiet flag, samples per generated cell, and the
 *   environment `--shard auto` reads (default `Deno.env`)
 */
export async function evaluate(
  args: string[],
  options: { backend?: Backend; quiet?: boolean; samples?: number; env?: EnvReader } = {},
): Promise<EvalOutcome> {
  const merge = args[0] === "merge";
  const cfg = await loadConfig(
    merge ? args.slice(1) : args,
    "eval",
    options.quiet ? { log: () => {}, cwd: userCwd() } : { cwd: userCwd() },
  );
  let plan = resolveGrid({ ...cfg, grid: cfg.eval.grid });
  const gridDir = join(cfg.base_dir, cfg.name, "downstream", plan.name);
  const say = options.quiet ? () => {} : (s: string) => console.log(s);
  let summary: Summary | null = null;
  if (!merge) {
    // The shard first: a scheduler misconfiguration fails before the model is loaded.
    const shard = cfg.shard
      ? resolveShard(cfg.shard, options.env ?? ((n) => Deno.env.get(n)))
      : null;
    const backend = options.backend ?? (cfg.impl.backend === "cpu" ? CPU : await initBackend());
    const { dir: ckpt, model, trainMeta } = await loadCheckpoint(
      cfg.base_dir,
      cfg.name,
      cfg.checkpoint ?? null,
      backend,
    );
    const arch = model.arch;
    // A model trained with a partial-product scratchpad is asked in that format.
    if (plan.task === "multiplication" && trainMeta?.generator.scratchpad === true) {
      plan = { ...plan, scratchpad: true };
    }
    try {
      const R = cfg.max_rec ?? arch.maximalRecurrenceInEval;
      const longest = plan.cells.reduce((m, c) => {
        const t = cellTokens(plan.task, c.i, c.j, plan.scratchpad);
        return Math.max(m, t.prompt + t.generate);
      }, 0);
      const digits = plan.cells.reduce((m, c) => Math.max(m, c.i, c.j), 0);
      if (arch.posEmbedding === "learned" && longest > arch.maxSeqLength) {
        throw new EvalError(
          `Grid ${plan.name} needs ${longest} positions but the model has ${arch.maxSeqLength}`,
        );
      }
      if (arch.posEmbedding === "abacus" && digits + 2 > arch.maxSeqLength) {
        throw new EvalError(
          `Grid ${plan.name} has ${digits}-digit numbers but the Abacus table has ${arch.maxSeqLength} rows`,
        );
      }
      say(
        `evaluating ${ckpt} on ${plan.name}${plan.part ? ` (${plan.part})` : ""}: ${
          shard ? `shard ${shard.index}/${shard.count} of ` : ""
        }${plan.cells.length} cells${shard?.from ? ` (${shard.from})` : ""}`,
      );
      const g = trainMeta?.generator;
      const result = await evaluateGrid({
        plan,
        gridDir,
        decode: (prompts, maxNewTokens) =>
          greedyDecode(model, prompts, { maxNewTokens, recurrences: R, seed: cfg.seed ?? 0 }),
        shard,
        dataDir: await findGridData(plan, cfg.base_dir),
        seed: cfg.seed ?? undefined,
        samples: options.samples,
        removePadding: cfg.remove_padding,
        trainRange: g ? [[1, g.n], [1, g.m]] : null,
        stamp: { checkpoint: ckpt, max_rec: R },
        progress: options.quiet ? null : new Progress("eval"),
      });
      say(`${result.evaluated} cells evaluated, ${result.skipped} already done`);
      if (shard) return { ...result, shard, plots: [] };
      summary = result.summary;
    } finally {
      model.dispose();
    }
  }
  const merged = await mergeResults(gridDir, { expected: plan.part ? undefined : plan.cells });
  if (merge && merged.missing.length) {
    say(`merge: ${merged.missing.length} cells are still missing`);
  }
  const svg = heatmapSvg([{
    cells: merged.cells,
    title: cfg.name,
    kind: plan.task,
    trainRange: merged.summary.train_range,
  }]);
  const plots = await writeFigure(svg, { dir: gridDir, name: "heatmap" }).catch(() => []);
  return {
    dir: gridDir,
    summary: summary ?? merged.summary,
    cells: merged.cells,
    plots,
    shard: null,
  };
}

const pct = (x: number | null) => (x === null ? "n/a" : `${(100 * x).toFixed(1)}%`);

/** Runs the task. */
export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(
      "Usage: deno task eval name=NAME [base_dir=DIR] [eval.grid=I..JxK..L] [max_rec=R] [--shard k/N|auto]\n" +
        "                      [checkpoint=PATH] [upstream flags: big_eval_step_K=True checkerboard=even mul=True ...]\n" +
        "       deno task eval merge name=NAME [same grid flags]\n\n" + helpText("eval"),
    );
    return 0;
  }
  try {
    const out = await evaluate(argv);
    const s = out.summary;
    console.log(`results: ${out.dir}`);
    const extended = s.extended === null ? "" : `, extended ${pct(s.extended)}`;
    console.log(
      `in-distribution ${pct(s.in_distribution)}, ` +
        `out-of-distribution ${pct(s.out_of_distribution)}${extended}`,
    );
    for (const p of out.plots) console.log(`plot: ${p}`);
    if (out.shard) {
      const rest = argv.filter((a, k) =>
        !/^(--)?shard(=|$)/.test(a) && !/^(--)?shard$/.test(argv[k - 1] ?? "")
      );
      console.log(`when every shard is done: deno task eval merge ${rest.join(" ")}`);
    }
    return 0;
  } catch (e) {
    // EvalError and ConfigError messages are one line already; others keep their first line.
    console.error((e as Error).message.split("\n")[0]);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
