// Evaluation grids: for every cell (i, j) a fixed number of samples with exactly i and j digits
// (sorting: max digits i, list length j), written in the same format as the training data, each
// cell a normal dataset folder whose samples are all in `test`. Every cell has its own random
// stream, so a cell's data does not depend on which other cells are generated.

import { join } from "node:path";
import { type DataSpec, resolveSpec } from "./spec.ts";
import { datasetName } from "./names.ts";
import { DATASET_FORMAT_VERSION, type GridMeta } from "./meta.ts";
import { DataError } from "./spec.ts";

/** Which cells a grid covers. */
export interface GridRange {
  /** Smallest side (at least 1). */
  minSide: number;
  /** Largest side. */
  maxSide: number;
  /** Only cells with i == j. */
  diagonal: boolean;
}

/**
 * The generator arguments of one cell: the base with n = i, m = j, the `sample` method, exact
 * lengths and the cell's own stream `1 + i * 2^20 + j`.
 *
 * @example
 * ```ts
 * import { cellSpec } from "./grid.ts";
 * import assert from "node:assert/strict";
 *
 * const s = cellSpec({ op: "+", reverseAll: true }, 3, 5);
 * assert.deepEqual([s.n, s.m, s.exact, s.method], [3, 5, true, "sample"]);
 * ```
 */
export function cellSpec(base: Partial<DataSpec>, i: number, j: number): DataSpec {
  return resolveSpec({
    ...base,
    n: i,
    m: j,
    method: "sample",
    exact: true,
    stream: 1 + i * 1048576 + j,
  });
}

/**
 * Default folder name of a grid that is not a preset.
 *
 * @example
 * ```ts
 * import { gridName } from "./grid.ts";
 * import assert from "node:assert/strict";
 *
 * const name = gridName({ op: "+", reverseAll: true }, { minSide: 1, maxSide: 23, diagonal: false });
 * assert.deepEqual(name, "+_grid_eval_sides_1_23_examples_100_p_00_reverse_all");
 * ```
 */
export function gridName(base: Partial<DataSpec>, range: GridRange): string {
  const spec = resolveSpec({ ...base, method: "sample", exact: true });
  // Reuse the dataset-name suffixes (p, reversal, hints, seed) of a sample-method spec.
  const suffix = datasetName({ ...spec, n: 1, m: 1 }).replace(/^.*?_p_/, "p_");
  const sides = `sides_${range.minSide}_${range.maxSide}${range.diagonal ? "_diagonal" : ""}`;
  const count = spec.op === "or"
    ? (spec.max >= 0 ? `max_${spec.max}` : "all")
    : `examples_${spec.numSamples}`;
  return `${spec.op}_grid_eval_${sides}_${count}_${suffix}`;
}

/**
 * Reads and checks `grid.json` of a grid folder.
 *
 * @example
 * ```ts ignore
 * import { readGridMeta } from "./grid.ts";
 *
 * const grid = await readGridMeta("abacus-data/data/+_grid_eval_dataset_reverse_all_tokenized");
 * console.log(grid.cells.length);
 * ```
 */
export async function readGridMeta(dir: string): Promise<GridMeta> {
  const meta = JSON.parse(await Deno.readTextFile(join(dir, "grid.json"))) as GridMeta;
  if (meta.format !== "abacus-grid" || meta.version !== DATASET_FORMAT_VERSION) {
    throw new DataError(
      `Cannot read grid ${dir}: unsupported format ${meta.format} v${meta.version}`,
    );
  }
  return meta;
}
