// Streams a sample source to a dataset folder: token rows to `.bin`, text lines to `.txt`, in
// large chunks with double buffering so that generation overlaps the (off-thread) file writes.
// Memory stays constant in the number of samples. Output appears atomically: everything goes
// into a hidden temporary sibling folder that is renamed into place only on success.

import { basename, dirname, join, resolve } from "node:path";
import type { SampleSource } from "./generators/source.ts";
import { DIGIT_FIRST, EOS, getTokenizer, PAD, SPACE, type TokenizerType } from "./tokenizer.ts";
import { DataError } from "./spec.ts";

const pending = new Set<string>();

/**
 * Removes temporary folders of writes still in progress (for a SIGINT handler).
 *
 * @example
 * ```ts
 * import { removePendingOutputs } from "./writer.ts";
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

function isOsError(err: unknown): boolean {
  return Object.values(Deno.errors).some((C) => err instanceof C);
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0];
}

/**
 * Runs `fill(tmp)` on a fresh temporary sibling of `out`, then renames it to `out`.
 *
 * `out` must not exist, or be an empty folder, or (with `force`) a folder that is replaced. On
 * any error the temporary folder is removed and the error rethrown (write failures as a
 * one-line `DataError`).
 *
 * @example
 * ```ts
 * import { withTempOutput } from "./writer.ts";
 * import assert from "node:assert/strict";
 *
 * const root = await Deno.makeTempDir();
 * await withTempOutput(`${root}/ds`, (tmp) => Deno.writeTextFile(`${tmp}/a.txt`, "x"));
 * assert.deepEqual(await Deno.readTextFile(`${root}/ds/a.txt`), "x");
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @param fill Writes the contents into the temporary folder.
 * @param options `force`: replace an existing non-empty folder.
 * @returns What `fill` returns.
 */
export async function withTempOutput<T>(
  out: string,
  fill: (tmp: string) => Promise<T>,
  options: { force?: boolean } = {},
): Promise<T> {
  const fail = (why: unknown): DataError =>
    new DataError(`Cannot write dataset to ${out}: ${oneLine(why)}`);
  const target = resolve(out);
  const info = await Deno.stat(target).catch((err) => {
    if (err instanceof Deno.errors.NotFound) return null;
    throw fail(err);
  });
  if (info && !info.isDirectory) throw fail("a file with that name exists");
  if (info && !options.force && await isNonEmptyDir(target)) {
    throw fail("folder exists and is not empty (use --force)");
  }
  const parent = dirname(target);
  const tag = `${Deno.pid}-${Math.floor(Math.random() * 1e9).toString(36)}`;
  const tmp = join(parent, `.${basename(target)}.${tag}.tmp`);
  await Deno.mkdir(tmp, { recursive: true }).catch((err) => {
    throw fail(err);
  });
  pending.add(tmp);
  try {
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
    throw isOsError(err) ? fail(err) : err;
  } finally {
    pending.delete(tmp);
  }
}

/** What `writeSamples` reports. */
export interface WriteResult {
  /** Rows written per split. */
  counts: { train: number; test: number };
  /** Longest sample written, EOS included. */
  maxSampleTokens: number;
}

/** Options of `writeSamples`. */
export interface WriteOptions {
  /** Tokens per row (at least `source.maxTokens + 1`). */
  rowLength: number;
  /** The last `testCount` samples go to the test split. */
  testCount: number;
  /** Vocabulary, for the text files. */
  tokenizer: TokenizerType;
  /** Called after each chunk with samples done and total. */
  onProgress?: (done: number, total: number) => void;
  /** Rows per chunk (default: about 1 MiB of tokens). */
  chunkRows?: number;
}

/**
 * The UTF-8 bytes of each token id's character, for writing text fast: specials give no bytes
 * except PAD and the space id 18, which give a space.
 */
function utf8Table(type: TokenizerType): Uint8Array[] {
  const tok = getTokenizer(type);
  const enc = new TextEncoder();
  return tok.tokens.map((t, id) => {
    if (id === PAD || id === SPACE) return enc.encode(" ");
    if (id < DIGIT_FIRST) return new Uint8Array(0);
    return enc.encode(t);
  });
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += await file.write(bytes.subarray(done));
}

/**
 * Streams every sample of `source` into `dir` as `train.bin`, `test.bin`, `train.txt`, `test.txt`.
 *
 * @example
 * ```ts
 * import { writeSamples } from "./writer.ts";
 * import { createSource } from "./generators/mod.ts";
 * import { resolveSpec } from "./spec.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const source = createSource(resolveSpec({ op: "+", n: 2, m: 2, limit: 10 }));
 * const r = await writeSamples(source, dir, { rowLength: 10, testCount: 1, tokenizer: "pad" });
 * assert.deepEqual(r.counts, { train: 9, test: 1 });
 * assert.deepEqual((await Deno.stat(`${dir}/train.bin`)).size, 90);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @param source Samples to write (consumed).
 */
export async function writeSamples(
  source: SampleSource,
  dir: string,
  options: WriteOptions,
): Promise<WriteResult> {
  const T = options.rowLength, total = source.total;
  if (source.maxTokens + 1 > T) throw new Error(`Row length ${T} is too short for the source`);
  const testCount = Math.min(options.testCount, total);
  const trainCount = total - testCount;
  const table = utf8Table(options.tokenizer);
  const single = Int16Array.from(table, (b) => (b.length === 1 ? b[0] : -1));
  const maxBytes = Math.max(...table.map((b) => b.length));
  const R = Math.max(1, Math.min(total, options.chunkRows ?? Math.ceil((1 << 20) / T)));
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
      options.onProgress?.(done, total);
    }
    await chain;
  } finally {
    await chain.catch(() => {});
    for (const f of [...files.train, ...files.test]) f.close();
  }
  return { counts: { train: trainCount, test: testCount }, maxSampleTokens: maxLen };
}
