// Checkpoint folders that survive a kill at any moment: every file is written to a temporary
// name, fsynced and renamed; a whole folder is built as `<dir>.tmp-<pid>` and swapped in with
// two renames (old -> `<dir>.old`, new -> `<dir>`), so some whole checkpoint always exists.
// Readers parse `state.json` with one-line errors and list a run's checkpoints newest first by
// their stored timestamp (never the file times, which copies and archives change); they never
// modify the folder: the next save repairs an interrupted one. Layout: docs/checkpoint.md.

import { basename, dirname, join, resolve } from "node:path";

/** A missing, unreadable or inconsistent checkpoint; the message is one line. */
export class CheckpointError extends Error {
  /** @param message Sentence-case message without a trailing period. */
  constructor(message: string) {
    super(message);
    this.name = "CheckpointError";
  }
}

/** What a file receives: text (UTF-8), bytes, or chunks of bytes written one after another. */
export type FileContents = string | Uint8Array | Iterable<Uint8Array>;

function exists(path: string): Promise<boolean> {
  return Deno.lstat(path).then(() => true, (e) => {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  });
}

async function syncDir(dir: string): Promise<void> {
  // Some platforms cannot fsync a directory; the renames are still atomic there.
  const handle = await Deno.open(dir, { read: true }).catch(() => null);
  await handle?.sync().catch(() => {});
  handle?.close();
}

/**
 * Writes a file atomically: a temporary name in the same folder, fsync, then rename.
 *
 * A reader sees either the previous file or the complete new one, never a partial file, even
 * if the process is killed mid-write (the temporary file is left behind and overwritten later).
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./checkpoint.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/a.json`, '{"ok":true}');
 * deepEqual(await Deno.readTextFile(`${dir}/a.json`), '{"ok":true}');
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @param path Destination file (its folder must exist).
 * @param contents Text, bytes, or chunks of bytes (streamed, never joined in memory).
 */
export async function writeFileAtomic(path: string, contents: FileContents): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${Deno.pid}`);
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    const c = typeof contents === "string" ? new TextEncoder().encode(contents) : contents;
    for (const bytes of c instanceof Uint8Array ? [c] : c) {
      for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
    }
    await file.syncData();
  } catch (e) {
    file.close();
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  file.close();
  await Deno.rename(tmp, path);
  await syncDir(dirname(path));
}

/** A checkpoint file: bytes, text, or a function that writes the file at the given path. */
export type CheckpointFile = Uint8Array | string | ((path: string) => Promise<void>);

/** Test hook: stop `saveCheckpointDir` as if killed right after this step. */
export type CrashPoint = "written" | "moved-old" | "moved-new";

/**
 * Repairs a checkpoint folder after an interrupted save; only the run's writer calls it.
 *
 * `<dir>` present: a leftover `<dir>.old` is deleted (the new folder is whole). `<dir>` missing
 * but `<dir>.old` present: the old one is renamed back. Leftover `<dir>.tmp-*` folders are
 * deleted either way.
 *
 * @example
 * ```ts
 * import { recoverCheckpointDir } from "./checkpoint.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const root = await Deno.makeTempDir();
 * await Deno.mkdir(`${root}/last.old`);
 * deepEqual(await recoverCheckpointDir(`${root}/last`), "restored");
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @returns `intact`, `restored` (from `.old`) or `missing`.
 */
export async function recoverCheckpointDir(
  dir: string,
): Promise<"intact" | "restored" | "missing"> {
  dir = resolve(dir);
  const parent = dirname(dir), prefix = `${basename(dir)}.tmp-`;
  if (!(await exists(parent))) return "missing";
  for await (const e of Deno.readDir(parent)) {
    if (e.name.startsWith(prefix)) await Deno.remove(join(parent, e.name), { recursive: true });
  }
  const old = `${dir}.old`;
  if (await exists(dir)) {
    if (await exists(old)) await Deno.remove(old, { recursive: true });
    return "intact";
  }
  if (!(await exists(old))) return "missing";
  await Deno.rename(old, dir);
  await syncDir(parent);
  return "restored";
}

/**
 * Writes a checkpoint folder so that a kill at any moment leaves the previous one whole.
 *
 * The files go into `<dir>.tmp-<pid>` (each fsynced), then `<dir>` -> `<dir>.old`,
 * `<dir>.tmp-<pid>` -> `<dir>`, and `<dir>.old` is deleted. Readers that find `<dir>` missing
 * use `<dir>.old` ({@link listCheckpoints}); the next save repairs the folder first.
 *
 * @example
 * ```ts
 * import { saveCheckpointDir } from "./checkpoint.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const root = await Deno.makeTempDir();
 * await saveCheckpointDir(`${root}/last`, { "state.json": '{"step":1}' });
 * await saveCheckpointDir(`${root}/last`, { "state.json": '{"step":2}' });
 * deepEqual(await Deno.readTextFile(`${root}/last/state.json`), '{"step":2}');
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @param dir The checkpoint folder (its parent is created if needed).
 * @param files File name -> contents (bytes, text, or a function writing that path).
 * @param options `crashAfter` stops after a step, for tests of recovery.
 */
export async function saveCheckpointDir(
  dir: string,
  files: Record<string, CheckpointFile>,
  options: { crashAfter?: CrashPoint } = {},
): Promise<void> {
  dir = resolve(dir);
  for (const name of Object.keys(files)) {
    if (!name || name === "." || name === ".." || /[/\\]/.test(name)) {
      throw new CheckpointError(
        `Cannot save checkpoint file "${name}": expected a plain file name`,
      );
    }
  }
  const parent = dirname(dir);
  await Deno.mkdir(parent, { recursive: true });
  await recoverCheckpointDir(dir);
  const tmp = `${dir}.tmp-${Deno.pid}`;
  await Deno.mkdir(tmp);
  for (const [name, contents] of Object.entries(files)) {
    const path = join(tmp, name);
    if (typeof contents === "function") await contents(path);
    else await writeFileAtomic(path, contents);
  }
  await syncDir(tmp);
  if (options.crashAfter === "written") return;
  const old = `${dir}.old`;
  if (await exists(dir)) await Deno.rename(dir, old);
  if (options.crashAfter === "moved-old") return;
  await Deno.rename(tmp, dir);
  await syncDir(parent);
  if (options.crashAfter === "moved-new") return;
  if (await exists(old)) await Deno.remove(old, { recursive: true });
}

/**
 * `state.json`: what a resumed run needs beside the tensors. Every field is described in
 * docs/checkpoint.md's `state.json` table (units: `elapsed_seconds` in seconds of training,
 * `saved_at` ISO 8601 UTC, `schedule.progress` the budget fraction 0..1).
 */
export interface CheckpointState {
  readonly format: "abacus-checkpoint";
  readonly version: number;
  readonly saved_at: string;
  readonly kind: "intermediate" | "final";
  readonly step: number;
  readonly optimizer_steps: number;
  readonly tokens: number;
  readonly elapsed_seconds: number;
  readonly schedule: {
    readonly progress: number;
    readonly lr: number;
    readonly batch_size: number;
  };
  /** `folder` is absent in checkpoints older than the field. */
  readonly data: {
    readonly dataset: string;
    readonly folder?: string;
    readonly position: number;
    readonly epoch: number;
  };
  readonly rng: Readonly<Record<string, unknown>>;
  readonly loss: number | null;
  readonly config_hash: string;
  /** Further fields written by newer versions. */
  readonly [extra: string]: unknown;
}

/** One checkpoint of a run. */
export interface CheckpointInfo {
  /** Folder name under `checkpoints/` (e.g. `last`, `FINAL_0.0123`). */
  readonly name: string;
  /** Folder to load: `<name>`, or `<name>.old` when an interrupted save left only that. */
  readonly path: string;
  /** The stored `saved_at` (null when the folder has no readable `state.json`, e.g. upstream's). */
  readonly savedAt: string | null;
  /** The stored step (null without `state.json`). */
  readonly step: number | null;
  /** The stored loss (null without `state.json`). */
  readonly loss: number | null;
}

const NUMBERS = ["version", "step", "optimizer_steps", "tokens", "elapsed_seconds"] as const;

/**
 * Reads and checks a checkpoint's `state.json`.
 *
 * @example
 * ```ts
 * import { readCheckpointState } from "./checkpoint.ts";
 * import { rejects } from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/state.json`, '{"step": 3');
 * await rejects(() => readCheckpointState(dir), /state.json is corrupted/);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readCheckpointState(dir: string): Promise<CheckpointState> {
  const path = join(dir, "state.json");
  const text = await Deno.readTextFile(path).catch((e) => {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    throw new CheckpointError(`Cannot read checkpoint state ${path}: ${why}`);
  });
  const bad: (why: string) => never = (why) => {
    throw new CheckpointError(`Checkpoint file ${path} is corrupted: ${why}`);
  };
  let v: Record<string, unknown> = {};
  try {
    v = JSON.parse(text);
  } catch (e) {
    bad((e as Error).message);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) bad("not a JSON object");
  if (v.format !== "abacus-checkpoint") {
    bad(`format is ${JSON.stringify(v.format)}, expected "abacus-checkpoint"`);
  }
  if (typeof v.saved_at !== "string" || Number.isNaN(Date.parse(v.saved_at))) {
    bad(`saved_at is ${JSON.stringify(v.saved_at)}, expected an ISO 8601 time`);
  }
  for (const k of NUMBERS) {
    if (typeof v[k] !== "number" || !(v[k] as number >= 0)) bad(`${k} is ${JSON.stringify(v[k])}`);
  }
  if (v.loss !== null && typeof v.loss !== "number") bad(`loss is ${JSON.stringify(v.loss)}`);
  if (typeof v.config_hash !== "string") bad(`config_hash is ${JSON.stringify(v.config_hash)}`);
  return v as unknown as CheckpointState;
}

function info(name: string, path: string): Promise<CheckpointInfo> {
  return readCheckpointState(path).then(
    (s) => ({ name, path, savedAt: s.saved_at, step: s.step, loss: s.loss }),
    () => ({ name, path, savedAt: null, step: null, loss: null }),
  );
}

/**
 * Lists the checkpoints of a run, newest first by the `saved_at` stored in `state.json`.
 *
 * Looks in `<runDir>/checkpoints/`. Skips unfinished `*.tmp-*` folders; a `<name>.old` folder
 * counts as `<name>` when `<name>` itself is missing (a save interrupted between its renames).
 * Folders without a readable `state.json` (e.g. copied from upstream) come last, by name.
 * Read-only: safe to call while a training run is saving.
 *
 * @example
 * ```ts
 * import { listCheckpoints, saveCheckpointDir } from "./checkpoint.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const run = await Deno.makeTempDir();
 * const state = (at: string) => JSON.stringify({ format: "abacus-checkpoint", version: 1, saved_at: at,
 *   step: 1, optimizer_steps: 1, tokens: 1, elapsed_seconds: 1, loss: 1, config_hash: "" });
 * await saveCheckpointDir(`${run}/checkpoints/b`, { "state.json": state("2024-01-01T00:00:00Z") });
 * await saveCheckpointDir(`${run}/checkpoints/a`, { "state.json": state("2024-02-01T00:00:00Z") });
 * deepEqual((await listCheckpoints(run)).map((c) => c.name), ["a", "b"]);
 * await Deno.remove(run, { recursive: true });
 * ```
 *
 * @param runDir The run folder `<base_dir>/<name>`.
 * @returns The checkpoints, newest first.
 */
export async function listCheckpoints(runDir: string): Promise<CheckpointInfo[]> {
  const dir = join(runDir, "checkpoints");
  const entries = await Array.fromAsync(Deno.readDir(dir)).catch((e) => {
    if (e instanceof Deno.errors.NotFound) return [];
    throw new CheckpointError(`Cannot list checkpoints in ${dir}: ${(e as Error).message}`);
  });
  const names = new Set(entries.filter((e) => e.isDirectory).map((e) => e.name));
  const found = [...names].filter((n) => !/\.tmp-\d+$/.test(n)).flatMap((n) => {
    const base = n.endsWith(".old") ? n.slice(0, -4) : n;
    return base !== n && names.has(base) ? [] : [info(base, join(dir, n))];
  });
  const time = (c: CheckpointInfo) => c.savedAt === null ? -Infinity : Date.parse(c.savedAt);
  return (await Promise.all(found)).sort((a, b) =>
    time(b) - time(a) || (b.step ?? -1) - (a.step ?? -1) ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
}
