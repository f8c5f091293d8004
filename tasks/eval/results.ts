// The evaluation results store: `<base_dir>/<name>/downstream/<grid>/[<part>/]cell_<i>_<j>.json`,
// one file per cell written atomically as soon as the cell is done (the format `deno task plot`
// reads), decoded samples beside it, and a `job.json` stamp (checkpoint, recurrences, ...) so a
// rerun skips finished cells of the same setup anywhere in the grid, refuses to mix results of
// different ones, and an interrupted job loses at most the cell it was decoding. `mergeResults`
// combines a grid's part and shard folders into the grid folder, which then looks exactly like
// the output of one unsharded run. `summary.json` holds the numbers a paper table needs: mean
// in-distribution, out-of-distribution and extended accuracy.

import { basename, dirname, join } from "node:path";
import { writeFileAtomic } from "../../core/checkpoint.ts";
import type { TrainRange } from "../plot/types.ts";
import { type EvalCell, EvalError, type EvalTask } from "./grids.ts";
import type { CellResult, SampleScore } from "./scoring.ts";

/** Mean per-cell accuracy (a fraction) of each class of cells; null when a class is empty. */
export interface Accuracies {
  /** Cells with i and j inside the training lengths. */
  in_distribution: number | null;
  /** Every other cell. */
  out_of_distribution: number | null;
  /** Cells with a side beyond 100 (upstream's extended sets). */
  extended: number | null;
  /** All cells. */
  all: number | null;
}

/** Contents of `summary.json`. */
export interface Summary extends Accuracies {
  /** Grid folder name. */
  grid_name: string;
  task: EvalTask;
  /** Training lengths used for the split (null: unknown, so no in/out split). */
  train_range: TrainRange | null;
  /** Cells in all. */
  cells: number;
  in_distribution_cells: number;
  out_of_distribution_cells: number;
  /** Extended cells (also counted out of distribution). */
  extended_cells: number;
  /** Samples in all. */
  samples: number;
  /** Sorting: the same means for the first label (top-1). */
  first_element?: Accuracies;
  /** Sorting: the same means for a first label of minimum value. */
  min_element?: Accuracies;
}

/**
 * Mean of the non-null values (null when there are none).
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { meanOf } from "./results.ts";
 * strictEqual(meanOf([0.5, null, 1]), 0.75);
 * strictEqual(meanOf([null]), null);
 * ```
 */
export function meanOf(xs: readonly (number | null)[]): number | null {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
}

// Mean accuracies of a grid's cells, each cell weighing the same (its correct / total); without a
// training range the in/out split is null.
function summarize(cells: readonly CellResult[], job: JobInfo): Summary {
  const r = job.train_range;
  const isIn = (c: CellResult) =>
    r !== null && c.i >= r[0][0] && c.i <= r[0][1] && c.j >= r[1][0] && c.j <= r[1][1];
  const isExt = (c: CellResult) => Math.max(c.i, c.j) > 100;
  const means = (f: (c: CellResult) => number | undefined): Accuracies => {
    const pick = (keep: (c: CellResult) => boolean) =>
      cells.filter(keep).map((c) => (f(c) ?? 0) / c.total);
    return {
      in_distribution: r === null ? null : meanOf(pick(isIn)),
      out_of_distribution: r === null ? null : meanOf(pick((c) => !isIn(c))),
      extended: meanOf(pick(isExt)),
      all: meanOf(pick(() => true)),
    };
  };
  const inCells = r === null ? 0 : cells.filter(isIn).length;
  const s: Summary = {
    grid_name: job.grid_name,
    task: job.task,
    train_range: r,
    ...means((c) => c.correct),
    cells: cells.length,
    in_distribution_cells: inCells,
    out_of_distribution_cells: r === null ? 0 : cells.length - inCells,
    extended_cells: cells.filter(isExt).length,
    samples: cells.reduce((a, c) => a + c.total, 0),
  };
  if (cells.some((c) => c.correct_first !== undefined)) {
    s.first_element = means((c) => c.correct_first);
  }
  if (cells.length > 0 && cells.every((c) => c.correct_min !== undefined)) {
    s.min_element = means((c) => c.correct_min);
  }
  return s;
}

/** Settings that must match for results to be reused or merged (checkpoint, max_rec, seed...). */
export type Stamp = Record<string, string | number | boolean | null>;

/** Contents of `job.json` in a results folder. */
interface JobInfo {
  format: "abacus-eval-job";
  version: 1;
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

/** One decoded sample in `samples/cell_<i>_<j>.json`, with its scores. */
export interface SampleRecord extends SampleScore {
  /** Prompt text up to and including `=`. */
  prompt: string;
  /** Target answer text (EOS dropped). */
  target: string;
  /** Generated text up to its first EOS. */
  prediction: string;
}

const cellFile = (c: EvalCell) => `cell_${c.i}_${c.j}.json`;
const byCell = (a: EvalCell, b: EvalCell) => a.i - b.i || a.j - b.j;

/** Writes a JSON file atomically, creating its folder. */
async function writeJson(path: string, value: unknown): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true })
    .then(() => writeFileAtomic(path, JSON.stringify(value) + "\n"))
    .catch((err) => {
      throw new EvalError(`Cannot write ${path}: ${(err as Error).message.split("\n")[0]}`);
    });
}

/** A promise's value, or `none` when it fails because a file or folder does not exist. */
function unlessMissing<T>(p: Promise<T>, none: T): Promise<T> {
  return p.catch((err) => {
    if (err instanceof Deno.errors.NotFound) return none;
    throw err;
  });
}

/** A file's JSON, or null when it does not exist; malformed JSON is an error. */
async function readJson(path: string): Promise<Record<string, unknown> | null> {
  const text = await unlessMissing(Deno.readTextFile(path), null);
  try {
    return text === null ? null : JSON.parse(text);
  } catch {
    throw new EvalError(`Cannot read ${path}: malformed JSON`);
  }
}

/** Checks a cell file's counts; keeps only the result fields. */
function parseCell(path: string, o: Record<string, unknown>): CellResult {
  const bad = (why: string) => new EvalError(`Cannot read ${path}: ${why}`);
  const count = (k: string, min: number): number => {
    const v = o[k];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      throw bad(`${k} must be an integer of at least ${min}`);
    }
    return v;
  };
  const r: CellResult = {
    i: count("i", 1),
    j: count("j", 1),
    correct: count("correct", 0),
    total: count("total", 1),
  };
  if (o.correct_first !== undefined) r.correct_first = count("correct_first", 0);
  if (o.correct_min !== undefined) r.correct_min = count("correct_min", 0);
  if (r.correct > r.total) throw bad("correct exceeds total");
  if (basename(path) !== cellFile(r)) throw bad(`it holds cell (${r.i}, ${r.j})`);
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
 * import { readCells } from "./results.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/cell_2_1.json`, '{ "i": 2, "j": 1, "correct": 3, "total": 4 }');
 * assert.deepEqual(await readCells(dir), [{ i: 2, j: 1, correct: 3, total: 4 }]);
 * assert.deepEqual(await readCells(`${dir}/missing`), []);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readCells(dir: string): Promise<CellResult[]> {
  const cells: CellResult[] = [];
  for (const e of await unlessMissing(Array.fromAsync(Deno.readDir(dir)), [])) {
    if (!e.isFile || !/^cell_\d+_\d+\.json$/.test(e.name)) continue;
    const path = join(dir, e.name);
    cells.push(parseCell(path, (await readJson(path))!));
  }
  return cells.sort(byCell);
}

async function readJob(dir: string): Promise<JobInfo | null> {
  const job = await readJson(join(dir, "job.json"));
  if (job && (job.format !== "abacus-eval-job" || job.version !== 1)) {
    throw new EvalError(`Cannot read ${join(dir, "job.json")}: not an abacus eval job (v1)`);
  }
  return job as JobInfo | null;
}

/**
 * Names the first setting (grid, task or stamp key) in which two jobs differ, or null when they
 * match; `labels` say where each value is.
 */
function jobDiff(a: JobInfo, b: Omit<JobInfo, "format" | "version">, labels = ["there", "now"]) {
  const [x, y] = [a, b].map((j) => ({ grid: j.grid_name, task: j.task, ...j.stamp }) as Stamp);
  for (const k of [...new Set([...Object.keys(x), ...Object.keys(y)])].sort()) {
    if (JSON.stringify(x[k]) !== JSON.stringify(y[k])) {
      const [vx, vy] = [x[k], y[k]].map((v) => JSON.stringify(v ?? null));
      return `${k} ${vx} ${labels[0]}, ${vy} ${labels[1]}`;
    }
  }
  return null;
}

/** The grid folder and each subfolder with a `job.json`, with their job info, grid folder first. */
async function jobFolders(gridDir: string): Promise<{ dir: string; job: JobInfo | null }[]> {
  const out = [{ dir: gridDir, job: await readJob(gridDir) }];
  const subs = (await unlessMissing(Array.fromAsync(Deno.readDir(gridDir)), [])).filter((e) =>
    e.isDirectory && e.name !== "samples"
  );
  for (const name of subs.map((e) => e.name).sort()) {
    const job = await readJob(join(gridDir, name));
    if (job) out.push({ dir: join(gridDir, name), job });
  }
  return out;
}

/**
 * One job's results folder (the grid folder, or its subfolder named by the job's part): the
 * cells already finished, and atomic per-cell writes.
 *
 * @example
 * ```ts
 * import { ResultStore } from "./results.ts";
 * import assert from "node:assert/strict";
 *
 * const gridDir = await Deno.makeTempDir();
 * const job = { grid_name: "addition_1-2x1-2", task: "addition" as const, part: null, stamp: { max_rec: 4 }, train_range: null };
 * const store = await ResultStore.open(gridDir, job);
 * await store.writeCell({ i: 1, j: 2, correct: 9, total: 10 });
 * assert.deepEqual([...(await store.finished()).keys()], ["1,2"]);
 * await assert.rejects(ResultStore.open(gridDir, { ...job, stamp: { max_rec: 8 } }), /Cannot resume .*: it holds results with max_rec 4 there, 8 now/);
 * await Deno.remove(gridDir, { recursive: true });
 * ```
 */
export class ResultStore {
  /** This job's folder. */
  readonly dir: string;
  #gridDir: string;
  #job: JobInfo;

  /** Use `ResultStore.open`. */
  constructor(gridDir: string, job: JobInfo) {
    this.dir = job.part === null ? gridDir : join(gridDir, job.part);
    this.#gridDir = gridDir;
    this.#job = job;
  }

  /** Creates or reopens a job's folder; a folder stamped with other settings is an error. */
  static async open(
    gridDir: string,
    job: Omit<JobInfo, "format" | "version">,
  ): Promise<ResultStore> {
    const store = new ResultStore(gridDir, { format: "abacus-eval-job", version: 1, ...job });
    const old = await readJob(store.dir);
    if (old) {
      const diff = jobDiff(old, job);
      if (diff) {
        throw new EvalError(
          `Cannot resume ${store.dir}: it holds results with ${diff} (use another folder)`,
        );
      }
      return new ResultStore(gridDir, old);
    }
    await writeJson(join(store.dir, "job.json"), store.#job);
    return store;
  }

  /**
   * Finished cells of the same setup anywhere in the grid (its folder and every part folder
   * whose stamp matches), keyed `"i,j"`.
   */
  async finished(): Promise<Map<string, CellResult>> {
    const out = new Map<string, CellResult>();
    for (const { dir, job } of await jobFolders(this.#gridDir)) {
      if (!job || jobDiff(job, this.#job)) continue;
      for (const c of await readCells(dir)) {
        if (!out.has(`${c.i},${c.j}`)) out.set(`${c.i},${c.j}`, c);
      }
    }
    return out;
  }

  /**
   * Writes one finished cell: its samples (if given) to `samples/cell_<i>_<j>.json`, then its
   * result to `cell_<i>_<j>.json`, each atomically.
   */
  async writeCell(result: CellResult, samples?: readonly SampleRecord[]): Promise<void> {
    const head = {
      ...result,
      grid: this.#job.task,
      train_range: this.#job.train_range ?? undefined,
    };
    if (samples) {
      await writeJson(join(this.dir, "samples", cellFile(result)), { ...head, samples });
    }
    await writeJson(join(this.dir, cellFile(result)), head);
  }

  /**
   * Writes the job's `summary.json` and `results.json` (all cells in one file, the plot task's
   * grid-file format, with the run's name when the folder is `<name>/downstream/<grid>`).
   */
  async writeSummary(cells: readonly CellResult[]): Promise<Summary> {
    const { task, train_range: trainRange } = this.#job;
    const summary = summarize(cells, this.#job);
    const parent = dirname(this.dir);
    const name = basename(parent) === "downstream" ? basename(dirname(parent)) : undefined;
    await writeJson(join(this.dir, "results.json"), {
      grid: task,
      ...(name ? { name } : {}),
      train_range: trainRange,
      cells: [...cells].sort(byCell),
    });
    await writeJson(join(this.dir, "summary.json"), summary);
    return summary;
  }
}

/** What `mergeResults` did. */
export interface MergeResult {
  /** Every cell of the grid, sorted. */
  cells: CellResult[];
  /** The grid's summary (also in `summary.json`). */
  summary: Summary;
  /** Cells of `expected` that no folder holds. */
  missing: EvalCell[];
}

/**
 * Combines a grid's part and shard folders into the grid folder (cells, samples, job.json,
 * results.json, summary.json), so it looks like one unsharded run.
 *
 * Every folder must have the same grid, task and stamp; a cell present twice with different
 * results is an error. Cells already in the grid folder stay.
 *
 * @example
 * ```ts
 * import { mergeResults, ResultStore } from "./results.ts";
 * import assert from "node:assert/strict";
 *
 * const gridDir = await Deno.makeTempDir();
 * for (const [part, j] of [["shard_1_of_2", 1], ["shard_2_of_2", 2]] as const) {
 *   const s = await ResultStore.open(gridDir, { grid_name: "g", task: "addition", part, stamp: {}, train_range: null });
 *   await s.writeCell({ i: 1, j, correct: j, total: 4 });
 * }
 * const merged = await mergeResults(gridDir, { expected: [{ i: 1, j: 1 }, { i: 1, j: 2 }, { i: 1, j: 3 }] });
 * assert.deepEqual([merged.cells.length, merged.missing], [2, [{ i: 1, j: 3 }]]);
 * await Deno.remove(gridDir, { recursive: true });
 * ```
 *
 * @param options Cells the grid should have, to report missing ones.
 */
export async function mergeResults(
  gridDir: string,
  options: { expected?: readonly EvalCell[] } = {},
): Promise<MergeResult> {
  const folders = await jobFolders(gridDir);
  const jobs = folders.filter((f) => f.job !== null) as { dir: string; job: JobInfo }[];
  if (jobs.length === 0) {
    throw new EvalError(`Cannot merge ${gridDir}: no job.json in it or its subfolders`);
  }
  const ref = jobs[0];
  for (const { dir, job } of jobs) {
    const what = jobDiff(ref.job, job, ["in the first", "in the second"]);
    if (what) {
      throw new EvalError(`Cannot merge ${ref.dir} with ${dir}: they hold settings with ${what}`);
    }
  }
  const seen = new Map<string, { cell: CellResult; dir: string }>();
  for (const { dir } of folders) {
    for (const c of await readCells(dir)) {
      const k = `${c.i},${c.j}`, prev = seen.get(k);
      // parseCell gives the fields in one order, so equal results have equal JSON.
      if (!prev) seen.set(k, { cell: c, dir });
      else if (JSON.stringify(prev.cell) !== JSON.stringify(c)) {
        throw new EvalError(
          `Cannot merge cell (${c.i}, ${c.j}): ${c.correct}/${c.total} in ${dir} but ${prev.cell.correct}/${prev.cell.total} in ${prev.dir}`,
        );
      }
    }
  }
  const trainRange = jobs.find((j) => j.job.train_range !== null)?.job.train_range ?? null;
  const job: JobInfo = { ...ref.job, part: null, train_range: trainRange };
  await writeJson(join(gridDir, "job.json"), job);
  const top = new ResultStore(gridDir, job);
  for (const { cell, dir } of seen.values()) {
    if (dir === gridDir) continue;
    const samples = await readJson(join(dir, "samples", cellFile(cell)));
    await top.writeCell(cell, samples?.samples as SampleRecord[] | undefined);
  }
  const cells = [...seen.values()].map((v) => v.cell).sort(byCell);
  const missing = (options.expected ?? []).filter((c) => !seen.has(`${c.i},${c.j}`));
  return {
    cells,
    summary: await top.writeSummary(cells),
    missing,
  };
}
