// The paper's datasets by name (training sets and evaluation grids, with upstream's folder
// names and arguments from its shells), two small sets for tests and demos, and where datasets
// live on disk: `<base_dir>/data/<name>`, base_dir defaulting like upstream's `cramming_base_dir`.

import { join, resolve } from "node:path";
import type { DataSpec } from "./spec.ts";

/** A named training set. */
export interface TrainPreset {
  /** Generator arguments (missing ones take `DEFAULT_SPEC`). */
  spec: Partial<DataSpec>;
  /** Folder name when it differs from `datasetName(spec)`. */
  name?: string;
}

/** A named evaluation grid: one dataset per cell (i, j), 1 <= i, j <= maxSide. */
export interface GridPreset {
  /** Arguments shared by the cells (n, m, method and stream are set per cell). */
  base: Partial<DataSpec>;
  /** Largest side. */
  maxSide: number;
  /** Folder name (upstream's eval folder name). */
  name: string;
}

/**
 * Training presets: the paper's sets plus small ones for CPU runs (test fraction 0.01, as
 * upstream's shells).
 *
 * Arguments follow upstream's shells/generate_and_tokenize_data.sh; `tiny-addition` (3-digit,
 * 20k samples), `demo-addition` (1..5 digits, 200k samples), `tiny-multiplication` (1..3 x
 * 1..3 digits, 100k samples, with the partial-product scratchpad, which is not upstream's) and
 * `tiny-sorting` (1..4 numbers of 1..4 digits, 100k samples) are small reversed bucketed sets.
 *
 * @example
 * ```ts
 * import { TRAIN_PRESETS } from "./presets.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(TRAIN_PRESETS.addition.spec.limit, 20_000_000);
 * ```
 */
export const TRAIN_PRESETS: Readonly<Record<string, TrainPreset>> = Object.freeze({
  "addition": { spec: { op: "+", n: 20, m: 20, limit: 20_000_000, reverseAll: true } },
  "multiplication": { spec: { op: "x", n: 15, m: 15, limit: 20_000_000, reverseAll: true } },
  "sorting": { spec: { op: "sort", n: 10, m: 10, limit: 20_000_000, reverseAll: true } },
  // Upstream: create_pos_or_variants.py --n 20 --m 20 --max 100 (100 of the 2870 cases).
  "or": { spec: { op: "or", n: 20, m: 20, max: 100 }, name: "or_one_vec_zeros" },
  "tiny-addition": { spec: { op: "+", n: 3, m: 3, limit: 20_000, reverseAll: true } },
  "demo-addition": { spec: { op: "+", n: 5, m: 5, limit: 200_000, reverseAll: true } },
  "tiny-multiplication": {
    spec: { op: "x", n: 3, m: 3, limit: 100_000, reverseAll: true, scratchpad: true },
  },
  "tiny-sorting": { spec: { op: "sort", n: 4, m: 4, limit: 100_000, reverseAll: true } },
});

/**
 * Evaluation-grid presets (100 samples per cell; sorting 200, as upstream's eval files).
 *
 * Addition 1..100 (the paper's 100x100 grid), multiplication 1..25, sorting 1..30 (max digits
 * x list length), OR 1..40; folder names are upstream's eval folder names.
 *
 * @example
 * ```ts
 * import { GRID_PRESETS } from "./presets.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(GRID_PRESETS["multiplication-grid"].maxSide, 25);
 * ```
 */
export const GRID_PRESETS: Readonly<Record<string, GridPreset>> = Object.freeze({
  "addition-grid": {
    base: { op: "+", reverseAll: true, numSamples: 100 },
    maxSide: 100,
    name: "+_grid_eval_dataset_reverse_all_tokenized",
  },
  "multiplication-grid": {
    base: { op: "x", reverseAll: true, numSamples: 100 },
    maxSide: 25,
    name: "x_grid_eval_dataset_2_reverse_all_tokenized",
  },
  "sorting-grid": {
    base: { op: "sort", reverseAll: true, numSamples: 200 },
    maxSide: 30,
    name: "sort_reverse",
  },
  "or-grid": {
    base: { op: "or", max: 100 },
    maxSide: 40,
    name: "pos_or_one_vec_zeros_eval",
  },
});

/**
 * Folder of a dataset: `<baseDir>/data/<name>`.
 *
 * @example
 * ```ts
 * import { datasetDir } from "./presets.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(datasetDir("/runs", "or_one_vec_zeros"), "/runs/data/or_one_vec_zeros");
 * ```
 *
 * @param baseDir The base folder (upstream's `base_dir`).
 */
export function datasetDir(baseDir: string, name: string): string {
  return join(baseDir, "data", name);
}

/**
 * The default base folder: env `cramming_base_dir` if set (and readable), else `./abacus-data`
 * resolved against the current working directory.
 *
 * @example
 * ```ts
 * import { defaultBaseDir } from "./presets.ts";
 * import assert from "node:assert/strict";
 *
 * assert(defaultBaseDir().length > 0);
 * ```
 */
export function defaultBaseDir(): string {
  let env: string | undefined;
  try {
    env = Deno.env.get("cramming_base_dir");
  } catch { /* no env permission */ }
  return resolve(env && env.length > 0 ? env : "abacus-data");
}
