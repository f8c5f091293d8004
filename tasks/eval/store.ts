// One evaluation job's view of the results store: it claims its folder (grid folder or a part
// subfolder) with a `job.json` stamp, reports which cells are already finished anywhere in the
// grid under the same stamp, and writes each finished cell (samples first, then the result, both
// atomically) so an interrupted job loses at most the cell it was decoding.

import { join } from "node:path";
import type { TrainRange } from "../plot/types.ts";
import { EvalError, type EvalTask } from "./grids.ts";
import {
  cellFileName,
  jobFolders,
  type JobInfo,
  readCells,
  readJob,
  type SampleRecord,
  type Stamp,
  stampKey,
  writeJsonAtomic,
} from "./results.ts";
import type { CellResult } from "./scoring.ts";

/** Options of `ResultStore.open`. */
export interface StoreOptions {
  /** The grid folder (`resultsDir(baseDir, name, grid)`). */
  gridDir: string;
  /** The grid's folder name. */
  grid: string;
  task: EvalTask;
  /** Subfolder of this job (a part or shard label), or null to write into the grid folder. */
  part: string | null;
  /** Settings that must match to reuse results (default none). */
  stamp?: Stamp;
  /** Training lengths, written into every cell file (default null). */
  trainRange?: TrainRange | null;
}

/** Names the first differing key of two stamps. */
function stampDiff(a: Stamp, b: Stamp): string {
  for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) {
      return `${k} ${JSON.stringify(a[k] ?? null)} there, ${JSON.stringify(b[k] ?? null)} now`;
    }
  }
  return "same settings";
}

/**
 * A job's results folder: finished cells, and atomic per-cell writes.
 *
 * @example
 * ```ts
 * import { ResultStore } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * const gridDir = await Deno.makeTempDir();
 * const opts = { gridDir, grid: "addition_1-2x1-2", task: "addition" as const, part: null, stamp: { max_rec: 4 } };
 * const store = await ResultStore.open(opts);
 * await store.writeCell({ i: 1, j: 2, correct: 9, total: 10 });
 * assert.deepEqual([...(await store.finished()).keys()], ["1,2"]);
 * await assert.rejects(ResultStore.open({ ...opts, stamp: { max_rec: 8 } }), /Cannot resume .*: it holds results with max_rec 4 there, 8 now/);
 * await Deno.remove(gridDir, { recursive: true });
 * ```
 */
export class ResultStore {
  /** The grid folder. */
  readonly gridDir: string;
  /** This job's folder (the grid folder or its part subfolder). */
  readonly dir: string;
  /** This job's `job.json`. */
  readonly job: JobInfo;

  /** Use `ResultStore.open`. */
  constructor(gridDir: string, dir: string, job: JobInfo) {
    this.gridDir = gridDir;
    this.dir = dir;
    this.job = job;
  }

  /** Creates or reopens a job folder; a folder stamped with other settings is an error. */
  static async open(options: StoreOptions): Promise<ResultStore> {
    const dir = options.part === null ? options.gridDir : join(options.gridDir, options.part);
    const job: JobInfo = {
      format: "abacus-eval-job",
      version: 1,
      grid_name: options.grid,
      task: options.task,
      part: options.part,
      stamp: options.stamp ?? {},
      train_range: options.trainRange ?? null,
    };
    const old = await readJob(dir);
    if (old) {
      if (old.task !== job.task || old.grid_name !== job.grid_name) {
        throw new EvalError(
          `Cannot resume ${dir}: it holds ${old.task} results of grid ${old.grid_name}, not ${job.grid_name}`,
        );
      }
      if (stampKey(old.stamp) !== stampKey(job.stamp)) {
        throw new EvalError(
          `Cannot resume ${dir}: it holds results with ${
            stampDiff(old.stamp, job.stamp)
          } (use another folder)`,
        );
      }
      return new ResultStore(options.gridDir, dir, old);
    }
    try {
      await Deno.mkdir(dir, { recursive: true });
    } catch (err) {
      throw new EvalError(`Cannot create ${dir}: ${(err as Error).message.split("\n")[0]}`);
    }
    await writeJsonAtomic(join(dir, "job.json"), job);
    return new ResultStore(options.gridDir, dir, job);
  }

  /**
   * Finished cells of the same setup anywhere in the grid (its folder and every part folder
   * whose stamp matches), keyed `"i,j"`.
   */
  async finished(): Promise<Map<string, CellResult>> {
    const key = stampKey(this.job.stamp), out = new Map<string, CellResult>();
    for (const { dir, job } of await jobFolders(this.gridDir)) {
      if (!job || job.grid_name !== this.job.grid_name || stampKey(job.stamp) !== key) continue;
      for (const c of await readCells(dir)) {
        const k = `${c.i},${c.j}`;
        if (!out.has(k)) out.set(k, c);
      }
    }
    return out;
  }

  /**
   * Writes one finished cell: its samples (if given) to `samples/cell_<i>_<j>.json`, then its
   * result to `cell_<i>_<j>.json`, each atomically.
   *
   * @param samples Decoded samples to keep (optional).
   */
  async writeCell(result: CellResult, samples?: readonly SampleRecord[]): Promise<void> {
    const name = cellFileName(result.i, result.j);
    const head = { ...result, grid: this.job.task, train_range: this.job.train_range ?? undefined };
    if (samples) {
      await Deno.mkdir(join(this.dir, "samples"), { recursive: true });
      await writeJsonAtomic(join(this.dir, "samples", name), { ...head, samples });
    }
    await writeJsonAtomic(join(this.dir, name), head);
  }
}
