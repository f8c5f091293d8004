/**
 * Loads a trained model for evaluation from a checkpoint folder: `model_config.json` (the arch),
 * `model.safetensors` (upstream key names, `_orig_mod.` optional) and, for the summary's
 * in/out-of-distribution split, the training dataset named in `state.json`.
 * @module
 */
import { join } from "node:path";
import { listCheckpoints } from "../../core/checkpoint.ts";
import { normalizeKey } from "../../core/state_keys.ts";
import { readSafetensors } from "../../core/safetensors.ts";
import { type Arch, resolveArch } from "../../core/nn/arch.ts";
import { ArithmeticModel } from "../../core/nn/model.ts";
import type { Backend } from "../../core/backend.ts";
import { planDataset } from "../../data/generate.ts";
import { readMeta } from "../../data/dataset.ts";
import { TRAIN_PRESETS } from "../../data/presets.ts";
import type { DatasetMeta } from "../../data/meta.ts";
import { EvalError } from "./grids.ts";
import { parseArchConfig } from "../../cli/config.ts";
import type { ArchConfig } from "../../cli/config_types.ts";
import { ConfigError } from "../../cli/overrides.ts";

/**
 * Finds the checkpoint to evaluate: `checkpoint` when given, else the run's newest.
 *
 * @example
 * ```ts ignore
 * const dir = await findCheckpoint("/tmp/x", "run", null);
 * ```
 * @param checkpoint explicit folder, or null
 * @throws EvalError when there is none
 */
export async function findCheckpoint(
  baseDir: string,
  name: string,
  checkpoint: string | null,
): Promise<string> {
  if (checkpoint) {
    try {
      await Deno.stat(join(checkpoint, "model.safetensors"));
    } catch {
      throw new EvalError(`No checkpoint at ${checkpoint}: model.safetensors is missing`);
    }
    return checkpoint;
  }
  const runDir = join(baseDir, name);
  const found = await listCheckpoints(runDir).catch(() => []);
  if (found.length === 0) {
    throw new EvalError(
      `No checkpoint for run "${name}" under ${join(runDir, "checkpoints")}: train it first`,
    );
  }
  return found[0].path;
}

/**
 * Loads a checkpoint's model onto a backend, with its architecture and the meta of its training
 * dataset ({@link readTrainingMeta}).
 *
 * @example
 * ```ts ignore
 * const { model } = await loadModel("/tmp/x/run/checkpoints/FINAL_0.0123", dev, "/tmp/x");
 * ```
 * @param baseDir base folder, to find a training dataset named by preset
 * @throws EvalError for a missing, corrupted or mismatched checkpoint
 */
export async function loadModel(
  dir: string,
  backend: Backend,
  baseDir: string,
): Promise<{ model: ArithmeticModel; arch: Arch; trainMeta: DatasetMeta | null }> {
  let raw: ArchConfig;
  const configPath = join(dir, "model_config.json");
  try {
    raw = parseArchConfig(await Deno.readTextFile(configPath), configPath);
  } catch (e) {
    if (e instanceof ConfigError) throw new EvalError(e.message);
    throw new EvalError(`Cannot read ${configPath}: ${(e as Error).message.split("\n")[0]}`);
  }
  let file;
  try {
    file = await readSafetensors(join(dir, "model.safetensors"));
  } catch (e) {
    throw new EvalError((e as Error).message.split("\n")[0]);
  }
  const tensors: Record<string, Float32Array> = {};
  for (const [k, t] of Object.entries(file.tensors)) {
    if (t.dtype === "F32") tensors[normalizeKey(k)] = t.data as Float32Array;
  }
  const word = tensors["encoder.embedding.word_embedding.weight"];
  const vocab = raw.embedding.vocab_size ?? (word ? word.length / raw.hidden_size : NaN);
  if (!Number.isInteger(vocab)) {
    throw new EvalError(`Cannot tell the vocabulary size of the checkpoint in ${dir}`);
  }
  let arch: Arch;
  try {
    arch = resolveArch(raw, vocab);
  } catch (e) {
    throw new EvalError(`Cannot build the model of ${dir}: ${(e as Error).message}`);
  }
  const model = ArithmeticModel.create(arch, { backend, seed: 0 });
  const values: Record<string, Float32Array> = {};
  for (const e of model.arena.entries) {
    const v = tensors[e.name];
    if (!v || v.length !== e.size) {
      model.dispose();
      throw new EvalError(
        `Checkpoint ${dir} does not fit its model_config.json: ${e.name} is missing or has the wrong size`,
      );
    }
    values[e.name] = v;
  }
  model.arena.writeAll(values);
  return { model, arch, trainMeta: await readTrainingMeta(dir, baseDir) };
}

/**
 * The meta of the dataset a checkpoint was trained on: the folder `state.json` recorded
 * (`data.folder`, under `<baseDir>/data`) when it is still there, else `data.dataset` read as a
 * data preset, a path, or a folder name under `<baseDir>/data`. Null when the checkpoint names
 * none or the folder is gone (callers then fall back to the project's defaults). The recorded
 * folder comes first because a preset's folder changes with its format (`tiny-multiplication`
 * gained a scratchpad), and a run must be asked in the format it was trained on.
 *
 * @example
 * ```ts
 * import { readTrainingMeta } from "./model_io.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * assert.equal(await readTrainingMeta(dir, dir), null); // no state.json
 * ```
 */
export async function readTrainingMeta(dir: string, baseDir: string): Promise<DatasetMeta | null> {
  let state;
  try {
    state = JSON.parse(await Deno.readTextFile(join(dir, "state.json")));
  } catch {
    return null;
  }
  const data = state?.data, meta = (folder: string) => readMeta(folder).catch(() => null);
  if (typeof data?.folder === "string" && !data.folder.includes("/")) {
    const recorded = await meta(join(baseDir, "data", data.folder));
    if (recorded) return recorded; // else moved or deleted: fall back to the name
  }
  const ds = data?.dataset;
  if (typeof ds !== "string") return null;
  return await meta(
    TRAIN_PRESETS[ds]
      ? planDataset({ preset: ds, baseDir }).out
      : ds.includes("/")
      ? ds
      : join(baseDir, "data", ds),
  );
}
