// Checkpoint folders that survive a kill at any moment: every file is written to a temporary
// name, fsynced and renamed; a whole folder is built as `<dir>.tmp-<pid>` and swapped in with
// two renames (old -> `<dir>.old`, new -> `<dir>`), so some whole checkpoint always exists.
// Reading them is core/checkpoint_read.ts; the file layout is in docs/checkpoint.md.

import { basename, dirname, join, resolve } from "node:path";
import { CheckpointError } from "./checkpoint_read.ts";

/** What a file receives: text (UTF-8), bytes, or chunks of bytes written one after another. */
export type FileContents = string | Uint8Array | Iterable<Uint8Array>;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await Deno.open(dir, { read: true });
    try {
      await handle.sync();
    } finally {
      handle.close();
    }
  } catch {
    // Some platforms cannot fsync a directory; the renames are still atomic there.
  }
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

async function removeStaleTemps(dir: string): Promise<void> {
  const parent = dirname(dir), prefix = `${basename(dir)}.tmp-`;
  for await (const e of Deno.readDir(parent)) {
    if (e.name.startsWith(prefix)) await Deno.remove(join(parent, e.name), { recursive: true });
  }
}

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
  if (!(await exists(dirname(dir)))) return "missing";
  await removeStaleTemps(dir);
  const old = `${dir}.old`;
  if (await exists(dir)) {
    if (await exists(old)) await Deno.remove(old, { recursive: true });
    return "intact";
  }
  if (!(await exists(old))) return "missing";
  await Deno.rename(old, dir);
  await syncDir(dirname(dir));
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
