// Upstream-compatible dataset folder names, so a dataset generated here sits where upstream's
// shells and configs expect it (`+_bucket_method_n_20_m_20_20000000_p_00_reverse_all`, ...).
// Names are a pure function of the generator arguments.

import type { DataSpec } from "./spec.ts";

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
 * import { datasetName } from "./names.ts";
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
  const hints = `${spec.indexHints ? "_with_index_hints_circular" : ""}${
    spec.scratchpad ? "_scratchpad" : ""
  }`;
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
