/**
 * A checkpoint's model, built from its files for the eval task and the serve playground (no Deno
 * API here: the playground's browser bundle imports it): the architecture from
 * `model_config.json`, the vocabulary size from it or the word embedding's rows, and the
 * parameters from `model.safetensors` (upstream key names, `_orig_mod.` optional).
 * @module
 */
import type { Backend } from "../../core/backend.ts";
import { type Arch, resolveArch } from "../../core/nn/arch.ts";
import { ArithmeticModel } from "../../core/nn/model.ts";
import type { SafetensorsContent } from "../../core/safetensors.ts";
import { normalizeKey } from "../../core/state_keys.ts";
import type { ArchConfig } from "../../cli/config_types.ts";

/**
 * Builds a checkpoint's model on a backend from its parsed `model_config.json` and
 * `model.safetensors`, and writes its parameters; other tensors of the file are ignored.
 *
 * @example
 * ```ts
 * import { throws } from "node:assert/strict";
 * import { CPU } from "../../core/backend.ts";
 * import type { ArchConfig } from "../../cli/config_types.ts";
 * import { checkpointModel } from "./weights.ts";
 * const raw = { hidden_size: 16, embedding: {} } as ArchConfig;
 * throws(
 *   () => checkpointModel(raw, { tensors: {}, metadata: {} }, CPU, "ck"),
 *   /Cannot tell the vocabulary size of the checkpoint in ck/,
 * );
 * ```
 * @param where the checkpoint's folder, for the messages
 * @throws Error with one line when the vocabulary size is unknown, the config does not resolve,
 *   or a parameter is missing or has the wrong size
 */
export function checkpointModel(
  raw: ArchConfig,
  file: SafetensorsContent,
  backend: Backend,
  where: string,
): ArithmeticModel {
  const tensors: Record<string, Float32Array> = {};
  for (const [k, t] of Object.entries(file.tensors)) {
    if (t.dtype === "F32") tensors[normalizeKey(k)] = t.data as Float32Array;
  }
  const word = tensors["encoder.embedding.word_embedding.weight"];
  const vocab = raw.embedding.vocab_size ?? (word ? word.length / raw.hidden_size : NaN);
  if (!Number.isInteger(vocab)) {
    throw new Error(`Cannot tell the vocabulary size of the checkpoint in ${where}`);
  }
  let arch: Arch;
  try {
    arch = resolveArch(raw, vocab);
  } catch (e) {
    throw new Error(`Cannot build the model of ${where}: ${(e as Error).message}`);
  }
  const model = ArithmeticModel.create(arch, { backend, seed: 0 });
  const bad = model.arena.entries.find((e) => tensors[e.name]?.length !== e.size);
  if (bad) {
    model.dispose();
    throw new Error(
      `Checkpoint ${where} does not fit its model_config.json: ${bad.name} is missing or has the wrong size`,
    );
  }
  model.arena.writeAll(
    Object.fromEntries(model.arena.entries.map((e) => [e.name, tensors[e.name]])),
  );
  return model;
}
