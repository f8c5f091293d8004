// Programmatic entry points that turn generator arguments or a preset into dataset folders:
// `generateDataset` (a training set, or any single dataset), `generateGrid` (evaluation grids)
// and `ensureDataset` (what the train task calls: reuse the folder if it holds the same data).
// The CLI in tasks/data.ts and the bench are thin wrappers around these.
//
// A sample source streams to a dataset folder: token rows to `.bin`, text lines to `.txt`, in
// large chunks with double buffering so that generation overlaps the (off-thread) file writes.
// Memory stays constant in the number of samples. Output appears atomically: everything goes
// into a hidden temporary sibling folder that is renamed into place only on success.
//
// An evaluation grid (`GridMeta`) holds, for every cell (i, j), samples with exactly i and j
// digits (sorting: max digits i, list length j) drawn from the cell's own random stream, so a
// cell's data does not depend on which other cells are generated.

import { basename, dirname, join, resolve } from "node:path";
import { createSource, type SampleSource } from "./generators.ts";
import { datasetDir, datasetName, GRID_PRESETS, TRAIN_PRESETS } from "./presets.ts";
import {
  DataError,
  type DataSpec,
  maxSampleChars,
  resolveSpec,
  rowLength,
  sampleCount,
  spaceBudget,
  tokenizerFor,
} from "./spec.ts";
import { DIGIT_FIRST, EOS, getTokenizer, PAD, SPACE, type TokenizerType } from "./tokenizer.ts";
import {
  DATASET_FORMAT_VERSION,
  type DatasetMeta,
  type GridCell,
  type GridMeta,
  readMeta,
} from "./dataset.ts";

const pending = new Set<string>();

/**
 * Removes temporary folders of writes still in progress (for a SIGINT handler).
 *
 * @example
 * ```ts
 * import { removePendingOutputs } from "./generate.ts";
 *
 * removePendingOutputs(); // nothing in progress: does nothing
 * ```
 */
export function removePendingOutputs(): void {
  for (const dir of pending) {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch { /* already gone */ }
  }
  pending.clear();
}

async function isNonEmptyDir(path: string): Promise<boolean> {
  for await (const _ of Deno.readDir(path)) return true;
  return false;
}

/**
 * Runs `fill(tmp)` on a fresh temporary sibling of `out`, then renames it to `out`, which must
 * not exist, or be an empty folder, or (with `force`) a folder that is replaced. On any error the
 * temporary folder is removed and the error rethrown (write failures as a one-line `DataError`).
 */
async function withTempOutput<T>(
  out: string,
  fill: (tmp: string) => Promise<T>,
  force = false,
): Promise<T> {
  const fail = (why: unknown): DataError => {
    const text = why instanceof Error ? why.message : String(why);
    return new DataError(`Cannot write dataset to ${out}: ${text.split("\n")[0]}`);
  };
  const target = resolve(out);
  const info = await Deno.stat(target).catch((err) => {
    if (err instanceof Deno.errors.NotFound) return null;
    throw fail(err);
  });
  if (info && !info.isDirectory) throw fail("a file with that name exists");
  if (info && !force && await isNonEmptyDir(target)) {
    throw fail("folder exists and is not empty (use --force)");
  }
  const parent = dirname(target);
  const tag = `${Deno.pid}-${Math.floor(Math.random() * 1e9).toString(36)}`;
  const tmp = join(parent, `.${basename(target)}.${tag}.tmp`);
  pending.add(tmp);
  try {
    await Deno.mkdir(tmp, { recursive: true });
    const result = await fill(tmp);
    if (info) {
      const old = join(parent, `.${basename(target)}.${tag}.old.tmp`);
      await Deno.rename(target, old);
      await Deno.rename(tmp, target);
      await Deno.remove(old, { recursive: true });
    } else await Deno.rename(tmp, target);
    return result;
  } catch (err) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    const osError = Object.values(Deno.errors).some((C) => err instanceof C);
    throw osError ? fail(err) : err;
  } finally {
    pending.delete(tmp);
  }
}

/**
 * The UTF-8 bytes of each token id's character, for writing text fast: specials give no bytes
 * except PAD and the space id 18, which give a space.
 */
function utf8Table(type: TokenizerType): Uint8Array[] {
  const enc = new TextEncoder();
  return getTokenizer(type).tokens.map((t, id) =>
    enc.encode(id === PAD || id === SPACE ? " " : id < DIGIT_FIRST ? "" : t)
  );
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += await file.write(bytes.subarray(done));
}

/**
 * Streams every sample of `source` into `dir` as `train.bin`, `test.bin`, `train.txt` and
 * `test.txt` (the last `testCount` samples are the test split), `T` tokens per row.
 */
async function writeSamples(
  source: SampleSource,
  dir: string,
  T: number,
  testCount: number,
  tokenizer: TokenizerType,
  onProgress?: (done: number, total: number) => void,
): Promise<{ counts: { train: number; test: number }; maxSampleTokens: number }> {
  const total = source.total;
  const trainCount = total - testCount;
  const table = utf8Table(tokenizer);
  const single = Int16Array.from(table, (b) => (b.length === 1 ? b[0] : -1));
  const maxBytes = Math.max(...table.map((b) => b.length));
  const R = Math.max(1, Math.min(total, Math.ceil((1 << 20) / T))); // about 1 MiB of tokens
  const bufs = [0, 1].map(() => ({
    bin: new Uint8Array(R * T),
    txt: new Uint8Array(R * (T * maxBytes + 1)),
  }));
  const files = {
    train: [await Deno.create(join(dir, "train.bin")), await Deno.create(join(dir, "train.txt"))],
    test: [await Deno.create(join(dir, "test.bin")), await Deno.create(join(dir, "test.txt"))],
  };
  let chain: Promise<void> = Promise.resolve();
  const inFlight: Promise<void>[] = [chain, chain];
  let done = 0, cur = 0, maxLen = 0;
  try {
    while (done < total) {
      await inFlight[cur];
      const { bin, txt } = bufs[cur];
      const split = done < trainCount ? "train" : "test";
      const rows = Math.min(R, (split === "train" ? trainCount : total) - done);
      bin.fill(PAD, 0, rows * T);
      let tp = 0;
      for (let r = 0; r < rows; r++) {
        const off = r * T;
        const len = source.next(bin, off);
        if (len >= T) throw new Error(`Sample of ${len} tokens exceeds row length ${T}`);
        if (len + 1 > maxLen) maxLen = len + 1;
        for (let k = off; k < off + len; k++) {
          const t = bin[k], b = single[t];
          if (b >= 0) txt[tp++] = b;
          else {
            const bytes = table[t];
            for (let q = 0; q < bytes.length; q++) txt[tp++] = bytes[q];
          }
          if (t === SPACE) bin[k] = PAD;
        }
        txt[tp++] = 10;
        bin[off + len] = EOS;
      }
      const [binFile, txtFile] = files[split];
      const binPart = bin.subarray(0, rows * T), txtPart = txt.subarray(0, tp);
      chain = chain.then(() => writeAll(binFile, binPart)).then(() => writeAll(txtFile, txtPart));
      inFlight[cur] = chain;
      cur ^= 1;
      done += rows;
      onProgress?.(done, total);
    }
    await chain;
  } finally {
    await chain.catch(() => {});
    for (const f of [...files.train, ...files.test]) f.close();
  }
  return { counts: { train: trainCount, test: testCount }, maxSampleTokens: maxLen };
}

/** Options of `generateDataset` and `ensureDataset`. */
export interface GenerateDatasetOptions {
  /** A training preset (a name of `TRAIN_PRESETS`, e.g. `addition` or `tiny-sorting`). */
  preset?: string;
  /** Generator arguments; override the preset's. */
  spec?: Partial<DataSpec>;
  /** Folder name (default: the preset's name, else `datasetName(spec)`). */
  name?: string;
  /** Output folder (default: `datasetDir(baseDir, name)`). */
  out?: string;
  /** Base folder (default: `$cramming_base_dir`, else `./abacus-data`). */
  baseDir?: string;
  /** Test fraction (default 0.01). */
  testRatio?: number;
  /** Replace an existing non-empty output folder. */
  force?: boolean;
  /** Progress callback, called after each chunk. */
  onProgress?: (done: number, total: number) => void;
}

/** A resolved request: the complete generator arguments, folder name, output folder, test fraction. */
export interface DatasetPlan {
  spec: DataSpec;
  name: string;
  out: string;
  testRatio: number;
}

/** The default base folder: `$cramming_base_dir` if set (and readable), else `./abacus-data`. */
function defaultBaseDir(): string {
  let env: string | undefined;
  try {
    env = Deno.env.get("cramming_base_dir");
  } catch { /* no env permission */ }
  return resolve(env || "abacus-data");
}

/** The preset of that name in `table` (undefined when no name is given). */
function findPreset<T>(table: Readonly<Record<string, T>>, name: string | undefined, what: string) {
  if (name === undefined) return undefined;
  const known = Object.keys(table).join(", ");
  if (!table[name]) {
    throw new DataError(`Cannot generate ${what}: unknown preset ${name} (expected ${known})`);
  }
  return table[name];
}

/**
 * Resolves options (preset, overrides, defaults) into a plan, validating everything.
 *
 * @example
 * ```ts
 * import { planDataset } from "./generate.ts";
 * import assert from "node:assert/strict";
 *
 * const plan = planDataset({ preset: "addition", baseDir: "/runs" });
 * assert.deepEqual(plan.out, "/runs/data/+_bucket_method_n_20_m_20_20000000_p_00_reverse_all");
 * ```
 */
export function planDataset(options: GenerateDatasetOptions): DatasetPlan {
  const preset = findPreset(TRAIN_PRESETS, options.preset, "data");
  const spec = resolveSpec({ ...preset?.spec, ...options.spec });
  const overridden = Object.values(options.spec ?? {}).some((v) => v !== undefined);
  const name = options.name ?? (overridden || !preset?.name ? datasetName(spec) : preset.name);
  const testRatio = options.testRatio ?? 0.01;
  if (!(testRatio >= 0 && testRatio <= 1)) {
    throw new DataError(`Cannot generate data: test ratio must be in [0, 1], got ${testRatio}`);
  }
  const out = options.out ?? datasetDir(options.baseDir ?? defaultBaseDir(), name);
  return { spec, name, out, testRatio };
}

function rowLengthRule(spec: DataSpec): string {
  const chars = maxSampleChars(spec), spaces = spaceBudget(spec.p, chars);
  const hint = spec.indexHints ? " x2 for index hints" : "";
  const formula = spec.op === "sort"
    ? `m*(n+5)-1${hint}`
    : spec.op === "or"
    ? "n+1+m+1+max(n,m)"
    : `n+1+m+1+${spec.op === "x" ? "(n+m)" : "(max(n,m)+1)"}${hint}`;
  const pad = spec.scratchpad ? "+m*(n+1)+m*(m-1)/2+m (scratchpad)" : "";
  return `${chars} (longest possible sample: ${formula}${pad}) + ${spaces} (space budget) + 1 (EOS)`;
}

function promptLength(spec: DataSpec): number | null {
  if (spec.p > 0 || spec.op === "sort") return null;
  if (spec.op === "or") return spec.exact ? spec.n + spec.m + 2 : null;
  if (spec.method !== "sample" || !spec.exact) return null;
  return (spec.n + spec.m) * (spec.indexHints ? 2 : 1) + 2;
}

/** Generates one dataset into an existing folder and writes its meta.json. */
async function fillDataset(
  dir: string,
  plan: Omit<DatasetPlan, "out">,
  onProgress?: (done: number, total: number) => void,
): Promise<DatasetMeta> {
  const { spec, name, testRatio } = plan;
  const source = createSource(spec);
  const tokenizer = tokenizerFor(spec);
  const T = rowLength(spec);
  const testCount = Math.floor(source.total * testRatio);
  const written = await writeSamples(source, dir, T, testCount, tokenizer, onProgress);
  const meta: DatasetMeta = {
    format: "abacus-dataset",
    version: DATASET_FORMAT_VERSION,
    name,
    tokenizer,
    vocabSize: getTokenizer(tokenizer).vocabSize,
    rowLength: T,
    rowLengthRule: rowLengthRule(spec),
    maxSampleTokens: written.maxSampleTokens,
    promptLength: promptLength(spec),
    dtype: "uint8",
    counts: written.counts,
    testRatio,
    generator: spec,
    seed: spec.seed,
    files: { train: "train.bin", test: "test.bin", trainText: "train.txt", testText: "test.txt" },
  };
  await Deno.writeTextFile(join(dir, "meta.json"), JSON.stringify(meta, null, 2) + "\n");
  return meta;
}

/**
 * Generates a dataset folder (streamed, atomic) and returns its metadata.
 *
 * @example
 * ```ts
 * import { generateDataset } from "./generate.ts";
 * import assert from "node:assert/strict";
 *
 * const root = await Deno.makeTempDir();
 * const meta = await generateDataset({ preset: "tiny-addition", spec: { limit: 500 }, baseDir: root });
 * assert.deepEqual(meta.counts, { train: 495, test: 5 });
 * assert.deepEqual(meta.rowLength, 3 + 1 + 3 + 1 + 4 + 1);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function generateDataset(options: GenerateDatasetOptions): Promise<DatasetMeta> {
  const plan = planDataset(options);
  return await withTempOutput(
    plan.out,
    (tmp) => fillDataset(tmp, plan, options.onProgress),
    options.force,
  );
}

/**
 * Returns the dataset at the planned folder if it holds exactly the requested data, else
 * generates it (the train task calls this when a preset's dataset may be missing).
 *
 * A folder with the same name but other arguments is an error unless `force` is set.
 *
 * @example
 * ```ts
 * import { ensureDataset } from "./generate.ts";
 * import assert from "node:assert/strict";
 *
 * const root = await Deno.makeTempDir();
 * const a = await ensureDataset({ preset: "tiny-addition", spec: { limit: 300 }, baseDir: root });
 * const b = await ensureDataset({ preset: "tiny-addition", spec: { limit: 300 }, baseDir: root });
 * assert.deepEqual(a, b);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function ensureDataset(options: GenerateDatasetOptions): Promise<DatasetMeta> {
  const plan = planDataset(options);
  const existing = await readMeta(plan.out).catch(() => undefined); // missing: generate
  if (existing) {
    const same = JSON.stringify(existing.generator) === JSON.stringify(plan.spec) &&
      existing.testRatio === plan.testRatio;
    if (same) return existing;
    if (!options.force) {
      throw new DataError(
        `Cannot use dataset ${plan.out}: it holds other generator arguments (use force)`,
      );
    }
  }
  return await generateDataset({ ...options, out: plan.out, name: plan.name, force: true });
}

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
 * import { cellSpec } from "./generate.ts";
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

/** Default folder name of a grid that is not a preset (`spec`: what its cells share). */
function gridName(spec: DataSpec, sides: string): string {
  // Reuse the dataset-name suffixes (p, reversal, hints, seed) of a sample-method spec.
  const suffix = datasetName({ ...spec, n: 1, m: 1 }).replace(/^.*?_p_/, "p_");
  const count = spec.op === "or"
    ? (spec.max >= 0 ? `max_${spec.max}` : "all")
    : `examples_${spec.numSamples}`;
  return `${spec.op}_grid_eval_${sides}_${count}_${suffix}`;
}

/** The cells of a grid, i outer and j inner. */
function gridCells(range: GridRange): [number, number][] {
  const { minSide, maxSide, diagonal } = range;
  if (![minSide, maxSide].every(Number.isSafeInteger) || minSide < 1 || maxSide < minSide) {
    throw new DataError(
      `Cannot generate grid: sides must satisfy 1 <= min <= max, got ${minSide}..${maxSide}`,
    );
  }
  const cells: [number, number][] = [];
  for (let i = minSide; i <= maxSide; i++) {
    if (diagonal) cells.push([i, i]);
    else for (let j = minSide; j <= maxSide; j++) cells.push([i, j]);
  }
  return cells;
}

/** Options of `generateGrid`. */
export interface GenerateGridOptions
  extends Partial<GridRange>, Pick<GenerateDatasetOptions, "out" | "baseDir" | "force"> {
  /** A grid preset (`addition-grid`, `multiplication-grid`, `sorting-grid`, `or-grid`). */
  preset?: string;
  /** Arguments shared by the cells; override the preset's. */
  base?: Partial<DataSpec>;
  /** Folder name (default: the preset's, else `gridName`). */
  name?: string;
  /** Progress callback over all cells' samples. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Generates an evaluation grid, a folder with `grid.json` and one dataset folder per cell, and
 * returns its `grid.json` contents.
 *
 * @example
 * ```ts
 * import { generateGrid } from "./generate.ts";
 * import assert from "node:assert/strict";
 *
 * const root = await Deno.makeTempDir();
 * const grid = await generateGrid({ preset: "addition-grid", maxSide: 2, out: `${root}/g` });
 * assert.deepEqual(grid.cells.map((c) => c.dir), ["+_n_1_m_1", "+_n_1_m_2", "+_n_2_m_1", "+_n_2_m_2"]);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function generateGrid(options: GenerateGridOptions): Promise<GridMeta> {
  const preset = findPreset(GRID_PRESETS, options.preset, "grid");
  const base = { ...preset?.base, ...options.base };
  const range: GridRange = {
    minSide: options.minSide ?? 1,
    maxSide: options.maxSide ?? preset?.maxSide ?? 20,
    diagonal: options.diagonal ?? false,
  };
  const cells = gridCells(range);
  const specs = cells.map(([i, j]) => cellSpec(base, i, j)); // validates every cell first
  const shared = resolveSpec({ ...base, method: "sample", exact: true });
  const sides = `sides_${range.minSide}_${range.maxSide}${range.diagonal ? "_diagonal" : ""}`;
  let name = options.name ?? preset?.name ?? gridName(shared, sides);
  if (!options.name && preset) {
    const sameRange = range.minSide === 1 && range.maxSide === preset.maxSide && !range.diagonal;
    if (!sameRange) name += `_${sides}`;
    if (shared.seed !== 42) name += `_seed_${shared.seed}`;
  }
  const out = options.out ?? datasetDir(options.baseDir ?? defaultBaseDir(), name);
  const total = specs.reduce((sum, s) => sum + sampleCount(s), 0);
  const fill = async (tmp: string): Promise<GridMeta> => {
    const listed: GridCell[] = [];
    let before = 0;
    for (let c = 0; c < cells.length; c++) {
      const [i, j] = cells[c];
      const dir = `${shared.op}_n_${i}_m_${j}`;
      await Deno.mkdir(join(tmp, dir));
      const meta = await fillDataset(join(tmp, dir), { spec: specs[c], name: dir, testRatio: 1 });
      const rows = meta.counts.test;
      listed.push({ i, j, dir, rows, rowLength: meta.rowLength });
      before += rows;
      options.onProgress?.(before, total);
    }
    const grid: GridMeta = {
      format: "abacus-grid",
      version: DATASET_FORMAT_VERSION,
      name,
      tokenizer: tokenizerFor(shared),
      base: shared,
      cells: listed,
    };
    await Deno.writeTextFile(join(tmp, "grid.json"), JSON.stringify(grid, null, 2) + "\n");
    return grid;
  };
  return await withTempOutput(out, fill, options.force);
}
