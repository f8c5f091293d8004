// The on-disk description of a dataset folder (`meta.json`) and of an evaluation grid
// (`grid.json`), as generate.ts writes them, and their reader: positional reads of fixed-length
// token rows, so training and evaluation never load a whole 1.3 GB `.bin` file. Batches come
// sequentially (upstream's fixed reading order) or in a seeded shuffled order. Bump
// `DATASET_FORMAT_VERSION` whenever the folder layout or a field's meaning changes.

import { join } from "node:path";
import { Rng } from "../kernels/rng.ts";
import { DataError, type DataSpec } from "./spec.ts";
import type { TokenizerType } from "./tokenizer.ts";

/**
 * Version of the dataset folder format written by this code.
 *
 * Readers refuse folders of another version rather than misread them.
 *
 * @example
 * ```ts
 * import { DATASET_FORMAT_VERSION } from "./dataset.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DATASET_FORMAT_VERSION, 1);
 * ```
 */
export const DATASET_FORMAT_VERSION = 1;

/** The split names: rows `[0, counts.train)` are train, the last `counts.test` are test. */
export type Split = "train" | "test";

/**
 * Contents of `meta.json`. A dataset folder holds `meta.json`, `train.bin` and `test.bin`
 * (`counts[split] * rowLength` bytes: one uint8 token id per position, rows right-padded with
 * PAD, every sample ending with EOS), and `train.txt` / `test.txt` (one sample per line, UTF-8,
 * spaces kept as spaces).
 */
export interface DatasetMeta {
  /** Always `abacus-dataset`. */
  format: "abacus-dataset";
  /** Format version (`DATASET_FORMAT_VERSION`). */
  version: number;
  /** Folder name (upstream-compatible for presets). */
  name: string;
  /** Vocabulary of the token ids. */
  tokenizer: TokenizerType;
  /** Number of token ids of that vocabulary. */
  vocabSize: number;
  /** Tokens per stored row (longest possible sample + EOS; see `rowLengthRule`). */
  rowLength: number;
  /** How `rowLength` was computed from the generator arguments. */
  rowLengthRule: string;
  /** Longest sample actually written, EOS included (at most `rowLength`). */
  maxSampleTokens: number;
  /** Tokens up to and including `=` when every sample shares it (eval cells), else null. */
  promptLength: number | null;
  /** Element type of the `.bin` files; always `uint8`. */
  dtype: "uint8";
  /** Rows per split. */
  counts: { train: number; test: number };
  /** Fraction of rows in the test split: the last `floor(total * testRatio)` samples. */
  testRatio: number;
  /** The exact generator arguments, seed and stream included. */
  generator: DataSpec;
  /** Seed of the generator (same as `generator.seed`). */
  seed: number;
  /** File names, relative to the folder. */
  files: { train: string; test: string; trainText: string; testText: string };
}

/** One cell of an evaluation grid, as listed in `grid.json`. */
export interface GridCell {
  /** Digits of the first operand (sorting: max digits). */
  i: number;
  /** Digits of the second operand (sorting: list length). */
  j: number;
  /** Folder of the cell's dataset, relative to the grid folder. */
  dir: string;
  /** Samples in the cell (all in the `test` split). */
  rows: number;
  /** Row length of the cell's dataset. */
  rowLength: number;
}

/**
 * Contents of `grid.json`: an evaluation grid is a folder of per-cell dataset folders (each a
 * normal dataset with every sample in `test`), named `{tag}_n_{i}_m_{j}` with tag `+`, `-`, `x`,
 * `sort` or `or`.
 */
export interface GridMeta {
  /** Always `abacus-grid`. */
  format: "abacus-grid";
  /** Format version (`DATASET_FORMAT_VERSION`). */
  version: number;
  /** Folder name of the grid. */
  name: string;
  /** Vocabulary of all cells. */
  tokenizer: TokenizerType;
  /** Generator arguments shared by all cells (n, m, method and stream are per cell). */
  base: DataSpec;
  /** Every cell, in generation order. */
  cells: GridCell[];
}

/**
 * Reads and checks `meta.json` of a dataset folder.
 *
 * @example
 * ```ts
 * import { readMeta } from "./dataset.ts";
 * import { generateDataset } from "./generate.ts";
 * import assert from "node:assert/strict";
 *
 * const out = `${await Deno.makeTempDir()}/ds`;
 * await generateDataset({ spec: { op: "+", n: 2, m: 2, limit: 50 }, out });
 * assert.deepEqual((await readMeta(out)).counts.train, 50);
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function readMeta(dir: string): Promise<DatasetMeta> {
  return await readFormat(dir, "meta.json", "abacus-dataset", "dataset");
}

/**
 * Reads and checks `grid.json` of a grid folder.
 *
 * @example
 * ```ts ignore
 * import { readGridMeta } from "./dataset.ts";
 *
 * const grid = await readGridMeta("abacus-data/data/+_grid_eval_dataset_reverse_all_tokenized");
 * console.log(grid.cells.length);
 * ```
 */
export async function readGridMeta(dir: string): Promise<GridMeta> {
  return await readFormat(dir, "grid.json", "abacus-grid", "grid");
}

/** Reads a folder's description file, refusing another format or version. */
async function readFormat<T extends { format: string; version: number }>(
  dir: string,
  file: string,
  format: T["format"],
  what: string,
): Promise<T> {
  const meta = JSON.parse(await Deno.readTextFile(join(dir, file))) as T;
  if (meta.format !== format || meta.version !== DATASET_FORMAT_VERSION) {
    throw new DataError(
      `Cannot read ${what} ${dir}: unsupported format ${meta.format} v${meta.version}`,
    );
  }
  return meta;
}

/** Options of `Dataset.batches`. */
export interface BatchOptions {
  /** Split to read (default `train`). */
  split?: Split;
  /** Rows per batch. */
  batchSize: number;
  /** Read rows in a seeded random order instead of file order (default false). */
  shuffle?: boolean;
  /** Seed of the shuffled order (default 0); use a new one per epoch. */
  seed?: number;
}

/** One batch of token rows. */
export interface Batch {
  /** Token ids, shape (rows, rowLength), row-major. */
  tokens: Int32Array;
  /** Rows in this batch (batchSize, or fewer for a last partial batch). */
  rows: number;
}

/**
 * Fills `buf` from byte `position` of a file. Synchronous: the reads are row- or chunk-sized and
 * mostly hit the page cache, where a synchronous call costs microseconds.
 */
function readAt(file: Deno.FsFile, buf: Uint8Array, position: number): void {
  file.seekSync(position, Deno.SeekMode.Start);
  for (let done = 0; done < buf.length;) {
    const n = file.readSync(buf.subarray(done));
    if (n === null) {
      throw new DataError(`Cannot read dataset: file ends before byte ${position + buf.length}`);
    }
    done += n;
  }
}

/**
 * An open dataset folder; call `close()` when done.
 *
 * Reads rows by position from `train.bin` / `test.bin`; never loads a whole split.
 *
 * @example
 * ```ts
 * import { Dataset, readMeta } from "./dataset.ts";
 * import { generateDataset } from "./generate.ts";
 * import assert from "node:assert/strict";
 *
 * const out = `${await Deno.makeTempDir()}/ds`;
 * await generateDataset({ spec: { op: "x", n: 2, m: 2, limit: 20 }, out });
 * const ds = new Dataset(out, await readMeta(out));
 * const rows = await ds.readRows("train", 0, 2);
 * assert.equal(rows.length, 2 * ds.meta.rowLength);
 * ds.close();
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export class Dataset {
  /** The folder. */
  readonly dir: string;
  /** Its `meta.json` (from `readMeta`). */
  readonly meta: DatasetMeta;
  #files = new Map<Split, Deno.FsFile>();

  constructor(dir: string, meta: DatasetMeta) {
    this.dir = dir;
    this.meta = meta;
  }

  async #file(split: Split): Promise<Deno.FsFile> {
    let f = this.#files.get(split);
    if (!f) {
      f = await Deno.open(join(this.dir, this.meta.files[split]), { read: true });
      this.#files.set(split, f);
    }
    return f;
  }

  /**
   * Reads `count` consecutive rows starting at row `start` of a split.
   *
   * @param count Rows to read (clipped to the split's end).
   * @returns Token ids, shape (rows, rowLength).
   */
  async readRows(split: Split, start: number, count: number): Promise<Uint8Array> {
    const total = this.meta.counts[split];
    if (!Number.isSafeInteger(start) || start < 0 || start > total) {
      throw new DataError(`Cannot read rows of ${this.dir}: start ${start} is outside 0..${total}`);
    }
    const rows = Math.max(0, Math.min(count, total - start));
    const T = this.meta.rowLength;
    const buf = new Uint8Array(rows * T);
    if (rows > 0) readAt(await this.#file(split), buf, start * T);
    return buf;
  }

  /**
   * Yields batches of one split, sequentially or in a seeded shuffled order.
   *
   * One call covers one pass (epoch) over the split. Sequential reads fetch many batches at once;
   * shuffled reads fetch each row at its position.
   */
  async *batches(options: BatchOptions): AsyncGenerator<Batch> {
    const split = options.split ?? "train", B = options.batchSize;
    if (!Number.isSafeInteger(B) || B < 1) {
      throw new DataError(`Cannot read batches: batch size must be a positive integer, got ${B}`);
    }
    const total = this.meta.counts[split], T = this.meta.rowLength;
    const file = await this.#file(split);
    const order = options.shuffle
      ? new Rng(options.seed ?? 0, 0xba7c4).shuffle(
        Uint32Array.from({ length: total }, (_, k) => k),
      )
      : null;
    const chunkRows = Math.max(B, B * Math.floor((4 << 20) / (B * T)));
    let chunk = new Uint8Array(0), chunkStart = 0;
    const row = new Uint8Array(T);
    for (let pos = 0; pos < total;) {
      const rows = Math.min(B, total - pos);
      const tokens = new Int32Array(rows * T);
      if (order) {
        for (let r = 0; r < rows; r++) {
          readAt(file, row, order[pos + r] * T);
          tokens.set(row, r * T);
        }
      } else {
        if (pos + rows > chunkStart + chunk.length / T) {
          chunkStart = pos;
          chunk = new Uint8Array(Math.min(chunkRows, total - pos) * T);
          readAt(file, chunk, pos * T);
        }
        tokens.set(chunk.subarray((pos - chunkStart) * T, (pos - chunkStart + rows) * T));
      }
      pos += rows;
      yield { tokens, rows };
    }
  }

  /** Closes the open files. */
  close(): void {
    for (const f of this.#files.values()) f.close();
    this.#files.clear();
  }
}

/**
 * Opens a dataset folder (training set or evaluation cell) for reading.
 *
 * @example
 * ```ts
 * import { openDataset } from "./dataset.ts";
 * import { generateDataset } from "./generate.ts";
 * import assert from "node:assert/strict";
 *
 * const out = `${await Deno.makeTempDir()}/ds`;
 * await generateDataset({ spec: { op: "+", n: 2, m: 2, limit: 10 }, out, testRatio: 0.2 });
 * const ds = await openDataset(out);
 * const sizes = [];
 * for await (const b of ds.batches({ batchSize: 3 })) sizes.push(b.rows);
 * assert.deepEqual(sizes, [3, 3, 2]);
 * assert.deepEqual((await ds.readRows("test", 0, 9)).length, 2 * ds.meta.rowLength);
 * ds.close();
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function openDataset(dir: string): Promise<Dataset> {
  return new Dataset(dir, await readMeta(dir));
}
