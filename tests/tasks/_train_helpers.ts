// Shared helpers of the train-task tests: running `tasks/train.ts` as a subprocess with a fast
// tiny config, reading the losses a run (and its resumes) logged, snapshotting a folder to prove
// nothing changed, and a minimal safetensors parser written independently of core/safetensors.ts.

import { join } from "node:path";

/** The repository root. */
export const REPO: string = new URL("../../", import.meta.url).pathname;

/** `tasks/train.ts` as a file URL. */
export const TRAIN_URL: string = new URL("../../tasks/train.ts", import.meta.url).href;

/** A tiny, fast configuration: the tiny-addition preset on the cpu backend, 16-row microbatches. */
export const FAST: readonly string[] = [
  "preset=tiny-addition",
  "impl.backend=cpu",
  "impl.microbatch_size=16",
  "train.batch_size=16",
  "impl.print_loss_every_nth_step=1",
];

/**
 * The environment for a subprocess: ours without `INIT_CWD` (which an outer `deno task test`
 * sets and an inner `deno task` keeps, so relative paths would resolve against the wrong
 * folder), plus `extra`.
 *
 * @param extra Variables to add.
 * @returns The whole environment (use with `clearEnv: true`).
 */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.INIT_CWD;
  return { ...env, ...extra };
}

/** What a subprocess did. */
export interface Ran {
  /** Exit code. */
  code: number;
  /** Signal that ended it, if any. */
  signal: Deno.Signal | null;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** The non-blank lines of stderr (the driver prints nothing of its own: core/_adapter.ts). */
export function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.trim() !== "");
}

/**
 * Runs the train task in a subprocess (`deno run -A --config <repo>/deno.json tasks/train.ts`).
 *
 * @param args Train arguments.
 * @param options Working folder and extra environment.
 * @returns Exit code, signal and output.
 */
export async function runTrain(
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Ran> {
  const child = spawnTrain(args, options);
  const out = await child.output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/**
 * Starts the train task in a subprocess without waiting (for kill tests).
 *
 * @param args Train arguments.
 * @param options Working folder and extra environment.
 * @returns The child process (stdout and stderr piped).
 */
export function spawnTrain(
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", join(REPO, "deno.json"), TRAIN_URL, ...args],
    cwd: options.cwd,
    env: childEnv(options.env),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/**
 * The training losses a run logged, by microbatch step, over all its sessions (every
 * `metrics.jsonl` under `<base>/<name>/pretrain/`); a step logged twice (a session killed
 * after logging it, then resumed from before it) must have logged the same loss.
 *
 * @param base The base folder.
 * @param name The run name.
 * @returns Losses in step order, as [step, loss] pairs.
 */
export async function loggedLosses(base: string, name: string): Promise<[number, number][]> {
  const byStep = new Map<number, number>();
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      const p = join(dir, e.name);
      if (e.isDirectory) await walk(p);
      else if (e.name === "metrics.jsonl") {
        for (const line of (await Deno.readTextFile(p)).split("\n")) {
          if (!line) continue;
          const r = JSON.parse(line);
          if (typeof r.loss !== "number" || r.event) continue;
          const seen = byStep.get(r.step);
          if (seen !== undefined && seen !== r.loss) {
            throw new Error(`Step ${r.step} logged two losses: ${seen} and ${r.loss}`);
          }
          byStep.set(r.step, r.loss);
        }
      }
    }
  };
  await walk(join(base, name, "pretrain"));
  return [...byStep].sort((a, b) => a[0] - b[0]);
}

/**
 * Every file under a folder with its SHA-256, to compare before and after.
 *
 * @param dir The folder.
 * @returns Relative path -> hex digest (folders as `dir/`).
 */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string, rel: string): Promise<void> => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name), r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) {
        out[`${r}/`] = "";
        await walk(p, r);
      } else {
        const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(p));
        out[r] = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join(
          "",
        );
      }
    }
  };
  await walk(dir, "");
  return out;
}

/** One tensor as read by {@link parseSafetensorsIndependently}. */
export interface ParsedTensor {
  /** Element type. */
  dtype: string;
  /** Dimensions. */
  shape: number[];
  /** Values (I64 as bigint). */
  values: number[] | bigint[];
}

/**
 * A minimal safetensors reader written from the format description only: u64 header length,
 * JSON header, contiguous little-endian data; checks that the tensors tile the data exactly.
 *
 * @param bytes The whole file.
 * @returns Tensors by name and the metadata.
 */
export function parseSafetensorsIndependently(
  bytes: Uint8Array,
): { tensors: Record<string, ParsedTensor>; metadata: Record<string, string>; dataStart: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const dataStart = 8 + n;
  const tensors: Record<string, ParsedTensor> = {};
  const spans: [number, number][] = [];
  for (const [name, v] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets: [b, e] } = v as {
      dtype: string;
      shape: number[];
      data_offsets: [number, number];
    };
    const count = shape.reduce((a, x) => a * x, 1);
    const size = dtype === "I64" ? 8 : dtype === "F32" ? 4 : NaN;
    if (e - b !== count * size) throw new Error(`${name}: ${e - b} bytes for ${dtype} [${shape}]`);
    spans.push([b, e]);
    const values: number[] | bigint[] = [];
    for (let i = 0; i < count; i++) {
      const at = dataStart + b + i * size;
      if (dtype === "I64") (values as bigint[]).push(view.getBigInt64(at, true));
      else (values as number[]).push(view.getFloat32(at, true));
    }
    tensors[name] = { dtype, shape, values };
  }
  spans.sort((x, y) => x[0] - y[0]);
  let at = 0;
  for (const [b, e] of spans) {
    if (b !== at) throw new Error(`Gap or overlap at data byte ${at}`);
    at = e;
  }
  if (dataStart + at !== bytes.length) throw new Error(`File has bytes after the last tensor`);
  return { tensors, metadata: header.__metadata__ ?? {}, dataStart };
}

/** Checkpoint folder names under `<base>/<name>/checkpoints/`. */
export async function checkpointNames(base: string, name: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(join(base, name, "checkpoints"))) out.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}
