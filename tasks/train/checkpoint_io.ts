// The train task's checkpoint folders (docs/checkpoint.md): the weights under upstream's
// state-dict keys with upstream's buffers, model_config.json, the AdamW moments, state.json and
// the resolved config, written through core/checkpoint.ts's atomic folder swap; and the strict
// read side that a resume uses, turning any damage into one `Cannot resume from DIR: ...` line.

import { basename, join } from "node:path";
import { configHash, configToYaml, parseConfigYaml, RESUME_KEYS } from "../../cli/config.ts";
import { schemaFor } from "../../cli/config_keys.ts";
import { keyInfo } from "../../cli/config_schema.ts";
import type { PretrainConfig } from "../../cli/config_types.ts";
import {
  type CheckpointState,
  type CrashPoint,
  readCheckpointState,
  saveCheckpointDir,
} from "../../core/checkpoint.ts";
import { normalizeKey } from "../../core/state_keys.ts";
import type { ArithmeticModel } from "../../core/nn/model.ts";
import type { AdamW, AdamWState } from "../../core/optim.ts";
import type { SafetensorsContent, TensorInput } from "../../core/safetensors.ts";
import { writeSafetensors } from "../../core/safetensors_write.ts";
import { readSafetensors } from "../../core/safetensors.ts";
import { modelTensors } from "./state_dict.ts";
import { TrainError } from "./errors.ts";

/**
 * Keys left out of `config_hash`: what may change between a run and its resume.
 *
 * `RESUME_KEYS` (budgets, caps, saving and logging cadence, folders, backend) plus the run name,
 * the preset label, the data folder and every key abacus accepts and ignores.
 *
 * @example
 * ```ts
 * import { HASH_EXCLUDED } from "./checkpoint_io.ts";
 * import { ok } from "node:assert/strict";
 *
 * ok(HASH_EXCLUDED.includes("train.budget_steps") && HASH_EXCLUDED.includes("impl.compile_torch"));
 * ok(!HASH_EXCLUDED.includes("arch.hidden_size"));
 * ```
 */
export const HASH_EXCLUDED: readonly string[] = Object.freeze([
  ...RESUME_KEYS,
  "name",
  "preset",
  "data_dir",
  "impl.path",
  ...[...schemaFor("pretrain")].filter(([, s]) => keyInfo(s).use === "ignored").map(([k]) => k),
]);

/**
 * The `config_hash` of a run: {@link HASH_EXCLUDED} (budgets, caps, saving cadence, folders,
 * backend, the preset label and keys abacus ignores) is left out.
 *
 * @example
 * ```ts
 * import { loadConfig } from "../../cli/config.ts";
 * import { runConfigHash } from "./checkpoint_io.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const a = await loadConfig(["preset=tiny-addition"], "pretrain", { log: () => {} });
 * const b = await loadConfig(["preset=tiny-addition", "train.steps=9", "impl.compile_torch=False"],
 *   "pretrain", { log: () => {} });
 * deepEqual(await runConfigHash(a), await runConfigHash(b));
 * ```
 *
 * @returns 64 hex digits.
 */
export function runConfigHash(cfg: PretrainConfig): Promise<string> {
  return configHash(cfg, HASH_EXCLUDED);
}

/** What a checkpoint save needs besides the model and optimizer. */
export interface SaveRequest {
  /** The folder, e.g. `<model_dir>/<name>/checkpoints/last`. */
  readonly dir: string;
  /** The resolved config (as given: a drawn seed lives in `state.seed`). */
  readonly cfg: PretrainConfig;
  /** `state.json` contents. */
  readonly state: CheckpointState;
  /** Test hook: stop after this step of the folder swap (see `saveCheckpointDir`). */
  readonly crashAfter?: CrashPoint;
}

/**
 * Writes a whole checkpoint folder atomically: `model.safetensors`, `model_config.json`,
 * `optimizer.safetensors`, `state.json` and `config.yaml`.
 *
 * Reads the weights and both moments back (three readbacks on the webgpu backend) and refuses,
 * with a `TrainError` and before writing anything, to save non-finite values.
 *
 * @example
 * ```ts ignore
 * import { saveTrainCheckpoint } from "./checkpoint_io.ts";
 *
 * await saveTrainCheckpoint(model, opt, { dir: `${runRoot}/checkpoints/last`, cfg, state });
 * ```
 *
 * @returns Resolves when the folder is in place.
 */
export async function saveTrainCheckpoint(
  model: ArithmeticModel,
  opt: AdamW,
  req: SaveRequest,
): Promise<void> {
  const weights = await model.arena.readAll();
  const moments = await opt.stateDict();
  for (
    const [what, values] of [["weight", weights], ["moment", moments.m], ["moment", moments.v]]
  ) {
    for (const [name, a] of Object.entries(values as Record<string, Float32Array>)) {
      if (!a.every(Number.isFinite)) {
        throw new TrainError(`the ${what}s of ${name} are no longer finite`);
      }
    }
  }
  const optTensors: Record<string, TensorInput> = {};
  for (const e of model.arena.entries) {
    optTensors[`exp_avg.${e.name}`] = {
      dtype: "F32",
      shape: e.param.shape,
      data: moments.m[e.name],
    };
    optTensors[`exp_avg_sq.${e.name}`] = {
      dtype: "F32",
      shape: e.param.shape,
      data: moments.v[e.name],
    };
  }
  const optMeta = {
    step: String(moments.step),
    lr: String(opt.lr),
    betas: JSON.stringify([opt.beta1, opt.beta2]),
    eps: String(opt.eps),
    weight_decay: String(opt.weightDecay),
    no_decay: JSON.stringify(model.arena.entries.filter((e) => !e.decay).map((e) => e.name)),
  };
  await saveCheckpointDir(req.dir, {
    "model.safetensors": (p) => writeSafetensors(p, modelTensors(model, weights), { format: "pt" }),
    "model_config.json": JSON.stringify(req.cfg.arch, null, 2) + "\n",
    "optimizer.safetensors": (p) => writeSafetensors(p, optTensors, optMeta),
    "config.yaml": configToYaml(req.cfg),
    "state.json": JSON.stringify(req.state, null, 2) + "\n",
  }, { crashAfter: req.crashAfter });
}

/** A checkpoint read back for a resume. */
export interface LoadedCheckpoint {
  /** Its `state.json`. */
  readonly state: CheckpointState;
  /** Weights by state-dict key. */
  readonly weights: Record<string, Float32Array>;
  /** AdamW moments and step count. */
  readonly optimizer: AdamWState;
}

function oneLine(e: unknown, path: string): string {
  const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0];
  const file = basename(path);
  const heads: [string, string][] = [
    [`Cannot read ${path}: `, `${file}: `],
    [`Cannot read checkpoint state ${path}: `, `${file}: `],
    [`Checkpoint file ${path} is `, `${file} is `],
  ];
  for (const [head, short] of heads) {
    if (msg.startsWith(head)) return short + msg.slice(head.length);
  }
  return msg;
}

async function tensorsOf(path: string): Promise<SafetensorsContent> {
  try {
    return await readSafetensors(path);
  } catch (e) {
    throw new TrainError(oneLine(e, path));
  }
}

function take(
  file: SafetensorsContent,
  fileName: string,
  key: string,
  shape: readonly number[],
): Float32Array {
  const t = file.tensors[key];
  if (!t) throw new TrainError(`${fileName} has no tensor ${key}`);
  if (t.dtype !== "F32" || t.shape.join() !== shape.join()) {
    throw new TrainError(
      `${fileName} holds ${key} as ${t.dtype} [${t.shape.join(", ")}], the model needs F32 ` +
        `[${shape.join(", ")}]`,
    );
  }
  return t.data as Float32Array;
}

function flatten(v: unknown, prefix: string, out: Map<string, string>): Map<string, string> {
  if (v !== null && typeof v === "object" && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix, JSON.stringify(v));
  return out;
}

/** Names the first keys where a checkpoint's config.yaml differs from the current config. */
async function configDiff(dir: string, cfg: PretrainConfig): Promise<string> {
  let old: unknown;
  try {
    old = parseConfigYaml(await Deno.readTextFile(join(dir, "config.yaml")), "pretrain");
  } catch {
    return "unknown, as its config.yaml is missing or unreadable";
  }
  const skip = (k: string) => HASH_EXCLUDED.some((x) => k === x || k.startsWith(`${x}.`));
  const a = flatten(old, "", new Map()), b = flatten(cfg, "", new Map());
  const keys = [...new Set([...a.keys(), ...b.keys()])].filter((k) => !skip(k));
  const diffs = keys.filter((k) => a.get(k) !== b.get(k))
    .map((k) => `${k} ${a.get(k) ?? "unset"} -> ${b.get(k) ?? "unset"}`);
  return diffs.length ? diffs.slice(0, 3).join(", ") : "unknown";
}

/**
 * Reads and checks a checkpoint for a resume: state, config hash, every weight and moment.
 *
 * Nothing on disk is changed. Any problem (a missing, truncated or corrupted file, a tensor of
 * the wrong shape, a checkpoint of another config) throws a `TrainError` whose message is
 * `Cannot resume from <dir>: <problem>`.
 *
 * @example
 * ```ts ignore
 * import { readTrainCheckpoint } from "./checkpoint_io.ts";
 *
 * const ck = await readTrainCheckpoint(`${runDir}/checkpoints/last`, { model, cfg });
 * model.arena.writeAll(ck.weights);
 * ```
 *
 * @param expect The freshly built model whose parameters the checkpoint must fill, and the
 *   current resolved config (its hash must match the stored one).
 */
export async function readTrainCheckpoint(
  dir: string,
  expect: { model: ArithmeticModel; cfg: PretrainConfig },
): Promise<LoadedCheckpoint> {
  const { model, cfg } = expect;
  try {
    let state: CheckpointState;
    try {
      state = await readCheckpointState(dir);
    } catch (e) {
      throw new TrainError(oneLine(e, join(dir, "state.json")));
    }
    if (state.config_hash !== await runConfigHash(cfg)) {
      throw new TrainError(
        `it was trained with another config (${await configDiff(dir, cfg)}); ` +
          `use another name= for a new run`,
      );
    }
    const raw = await tensorsOf(join(dir, "model.safetensors"));
    const file = { tensors: {} as SafetensorsContent["tensors"], metadata: raw.metadata };
    for (const [k, t] of Object.entries(raw.tensors)) file.tensors[normalizeKey(k)] = t;
    const opt = await tensorsOf(join(dir, "optimizer.safetensors"));
    const weights: Record<string, Float32Array> = {};
    const m: Record<string, Float32Array> = {}, v: Record<string, Float32Array> = {};
    for (const e of model.arena.entries) {
      const shape = e.param.shape;
      weights[e.name] = take(file, "model.safetensors", e.name, shape);
      m[e.name] = take(opt, "optimizer.safetensors", `exp_avg.${e.name}`, shape);
      v[e.name] = take(opt, "optimizer.safetensors", `exp_avg_sq.${e.name}`, shape);
    }
    const step = Number(opt.metadata.step);
    if (!Number.isSafeInteger(step) || step < 0) {
      throw new TrainError(`optimizer.safetensors has no valid step count in its metadata`);
    }
    const rng = state.rng as { model?: unknown; train?: unknown };
    const six = (x: unknown) =>
      Array.isArray(x) && x.length === 6 && x.every((n) => Number.isFinite(n));
    if (!six(rng?.model) || !six(rng?.train) || !Number.isSafeInteger(state.seed)) {
      throw new TrainError(`state.json lacks the seed or the random generator states`);
    }
    return { state, weights, optimizer: { step, m, v } };
  } catch (e) {
    if (!(e instanceof TrainError)) throw e;
    throw new TrainError(`Cannot resume from ${dir}: ${e.message}`);
  }
}
