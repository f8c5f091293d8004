// The read side of checkpoints: `state.json` parsing with one-line errors and the listing of a
// run's checkpoints newest first by their stored timestamp (never the file times, which copies
// and archives change). Readers never modify the folder: the next save repairs an interrupted one.

import { join } from "node:path";

/** A missing, unreadable or inconsistent checkpoint; the message is one line. */
export class CheckpointError extends Error {
  /** @param message Sentence-case message without a trailing period. */
  constructor(message: string) {
    super(message);
    this.name = "CheckpointError";
  }
}

/** `state.json`: what a resumed run needs beside the tensors (docs/checkpoint.md). */
export interface CheckpointState {
  /** Always `abacus-checkpoint`. */
  readonly format: "abacus-checkpoint";
  /** Layout version, 1. */
  readonly version: number;
  /** When the checkpoint was written, ISO 8601 UTC; orders the checkpoints of a run. */
  readonly saved_at: string;
  /** `intermediate` (rolling) or `final`. */
  readonly kind: "intermediate" | "final";
  /** Microbatch steps done (upstream's `steps` / `data_idx`). */
  readonly step: number;
  /** Optimizer steps done. */
  readonly optimizer_steps: number;
  /** Tokens consumed. */
  readonly tokens: number;
  /** Training seconds so far, excluding time spent stopped. */
  readonly elapsed_seconds: number;
  /** Schedule position: budget fraction used, current learning rate and batch size. */
  readonly schedule: {
    readonly progress: number;
    readonly lr: number;
    readonly batch_size: number;
  };
  /**
   * Data position: dataset name (`data.dataset`), the folder it resolved to (absent in
   * checkpoints older than the field: a preset's folder changes when its format does), next row
   * of the train split, epochs completed.
   */
  readonly data: {
    readonly dataset: string;
    readonly folder?: string;
    readonly position: number;
    readonly epoch: number;
  };
  /** Every random generator's state, as the runtime serialises it. */
  readonly rng: Readonly<Record<string, unknown>>;
  /** Last training loss (null before the first step). */
  readonly loss: number | null;
  /** `configHash()` of the resolved config. */
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
 * import { readCheckpointState } from "./checkpoint_read.ts";
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
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    throw new CheckpointError(`Cannot read checkpoint state ${path}: ${why}`);
  }
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`Checkpoint file ${path} is corrupted: ${(e as Error).message}`);
  }
  const bad: (why: string) => never = (why) => {
    throw new CheckpointError(`Checkpoint file ${path} is corrupted: ${why}`);
  };
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

async function info(name: string, path: string): Promise<CheckpointInfo> {
  try {
    const s = await readCheckpointState(path);
    return { name, path, savedAt: s.saved_at, step: s.step, loss: s.loss };
  } catch {
    return { name, path, savedAt: null, step: null, loss: null };
  }
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
 * import { listCheckpoints } from "./checkpoint_read.ts";
 * import { saveCheckpointDir } from "./checkpoint.ts";
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
  const names = new Set<string>();
  try {
    for await (const e of Deno.readDir(dir)) if (e.isDirectory) names.add(e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw new CheckpointError(`Cannot list checkpoints in ${dir}: ${(e as Error).message}`);
  }
  const found: Promise<CheckpointInfo>[] = [];
  for (const n of names) {
    if (/\.tmp-\d+$/.test(n)) continue;
    if (n.endsWith(".old")) {
      const base = n.slice(0, -4);
      if (!names.has(base)) found.push(info(base, join(dir, n)));
    } else found.push(info(n, join(dir, n)));
  }
  const list = await Promise.all(found);
  const time = (
    c: CheckpointInfo,
  ): number => (c.savedAt === null ? -Infinity : Date.parse(c.savedAt));
  return list.sort((a, b) =>
    time(b) - time(a) || (b.step ?? -1) - (a.step ?? -1) ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
}
