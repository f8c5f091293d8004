/**
 * Loads a trained model for evaluation from a checkpoint folder (`weights.ts` builds it) and, for
 * the summary's in/out-of-distribution split, the training dataset named in `state.json`.
 * @module
 */
import { join } from "node:path";
import { listCheckpoints } from "../../core/checkpoint.ts";
import { readSafetensors } from "../../core/safetensors.ts";
import type { ArithmeticModel } from "../../core/nn/model.ts";
import type { Backend } from "../../core/backend.ts";
import { planDataset } from "../../data/generate.ts";
import { type DatasetMeta, readMeta } from "../../data/dataset.ts";
import { TRAIN_PRESETS } from "../../data/presets.ts";
import { EvalError } from "./grids.ts";
import { parseArchConfig } from "../../cli/config.ts";
import { ConfigError } from "../../cli/overrides.ts";
import { checkpointModel } from "./weights.ts";

/**
 * Loads the checkpoint to evaluate onto a backend (`checkpoint` when given, else the run's
 * newest), with the meta of its training dataset ({@link readTrainingMeta}).
 *
 * @example
 * ```ts ignore
 * const { dir, model } = await loadCheckpoint("/tmp/x", "run", null, dev);
 * ```
 * @param baseDir base folder, to find the run and a training dataset named by preset
 * @throws EvalError for a missing, corrupted or mismatched checkpoint
 */
export async function loadCheckpoint(
  baseDir: string,
  name: string,
  checkpoint: string | null,
  backend: Backend,
): Promise<{ dir: string; model: ArithmeticModel; trainMeta: DatasetMeta | null }> {
  let dir = checkpoint;
  if (dir) {
    await Deno.stat(join(dir, "model.safetensors")).catch(() => {
      throw new EvalError(`No checkpoint at ${checkpoint}: model.safetensors is missing`);
    });
  } else {
    const runDir = join(baseDir, name);
    dir = (await listCheckpoints(runDir).catch(() => []))[0]?.path;
    if (!dir) {
      throw new EvalError(
        `No checkpoint for run "${name}" under ${join(runDir, "checkpoints")}: train it first`,
      );
    }
  }
  const configPath = join(dir, "model_config.json");
  const raw = await Deno.readTextFile(configPath).then((text) => parseArchConfig(text, configPath))
    .catch((e: Error) => {
      if (e instanceof ConfigError) throw new EvalError(e.message);
      throw new EvalError(`Cannot read ${configPath}: ${e.message.split("\n")[0]}`);
    });
  const model = await readSafetensors(join(dir, "model.safetensors"))
    .then((file) => checkpointModel(raw, file, backend, dir))
    .catch((e: Error) => {
      throw new EvalError(e.message.split("\n")[0]);
    });
  return { dir, model, trainMeta: await readTrainingMeta(dir, baseDir) };
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
  const state = await Deno.readTextFile(join(dir, "state.json")).then(JSON.parse)
    .catch(() => null); // none or unreadable: nothing recorded
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
