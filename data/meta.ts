// The on-disk description of a dataset folder (`meta.json`) and of an evaluation grid
// (`grid.json`), shared by the writer, the reader and the train/eval tasks. Bump
// `DATASET_FORMAT_VERSION` whenever the folder layout or a field's meaning changes.

import type { TokenizerType } from "./tokenizer.ts";
import type { DataSpec } from "./spec.ts";

/**
 * Version of the dataset folder format written by this code.
 *
 * Readers refuse folders of another version rather than misread them.
 *
 * @example
 * ```ts
 * import { DATASET_FORMAT_VERSION } from "./meta.ts";
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
