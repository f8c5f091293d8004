// The train task's checkpoint folders (docs/checkpoint.md): the weights under upstream's
// state-dict keys with upstream's buffers, model_config.json, the AdamW moments, state.json and
// the resolved config, written through core/checkpoint.ts's atomic folder swap; and the strict
// read side that a resume uses, turning any damage into one `Cannot resume from DIR: ...` line.
// Reference: docs/checkpoint.md (upstream's state-dict keys).

import { basename, join } from "node:path";
import { configHash, configToYaml, parseConfigYaml } from "../../cli/config.ts";
import { schemaFor } from "../../cli/config_keys.ts";
import { keyInfo } from "../../cli/config_schema.ts";
import type { PretrainConfig } from "../../cli/config_types.ts";
import { normalizeKey } from "../../core/state_keys.ts";
import {
  type CheckpointState,
  type CrashPoint,
  readCheckpointState,
  saveCheckpointDir,
} from "../../core/checkpoint.ts";
import type { Arch } from "../../core/nn/arch.ts";
import type { ArithmeticModel } from "../../core/nn/model.ts";
import { blockLayout, layerPrefix } from "../../core/nn/params.ts";
import type { AdamW } from "../../core/optim.ts";
import type { SafetensorsContent, TensorInput } from "../../core/safetensors.ts";
import { writeSafetensors } from "../../core/safetensors_write.ts";
import { readSafetensors } from "../../core/safetensors.ts";
import { FIRE_INIT_L } from "../../kernels/fire.ts";
import type { Rng } from "../../kernels/rng.ts";
import { TrainError } from "./errors.ts";

// The keys `runConfigHash` leaves out (see there).
const HASH_EXCLUDED: readonly string[] = Object.freeze([
  "base_dir",
  "model_dir",
  "budget",
  "overall_budget",
  "dryrun",
  "train.budget",
  "train.overall_budget",
  "train.steps",
  "train.budget_tokens",
  "train.budget_steps",
  "impl.backend",
  "impl.print_loss_every_nth_step",
  "impl.save_intermediate_checkpoints",
  "impl.save_every_nth_step",
  "impl.save_every_n_minutes",
  "impl.save_intermediate_model_name",
  "impl.save_final_model",
  "name",
  "preset",
  "data_dir",
  "impl.path",
  ...[...schemaFor("pretrain")].filter(([, s]) => keyInfo(s).use === "ignored").map(([k]) => k),
]);

/**
 * The `config_hash` of a run (64 hex digits), leaving out what may change between a run and its
 * resume (budgets, caps, saving and logging cadence, folders, backend), the run name, the preset
 * label, the data folder and every key abacus accepts and ignores.
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
 */
export function runConfigHash(cfg: PretrainConfig): Promise<string> {
  return configHash(cfg, HASH_EXCLUDED);
}

/** F32 tensors shaped like the model's parameters, keyed `prefix + name`. */
function paramTensors(
  model: ArithmeticModel,
  values: Record<string, Float32Array>,
  prefix = "",
): Record<string, TensorInput> {
  return Object.fromEntries(
    model.arena.entries.map((e) => [
      prefix + e.name,
      { dtype: "F32", shape: e.param.shape, data: values[e.name] },
    ]),
  );
}

/**
 * Upstream's buffers, which its `load_state_dict` expects beside the weights: `position_ids`
 * (I64 [1, P]) for learned or Abacus positions, `attn.norm_factor` (head_dim^-0.5) for
 * self-attention layers and FIRE's fixed `rotary_emb.init_L`.
 */
function bufferTensors(arch: Arch): Record<string, TensorInput> {
  const out: Record<string, TensorInput> = {};
  if (arch.posEmbedding) {
    const P = arch.maxSeqLength;
    out["encoder.embedding.pos_embedding.position_ids"] = {
      dtype: "I64",
      shape: [1, P],
      data: BigInt64Array.from({ length: P }, (_, i) => BigInt(i)),
    };
  }
  if (arch.attentionType !== "self-attention") return out;
  const { blocks, layersPerBlock } = blockLayout(arch);
  for (let j = 0; j < blocks; j++) {
    for (let i = 0; i < layersPerBlock; i++) {
      const p = layerPrefix(arch, j, i);
      const norm = [1 / Math.sqrt(arch.hiddenSize / arch.heads)];
      out[`${p}attn.norm_factor`] = { dtype: "F32", shape: [], data: norm };
      if (arch.rotary === "fire") {
        out[`${p}attn.rotary_emb.init_L`] = { dtype: "F32", shape: [], data: [FIRE_INIT_L] };
      }
    }
  }
  return out;
}

/**
 * Writes a whole checkpoint folder atomically: `model.safetensors` (the weights under
 * upstream's state-dict keys, its buffers, and with tied weights the word embedding again as
 * `decoder.weight`), `model_config.json`, `optimizer.safetensors`, `state.json` and
 * `config.yaml` (`req.cfg` as given: a drawn seed lives in `state.seed`).
 *
 * Reads the weights and both moments back (three readbacks on the webgpu backend) and refuses,
 * with a `TrainError` and before writing anything, to save non-finite values. `crashAfter` is
 * a test hook: stop after this step of the folder swap (see `saveCheckpointDir`).
 *
 * @example
 * ```ts ignore
 * import { saveTrainCheckpoint } from "./checkpoint_io.ts";
 *
 * await saveTrainCheckpoint(model, opt, { dir: `${runRoot}/checkpoints/last`, cfg, state });
 * ```
 */
export async function saveTrainCheckpoint(
  model: ArithmeticModel,
  opt: AdamW,
  req: { dir: string; cfg: PretrainConfig; state: CheckpointState; crashAfter?: CrashPoint },
): Promise<void> {
  const weights = await model.arena.readAll();
  const { m, v, step } = await opt.stateDict();
  for (const [what, values] of [["weight", weights], ["moment", m], ["moment", v]] as const) {
    for (const [name, a] of Object.entries(values)) {
      if (!a.every(Number.isFinite)) {
        throw new TrainError(`the ${what}s of ${name} are no longer finite`);
      }
    }
  }
  const modelTensors = { ...paramTensors(model, weights), ...bufferTensors(model.arch) };
  if (model.arch.tieWeights) {
    modelTensors["decoder.weight"] = { ...modelTensors["encoder.embedding.word_embedding.weight"] };
  }
  const optTensors = {
    ...paramTensors(model, m, "exp_avg."),
    ...paramTensors(model, v, "exp_avg_sq."),
  };
  const optMeta = {
    step: String(step),
    lr: String(opt.lr),
    betas: JSON.stringify([opt.beta1, opt.beta2]),
    eps: String(opt.eps),
    weight_decay: String(opt.weightDecay),
    no_decay: JSON.stringify(model.arena.entries.filter((e) => !e.decay).map((e) => e.name)),
  };
  await saveCheckpointDir(req.dir, {
    "model.safetensors": (p) => writeSafetensors(p, modelTensors, { format: "pt" }),
    "model_config.json": JSON.stringify(req.cfg.arch, null, 2) + "\n",
    "optimizer.safetensors": (p) => writeSafetensors(p, optTensors, optMeta),
    "config.yaml": configToYaml(req.cfg),
    "state.json": JSON.stringify(req.state, null, 2) + "\n",
  }, { crashAfter: req.crashAfter });
}

/** Reads `path`, its error as `<file>: <problem>` (the resume line already names the folder). */
async function readPart<T>(path: string, read: (path: string) => Promise<T>): Promise<T> {
  try {
    return await read(path);
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0];
    const at = msg.indexOf(path);
    throw new TrainError(at < 0 ? msg : basename(path) + msg.slice(at + path.length));
  }
}

/** The reverse of `paramTensors`: the F32 tensor `prefix + name` of each parameter, its shape. */
function takeParams(
  model: ArithmeticModel,
  tensors: SafetensorsContent["tensors"],
  fileName: string,
  prefix = "",
): Record<string, Float32Array> {
  return Object.fromEntries(model.arena.entries.map((e) => {
    const key = prefix + e.name, shape = e.param.shape;
    const t = tensors[key];
    if (!t) throw new TrainError(`${fileName} has no tensor ${key}`);
    if (t.dtype !== "F32" || t.shape.join() !== shape.join()) {
      throw new TrainError(
        `${fileName} holds ${key} as ${t.dtype} [${t.shape.join(", ")}], the model needs F32 ` +
          `[${shape.join(", ")}]`,
      );
    }
    return [e.name, t.data as Float32Array];
  }));
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
 * Reads and checks a whole checkpoint (state, config hash against `cfg`, every weight and
 * moment, the data position against `trainRows`), then loads it into the freshly built model,
 * the optimizer and both generators, and returns its `state.json`.
 *
 * Nothing on disk is changed, and nothing is loaded unless all of it is sound. Any problem (a
 * missing, truncated or corrupted file, a tensor of the wrong shape, a checkpoint of another
 * config) throws a `TrainError` whose message is `Cannot resume from <dir>: <problem>`.
 *
 * @example
 * ```ts ignore
 * import { resumeFrom } from "./checkpoint_io.ts";
 *
 * const state = await resumeFrom(`${runDir}/checkpoints/last`, { cfg, model, opt, trainRng, trainRows });
 * console.log(state.step);
 * ```
 */
export async function resumeFrom(
  dir: string,
  into: {
    cfg: PretrainConfig;
    model: ArithmeticModel;
    opt: AdamW;
    trainRng: Rng;
    trainRows: number;
  },
): Promise<CheckpointState> {
  const { cfg, model } = into;
  try {
    const state = await readPart(join(dir, "state.json"), () => readCheckpointState(dir));
    if (state.config_hash !== await runConfigHash(cfg)) {
      throw new TrainError(
        `it was trained with another config (${await configDiff(dir, cfg)}); ` +
          `use another name= for a new run`,
      );
    }
    const raw = (await readPart(join(dir, "model.safetensors"), readSafetensors)).tensors;
    const file = Object.fromEntries(Object.entries(raw).map(([k, t]) => [normalizeKey(k), t]));
    const opt = await readPart(join(dir, "optimizer.safetensors"), readSafetensors);
    const weights = takeParams(model, file, "model.safetensors");
    const m = takeParams(model, opt.tensors, "optimizer.safetensors", "exp_avg.");
    const v = takeParams(model, opt.tensors, "optimizer.safetensors", "exp_avg_sq.");
    const step = Number(opt.metadata.step);
    if (!Number.isSafeInteger(step) || step < 0) {
      throw new TrainError(`optimizer.safetensors has no valid step count in its metadata`);
    }
    const rng = state.rng as { model: number[]; train: number[] };
    const six = (x: unknown) => Array.isArray(x) && x.length === 6 && x.every(Number.isFinite);
    if (!six(rng?.model) || !six(rng?.train) || !Number.isSafeInteger(state.seed)) {
      throw new TrainError(`state.json lacks the seed or the random generator states`);
    }
    if (state.data.position > into.trainRows) {
      throw new TrainError(
        `its data position ${state.data.position} is past the train split ` +
          `(${into.trainRows} rows)`,
      );
    }
    model.arena.writeAll(weights);
    into.opt.loadStateDict({ step, m, v });
    model.rng.setState(rng.model);
    into.trainRng.setState(rng.train);
    return state;
  } catch (e) {
    if (!(e instanceof TrainError)) throw e;
    throw new TrainError(`Cannot resume from ${dir}: ${e.message}`);
  }
}
