// Where a cell's evaluation samples come from: the data task's grid folder when it holds the
// cell (the preset folder under `<base_dir>/data` when it holds the plan's format), else the same
// generator run on the fly with the same per-cell seed and stream, so both paths give identical
// samples in the training format. Also splits a sample into the prompt (up to and including `=`)
// and the target (answer + EOS).

import { join } from "node:path";
import { openDataset, readGridMeta } from "../../data/dataset.ts";
import { cellSpec } from "../../data/generate.ts";
import { datasetDir, GRID_PRESETS } from "../../data/presets.ts";
import type { DataSpec } from "../../data/spec.ts";
import { createSource } from "../../data/generators.ts";
import { EOS, EQUALS, PAD, SPACE } from "../../data/tokenizer.ts";
import { EvalError, type EvalTask, type GridPlan } from "./grids.ts";

/** One evaluation sample. */
export interface EvalSample {
  /** Tokens up to and including `=`. */
  prompt: Int32Array;
  /** Answer tokens and EOS. */
  target: Int32Array;
}

/** Where a plan's samples come from and how they are cut. */
export interface SampleOptions {
  /** A data-task grid folder (with `grid.json`); default none: generate every cell. */
  dataDir?: string | null;
  /** Generator seed (default: the grid folder's, else 42). */
  seed?: number;
  /** Samples per generated cell (OR: at most this many cases; default: the folder's, else the
   * preset's: 100, sorting 200). */
  samples?: number;
  /** Drop PAD (stored spaces) from prompts, as upstream's `remove_padding` (default true). */
  removePadding?: boolean;
}

/** The data task's grid preset of a task (`deno task data` preset `<task>-grid`), with its op. */
const gridPreset = (task: EvalTask) => GRID_PRESETS[`${task}-grid`];

/** The generator arguments a grid folder must share with the plan to be used. */
const SHARED_KEYS = [
  "op",
  "reverseAll",
  "reverseAnswer",
  "indexHints",
  "scratchpad",
  "p",
  "seed",
  "numSamples",
  "max",
] as const;

/**
 * The data task's preset grid folder for a plan, if it exists and holds the plan's format.
 *
 * Looks at `<baseDir>/data/<preset name>` (e.g. `+_grid_eval_dataset_reverse_all_tokenized`);
 * returns null when it is missing or holds another op, reversal or vocabulary, so the caller
 * generates samples instead.
 *
 * @example
 * ```ts
 * import { findGridData } from "./samples.ts";
 * import { resolveGrid } from "./grids.ts";
 * import { generateGrid } from "../../data/generate.ts";
 * import assert from "node:assert/strict";
 *
 * const root = await Deno.makeTempDir();
 * assert.deepEqual(await findGridData(resolveGrid({ mul: true }), root), null);
 * await generateGrid({ preset: "multiplication-grid", maxSide: 1, name: "x_grid_eval_dataset_2_reverse_all_tokenized", baseDir: root });
 * assert.deepEqual(await findGridData(resolveGrid({ mul: true }), root), `${root}/data/x_grid_eval_dataset_2_reverse_all_tokenized`);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function findGridData(plan: GridPlan, baseDir: string): Promise<string | null> {
  const dir = datasetDir(baseDir, gridPreset(plan.task).name);
  const b = await readGridMeta(dir).then((m) => m.base, () => null);
  const fits = b !== null && b.op === gridPreset(plan.task).base.op &&
    b.reverseAll === plan.reverse &&
    b.indexHints === (plan.tokenizer === "index") &&
    (b.scratchpad === true) === (plan.scratchpad === true);
  return fits ? dir : null;
}

/** Splits a stored sample (ending in EOS, maybe PAD-padded) into prompt and target. */
function splitSample(tokens: ArrayLike<number>, removePadding: boolean): EvalSample {
  const row = Array.from(tokens);
  const eq = row.indexOf(EQUALS);
  if (eq < 0) throw new EvalError(`Cannot split an evaluation sample: it has no "="`);
  const eos = row.indexOf(EOS, eq + 1);
  const head = row.slice(0, eq + 1);
  return {
    prompt: Int32Array.from(removePadding ? head.filter((t) => t !== PAD) : head),
    target: Int32Array.from(row.slice(eq + 1, eos < 0 ? row.length : eos + 1)),
  };
}

/**
 * Prepares a plan's samples, checking a grid folder's generator arguments against the plan's,
 * and returns what gives cell (i, j)'s samples in stored order: read from the grid folder when
 * it holds the cell, else generated with the same arguments (so both give the same samples).
 *
 * @example
 * ```ts
 * import { openSamples } from "./samples.ts";
 * import { resolveGrid } from "./grids.ts";
 * import { generateGrid } from "../../data/generate.ts";
 * import assert from "node:assert/strict";
 *
 * const root = await Deno.makeTempDir();
 * await generateGrid({ preset: "addition-grid", maxSide: 2, out: `${root}/g` });
 * const plan = resolveGrid({ grid: "1..3x1" });
 * const fromDisk = await openSamples(plan, { dataDir: `${root}/g` });
 * const generated = await openSamples(plan, {});
 * assert.deepEqual(await fromDisk(2, 1), await generated(2, 1));
 * assert.deepEqual((await fromDisk(3, 1)).length, 100); // not on disk: generated
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function openSamples(
  plan: GridPlan,
  options: SampleOptions,
): Promise<(i: number, j: number) => Promise<EvalSample[]>> {
  const onDisk = new Map<string, string>();
  const grid = options.dataDir
    ? await readGridMeta(options.dataDir).catch((err) => {
      throw new EvalError(
        `Cannot read grid data ${options.dataDir}: ${(err as Error).message.split("\n")[0]}`,
      );
    })
    : null;
  const gb = grid?.base;
  // Samples per cell are OR's cases per cell (`max`), else `numSamples`.
  const count = plan.task === "or" ? "max" : "numSamples";
  const samples = options.samples ?? gb?.[count];
  // The generator arguments shared by the plan's cells: the task's grid preset with the plan's
  // reversal, vocabulary and scratchpad, plus seed (default 42) and sample count.
  const base: Partial<DataSpec> = {
    ...gridPreset(plan.task).base,
    reverseAll: plan.reverse,
    indexHints: plan.tokenizer === "index",
    scratchpad: plan.scratchpad === true,
    seed: options.seed ?? gb?.seed ?? 42,
    ...(samples === undefined ? {} : { [count]: samples }),
  };
  if (gb) {
    const want = cellSpec(base, 1, 1);
    for (const k of SHARED_KEYS) {
      // Grids written before the scratchpad existed have no such key: false.
      if ((gb[k] ?? false) !== want[k]) {
        throw new EvalError(
          `Cannot use grid data ${options.dataDir}: its ${k} is ${
            JSON.stringify(gb[k])
          }, the evaluation needs ${JSON.stringify(want[k])}`,
        );
      }
    }
    for (const c of grid.cells) onDisk.set(`${c.i},${c.j}`, join(options.dataDir!, c.dir));
  }
  return async (i, j) => {
    const dir = onDisk.get(`${i},${j}`);
    const rows: ArrayLike<number>[] = [];
    if (dir) {
      const ds = await openDataset(dir);
      try {
        const T = ds.meta.rowLength, n = ds.meta.counts.test;
        const bytes = await ds.readRows("test", 0, n);
        for (let r = 0; r < n; r++) rows.push(bytes.subarray(r * T, (r + 1) * T));
      } finally {
        ds.close();
      }
    } else {
      const src = createSource(cellSpec(base, i, j));
      const buf = new Uint8Array(src.maxTokens + 1);
      for (let k = 0; k < src.total; k++) {
        const len = src.next(buf, 0);
        const row = buf.slice(0, len + 1).map((t) => (t === SPACE ? PAD : t));
        row[len] = EOS;
        rows.push(row);
      }
    }
    return rows.map((row) => splitSample(row, options.removePadding ?? true));
  };
}
