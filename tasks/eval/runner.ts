// The model-independent evaluation loop: for each cell of a (sharded, filtered) grid that is not
// finished yet, fetch its samples, ask an injected batched decoder for the answers, score them
// and write the cell's result at once. The decoder is the only model-dependent piece, so the
// loop is tested with fake decoders and `deno task eval` plugs in the KV-cached model decoder.

import type { TrainRange } from "../plot/types.ts";
import type { Progress } from "../../cli/progress.ts";
import { EOS, getTokenizer } from "../../data/tokenizer.ts";
import { cellCost, type EvalCell, EvalError, type GridPlan } from "./grids.ts";
import { type Shard, splitCells } from "./shard.ts";
import { type EvalSample, openSamples, type SampleOptions } from "./samples.ts";
import { type CellResult, scoreSample, tallyCell, tokensToScore } from "./scoring.ts";
import { ResultStore, type SampleRecord, type Stamp, type Summary } from "./results.ts";

/**
 * Greedy batched decoder: for each prompt, up to `maxNewTokens` new tokens (fewer is fine once
 * a row has produced EOS). Must return one array per prompt, in order.
 */
export type Decoder = (prompts: Int32Array[], maxNewTokens: number) => Promise<Int32Array[]>;

/** Options of `evaluateGrid`. */
export interface EvaluateGridOptions extends SampleOptions {
  /** What to evaluate (from `resolveGrid`). */
  plan: GridPlan;
  /** The grid's results folder, `<base_dir>/<name>/downstream/<plan.name>`. */
  gridDir: string;
  /** The model's decoder. */
  decode: Decoder;
  /** Evaluate only this piece (default: all cells). */
  shard?: Shard | null;
  /** Prompts per decoder call (default 100). */
  batchSize?: number;
  /** Training lengths, for the summary and the plot's box (default null). */
  trainRange?: TrainRange | null;
  /** Settings that must match to reuse results: checkpoint, max_rec, ... (default none). */
  stamp?: Stamp;
  /** Progress display, in units of estimated decoding cost (default none). */
  progress?: Progress | null;
}

/** What `evaluateGrid` did. */
export interface EvaluateGridResult {
  /** The job's results folder. */
  dir: string;
  /** Results of every cell of the job (new and previously finished), sorted. */
  cells: CellResult[];
  /** Cells decoded now. */
  evaluated: number;
  /** Cells skipped because they were finished. */
  skipped: number;
  /** Summary of the job's cells (also in its `summary.json`). */
  summary: Summary;
}

/** Decodes one cell's samples in batches of similar prompt length; returns predictions in order. */
async function decodeCell(
  samples: EvalSample[],
  plan: GridPlan,
  decode: Decoder,
  batchSize: number,
): Promise<Int32Array[]> {
  const order = samples.map((_, k) => k).sort((a, b) =>
    samples[a].prompt.length - samples[b].prompt.length || a - b
  );
  const out: Int32Array[] = new Array(samples.length);
  for (let s = 0; s < order.length; s += batchSize) {
    const idx = order.slice(s, s + batchSize);
    const maxNew = Math.max(...idx.map((k) => tokensToScore(plan.task, samples[k].target)));
    const preds = await decode(idx.map((k) => samples[k].prompt), maxNew);
    if (preds.length !== idx.length) {
      throw new EvalError(`Decoder returned ${preds.length} rows for ${idx.length} prompts`);
    }
    idx.forEach((k, r) => (out[k] = preds[r]));
  }
  return out;
}

/** Text of a prediction up to its first EOS. */
function untilEos(tokens: Int32Array): Int32Array {
  const eos = tokens.indexOf(EOS);
  return eos < 0 ? tokens : tokens.subarray(0, eos);
}

/**
 * Evaluates a grid plan: every unfinished cell of the (sharded) plan is decoded, scored and
 * written at once; finished cells of the same stamp anywhere in the grid are skipped.
 *
 * Writes into `gridDir` itself, or into `gridDir/<part>` when the plan has a part label or a
 * shard is given (`mergeResults` combines those). Ends by writing the job's `results.json` and
 * `summary.json`.
 *
 * @example
 * ```ts
 * import { evaluateGrid } from "./runner.ts";
 * import { resolveGrid } from "./grids.ts";
 * import assert from "node:assert/strict";
 *
 * const gridDir = await Deno.makeTempDir();
 * const decode = (prompts: Int32Array[], n: number) => Promise.resolve(prompts.map(() => new Int32Array(n)));
 * const plan = resolveGrid({ grid: "1..2x1..2" });
 * const r = await evaluateGrid({ plan, gridDir, decode, samples: 5 });
 * assert.deepEqual([r.evaluated, r.cells.every((c) => c.correct === 0 && c.total === 5)], [4, true]);
 * assert.deepEqual((await evaluateGrid({ plan, gridDir, decode, samples: 5 })).skipped, 4);
 * await Deno.remove(gridDir, { recursive: true });
 * ```
 */
export async function evaluateGrid(options: EvaluateGridOptions): Promise<EvaluateGridResult> {
  const { plan, decode, shard } = options;
  const cost = (c: EvalCell) => cellCost(plan.task, c, options.samples);
  const cells = shard ? splitCells(plan.cells, shard.count, cost)[shard.index - 1] : plan.cells;
  // A part or shard job writes into its own subfolder: `<part>`, `shard_<k>_of_<N>`, or both.
  const labels = [plan.part, shard ? `shard_${shard.index}_of_${shard.count}` : null];
  const store = await ResultStore.open(options.gridDir, {
    grid_name: plan.name,
    task: plan.task,
    part: labels.filter((x) => x !== null).join("_") || null,
    stamp: options.stamp ?? {},
    train_range: options.trainRange ?? null,
  });
  const finished = await store.finished();
  const todo = cells.filter((c) => !finished.has(`${c.i},${c.j}`));
  const samplesOf = await openSamples(plan, options);
  const tok = getTokenizer(plan.tokenizer);
  const total = todo.reduce((a, c) => a + cost(c), 0);
  let done = 0;
  options.progress?.update(0, total);
  const results = new Map(finished);
  for (const { i, j } of todo) {
    const samples = await samplesOf(i, j);
    const preds = await decodeCell(samples, plan, decode, options.batchSize ?? 100);
    const scores = samples.map((s, k) =>
      scoreSample(plan.task, s.prompt, s.target, preds[k], plan.reverse)
    );
    const result = tallyCell(i, j, scores);
    const records: SampleRecord[] = samples.map((s, k) => ({
      prompt: tok.decode(s.prompt),
      target: tok.decode(s.target),
      prediction: tok.decode(untilEos(preds[k])),
      ...scores[k],
    }));
    await store.writeCell(result, records);
    results.set(`${i},${j}`, result);
    done += cost({ i, j });
    options.progress?.update(done, total);
  }
  options.progress?.done();
  const mine = cells.map((c) => results.get(`${c.i},${c.j}`)!);
  return {
    dir: store.dir,
    cells: mine,
    evaluated: todo.length,
    skipped: cells.length - todo.length,
    summary: await store.writeSummary(mine),
  };
}
