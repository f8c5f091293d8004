// The paper's datasets by name (training sets and evaluation grids, with upstream's folder
// names and arguments from its shells), small sets for tests and demos, where datasets live on
// disk (`<base_dir>/data/<name>`), and the upstream-compatible folder names of any generator
// arguments, so a dataset generated here sits where upstream's shells and configs expect it
// (`+_bucket_method_n_20_m_20_20000000_p_00_reverse_all`, ...).

import { join } from "node:path";
import type { DataSpec } from "./spec.ts";

/**
 * Training presets: the paper's sets plus small ones for CPU runs (test fraction 0.01, as
 * upstream's shells). Each holds its generator arguments (missing ones take `DEFAULT_SPEC`) and
 * its folder name where that differs from `datasetName(spec)`.
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
export const TRAIN_PRESETS: Readonly<Record<string, { spec: Partial<DataSpec>; name?: string }>> =
  Object.freeze({
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
 * Each holds the arguments its cells share (`base`: n, m, method and stream are set per cell),
 * its largest side (cells (i, j), 1 <= i, j <= maxSide) and its folder name: addition 1..100
 * (the paper's 100x100 grid), multiplication 1..25, sorting 1..30 (max digits x list length),
 * OR 1..40, in upstream's eval folder names.
 *
 * @example
 * ```ts
 * import { GRID_PRESETS } from "./presets.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(GRID_PRESETS["multiplication-grid"].maxSide, 25);
 * ```
 */
export const GRID_PRESETS: Readonly<
  Record<string, { base: Partial<DataSpec>; maxSide: number; name: string }>
> = Object.freeze({
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

/** Python's `str(float)` for the `p_00` part of upstream names (0 -> "0.0"). */
function pythonFloat(p: number): string {
  if (Number.isInteger(p)) return `${p}.0`;
  if (p < 1e-4) {
    const [mant, exp] = p.toExponential().split("e");
    const e = Number(exp);
    return `${mant}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  return String(p);
}

/**
 * Upstream-compatible dataset folder name of a spec.
 *
 * Bucket arithmetic: `+_bucket_method_n_20_m_20_20000000_p_00_reverse_all`; bucket sorting:
 * `sort_bucket_uniform_distribution_max_digits_n_10_max_length_m_10_20000000_p_00_reverse_all`.
 * A seed other than 42 and a non-zero stream are appended (`_seed_7`, `_stream_3`) so that
 * different data never share a folder.
 *
 * @example
 * ```ts
 * import { datasetName } from "./presets.ts";
 * import { resolveSpec } from "./spec.ts";
 * import assert from "node:assert/strict";
 *
 * const spec = resolveSpec({ op: "+", n: 20, m: 20, limit: 20_000_000, reverseAll: true });
 * assert.deepEqual(datasetName(spec), "+_bucket_method_n_20_m_20_20000000_p_00_reverse_all");
 * ```
 */
export function datasetName(spec: DataSpec): string {
  const p = `p_${pythonFloat(spec.p).replace(".", "")}`;
  const rev = `${spec.reverseAnswer ? "_reverse_ans" : ""}${spec.reverseAll ? "_reverse_all" : ""}`;
  const hints = (spec.indexHints ? "_with_index_hints_circular" : "") +
    (spec.scratchpad ? "_scratchpad" : "");
  let name: string;
  if (spec.op === "sort") {
    const dims = `max_digits_n_${spec.n}_max_length_m_${spec.m}`;
    name = spec.method === "bucket"
      ? `sort_bucket_uniform_distribution_${dims}_${spec.limit}_${p}${rev}${hints}`
      : `sort_uniform_distribution_sort_basic_${dims}_${spec.numSamples}_${p}${rev}${hints}`;
  } else if (spec.op === "or") {
    const max = spec.max >= 0 ? `_max_${spec.max}` : "";
    name = `or_one_vec_zeros_n_${spec.n}_m_${spec.m}${spec.exact ? "_exact" : ""}${max}_${p}${rev}`;
  } else if (spec.method === "bucket") {
    const keep0 = spec.keep0ForLen1 ? "_keep_0_for_len_1" : "";
    name =
      `${spec.op}_bucket_method_n_${spec.n}_m_${spec.m}_${spec.limit}_${p}${rev}${keep0}${hints}`;
  } else {
    const exact = spec.exact ? "_exact" : "";
    name =
      `${spec.op}_n_${spec.n}_m_${spec.m}_examples_${spec.numSamples}_diff_lens${exact}_${p}${rev}${hints}`;
  }
  if (spec.seed !== 42) name += `_seed_${spec.seed}`;
  if (spec.stream !== 0) name += `_stream_${spec.stream}`;
  return name;
}
