// The evaluation results store: `<base_dir>/<name>/downstream/<grid>/[<part>/]cell_<i>_<j>.json`,
// one file per cell written atomically as soon as the cell is done (the format `deno task plot`
// reads), decoded samples beside it, and a `job.json` stamp (checkpoint, recurrences, ...) so a
// rerun skips finished cells of the same setup and refuses to mix results of different ones.

import { join } from "node:path";
import type { TrainRange } from "../plot/types.ts";
import { EvalError, type EvalTask } from "./grids.ts";
import type { CellResult } from "./scoring.ts";

/** Settings that must match for results to be reused or merged (checkpoint, max_rec, seed...). */
export type Stamp = Record<string, string | number | boolean | null>;

/** Contents of `job.json` in a results folder. */
export interface JobInfo {
  /** Always `abacus-eval-job`. */
  format: "abacus-eval-job";
  /** Format version, 1. */
  version: number;
  /** Grid folder name. */
  grid_name: string;
  task: EvalTask;
  /** Part label (the folder name), or null for the grid folder itself. */
  part: string | null;
  /** Settings of the evaluation. */
  stamp: Stamp;
  /** Training lengths, or null when unknown. */
  train_range: TrainRange | null;
}

/** One decoded sample in `samples/cell_<i>_<j>.json`. */
export interface SampleRecord {
  /** Prompt text up to and including `=`. */
  prompt: string;
  /** Target answer text (EOS dropped). */
  target: string;
  /** Generated text up to its first EOS. */
  prediction: string;
  /** Exactly right. */
  correct: boolean;
  /** Sorting: first label right. */
  first?: boolean;
  /** Sorting: first label is a minimum. */
  min?: boolean;
}

const CELL_FILE = /^cell_(\d+)_(\d+)\.json$/;
const JOB_FILE = "job.json";

/**
 * Results folder of one grid of one run: `<baseDir>/<name>/downstream/<grid>`.
 *
 * @example
 * ```ts
 * import { resultsDir } from "./results.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(resultsDir("/runs", "abacus", "addition_1-100x1-100"), "/runs/abacus/downstream/addition_1-100x1-100");
 * ```
 */
export function resultsDir(baseDir: string, name: string, grid: string): string {
  return join(baseDir, name, "downstream", grid);
}

/**
 * File name of a cell's result: `cell_<i>_<j>.json`.
 *
 * @example
 * ```ts
 * import { cellFileName } from "./results.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(cellFileName(3, 12), "cell_3_12.json");
 * ```
 */
export function cellFileName(i: number, j: number): string {
  return `cell_${i}_${j}.json`;
}

/**
 * Writes JSON so that readers see the old file or the whole new one: a temporary file in the
 * same folder, then a rename.
 *
 * @example
 * ```ts
 * import { writeJsonAtomic } from "./results.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * await writeJsonAtomic(`${dir}/a.json`, { x: 1 });
 * assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/a.json`)), { x: 1 });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${Deno.pid}.${Math.floor(Math.random() * 1e9).toString(36)}.tmp`;
  try {
    await Deno.writeTextFile(tmp, JSON.stringify(value) + "\n");
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw new EvalError(`Cannot write ${path}: ${(err as Error).message.split("\n")[0]}`);
  }
}

function badCell(path: string, why: string): never {
  throw new EvalError(`Cannot read ${path}: ${why}`);
}

/** Parses and checks a cell file's counts; keeps only the result fields. */
function parseCell(path: string, text: string): CellResult {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text);
  } catch {
    return badCell(path, "malformed JSON");
  }
  const count = (k: string, min: number): number => {
    const v = o[k];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      badCell(path, `${k} must be an integer of at least ${min}`);
    }
    return v as number;
  };
  const r: CellResult = {
    i: count("i", 1),
    j: count("j", 1),
    correct: count("correct", 0),
    total: count("total", 1),
  };
  if (o.correct_first !== undefined) r.correct_first = count("correct_first", 0);
  if (o.correct_min !== undefined) r.correct_min = count("correct_min", 0);
  if (r.correct > r.total) badCell(path, "correct exceeds total");
  return r;
}

/**
 * Reads every `cell_<i>_<j>.json` directly in a folder (not its subfolders), sorted by i, j.
 *
 * A missing folder gives no cells; a malformed file or a name that disagrees with its contents
 * throws one line.
 *
 * @example
 * ```ts
 * import { readCells, writeJsonAtomic } from "./results.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * await writeJsonAtomic(`${dir}/cell_2_1.json`, { i: 2, j: 1, correct: 3, total: 4 });
 * assert.deepEqual(await readCells(dir), [{ i: 2, j: 1, correct: 3, total: 4 }]);
 * assert.deepEqual(await readCells(`${dir}/missing`), []);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readCells(dir: string): Promise<CellResult[]> {
  const cells: CellResult[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = CELL_FILE.exec(e.name);
      if (!m || !e.isFile) continue;
      const path = join(dir, e.name);
      const c = parseCell(path, await Deno.readTextFile(path));
      if (c.i !== +m[1] || c.j !== +m[2]) badCell(path, `it holds cell (${c.i}, ${c.j})`);
      cells.push(c);
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
  return cells.sort((a, b) => a.i - b.i || a.j - b.j);
}

/**
 * Reads a folder's `job.json`, or null when there is none.
 *
 * @example
 * ```ts
 * import { readJob } from "./results.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(await readJob(await Deno.makeTempDir()), null);
 * ```
 */
export async function readJob(dir: string): Promise<JobInfo | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(dir, JOB_FILE));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
  let job: JobInfo;
  try {
    job = JSON.parse(text);
  } catch {
    throw new EvalError(`Cannot read ${join(dir, JOB_FILE)}: malformed JSON`);
  }
  if (job.format !== "abacus-eval-job" || job.version !== 1) {
    throw new EvalError(`Cannot read ${join(dir, JOB_FILE)}: not an abacus eval job (v1)`);
  }
  return job;
}

/**
 * A canonical string of a stamp (keys sorted), for comparisons.
 *
 * @example
 * ```ts
 * import { stampKey } from "./results.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(stampKey({ b: 1, a: "x" }), stampKey({ a: "x", b: 1 }));
 * ```
 */
export function stampKey(stamp: Stamp): string {
  return JSON.stringify(Object.keys(stamp).sort().map((k) => [k, stamp[k]]));
}

/**
 * The results folders of a grid: the grid folder and each subfolder with a `job.json`.
 *
 * @example
 * ```ts
 * import { jobFolders } from "./results.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * assert.deepEqual(await jobFolders(dir), [{ dir, job: null }]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @returns Folders with their job info (null for a grid folder without one), grid folder first.
 */
export async function jobFolders(gridDir: string): Promise<{ dir: string; job: JobInfo | null }[]> {
  const out = [{ dir: gridDir, job: await readJob(gridDir) }];
  const subs: string[] = [];
  try {
    for await (const e of Deno.readDir(gridDir)) {
      if (e.isDirectory && e.name !== "samples") subs.push(e.name);
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return out;
    throw err;
  }
  for (const name of subs.sort()) {
    const job = await readJob(join(gridDir, name));
    if (job) out.push({ dir: join(gridDir, name), job });
  }
  return out;
}
