// Which data an evaluation uses: the generator arguments of a plan's cells (the data task's grid
// preset with the plan's reversal, vocabulary, scratchpad, seed and sample count), the preset
// grid folder under `<base_dir>/data` when it holds matching data.

import { readGridMeta } from "../../data/dataset.ts";
import { datasetDir, GRID_PRESETS } from "../../data/presets.ts";
import type { DataOp, DataSpec } from "../../data/spec.ts";
import type { EvalTask } from "./grids.ts";
import type { GridPlan } from "./flags.ts";

/** Data op of each task: `+`, `x`, `sort`, `or`. */
const OP_OF: Record<EvalTask, DataOp> = {
  addition: "+",
  multiplication: "x",
  sorting: "sort",
  or: "or",
};

/** The data task's grid preset of each task (`deno task data` preset names). */
const PRESET_OF: Record<EvalTask, string> = {
  addition: "addition-grid",
  multiplication: "multiplication-grid",
  sorting: "sorting-grid",
  or: "or-grid",
};

/**
 * The generator arguments shared by a plan's cells: the task's grid preset with the plan's
 * reversal and vocabulary, plus seed and sample count.
 *
 * @example
 * ```ts
 * import { gridBase } from "./data_spec.ts";
 * import { resolveGrid } from "./flags.ts";
 * import assert from "node:assert/strict";
 *
 * const base = gridBase(resolveGrid({ mul: true }), { seed: 7 });
 * assert.deepEqual([base.op, base.reverseAll, base.numSamples, base.seed], ["x", true, 100, 7]);
 * ```
 *
 * @returns Partial generator arguments for `cellSpec`.
 */
export function gridBase(
  plan: GridPlan,
  options: { seed?: number; samples?: number } = {},
): Partial<DataSpec> {
  const base: Partial<DataSpec> = {
    ...GRID_PRESETS[PRESET_OF[plan.task]].base,
    op: OP_OF[plan.task],
    reverseAll: plan.reverse,
    indexHints: plan.tokenizer === "index",
    scratchpad: plan.scratchpad === true,
    seed: options.seed ?? 42,
  };
  if (options.samples !== undefined) {
    if (plan.task === "or") base.max = options.samples;
    else base.numSamples = options.samples;
  }
  return base;
}

/**
 * The data task's preset grid folder for a plan, if it exists and holds the plan's format.
 *
 * Looks at `<baseDir>/data/<preset name>` (e.g. `+_grid_eval_dataset_reverse_all_tokenized`);
 * returns null when it is missing or holds another op, reversal or vocabulary, so the caller
 * generates samples instead.
 *
 * @example
 * ```ts
 * import { findGridData } from "./data_spec.ts";
 * import { resolveGrid } from "./flags.ts";
 * import { generateGrid } from "../../data/generate.ts";
 * import assert from "node:assert/strict";
 *
 * const root = await Deno.makeTempDir();
 * assert.deepEqual(await findGridData(resolveGrid({ mul: true }), root), null);
 * await generateGrid({ preset: "multiplication-grid", maxSide: 1, name: "x_grid_eval_dataset_2_reverse_all_tokenized", baseDir: root });
 * assert.deepEqual(await findGridData(resolveGrid({ mul: true }), root), `${root}/data/x_grid_eval_dataset_2_reverse_all_tokenized`);
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @returns The grid folder or null.
 */
export async function findGridData(plan: GridPlan, baseDir: string): Promise<string | null> {
  const dir = datasetDir(baseDir, GRID_PRESETS[PRESET_OF[plan.task]].name);
  try {
    const grid = await readGridMeta(dir);
    const b = grid.base;
    const fits = b.op === OP_OF[plan.task] && b.reverseAll === plan.reverse &&
      b.indexHints === (plan.tokenizer === "index") &&
      (b.scratchpad === true) === (plan.scratchpad === true);
    return fits ? dir : null;
  } catch {
    return null;
  }
}
