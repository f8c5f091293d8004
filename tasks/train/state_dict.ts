// The tensors of `model.safetensors` as upstream's PyTorch model names and lays them out: every
// parameter under its state-dict key (with the `_orig_mod.` segment of upstream's compiled
// block), the buffers upstream's `load_state_dict` expects, and a tied decoder written twice.
// Reference: docs/checkpoint.md (upstream's state-dict keys).

import type { Arch } from "../../core/nn/arch.ts";
import type { ArithmeticModel } from "../../core/nn/model.ts";
import { blockLayout, layerPrefix } from "../../core/nn/params.ts";
import type { TensorInput } from "../../core/safetensors.ts";
import { FIRE_INIT_L } from "../../kernels/fire.ts";

/**
 * Upstream's buffers, which its `load_state_dict` expects beside the weights: `position_ids`
 * (I64 [1, P]) for learned or Abacus positions, `attn.norm_factor` (head_dim^-0.5) for
 * self-attention layers and FIRE's fixed `rotary_emb.init_L`.
 *
 * @returns Buffers by state-dict key.
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
  const { blocks, layersPerBlock } = blockLayout(arch);
  for (let j = 0; j < blocks; j++) {
    for (let i = 0; i < layersPerBlock; i++) {
      const p = layerPrefix(arch, j, i);
      if (arch.attentionType !== "self-attention") continue;
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
 * Every tensor of `model.safetensors`: the weights, the buffers, and with tied weights the
 * word embedding again as `decoder.weight` (upstream's state dict lists both).
 *
 * @example
 * ```ts ignore
 * import { modelTensors } from "./state_dict.ts";
 * import { writeSafetensors } from "../../core/safetensors_write.ts";
 *
 * await writeSafetensors(path, modelTensors(model, await model.arena.readAll()), { format: "pt" });
 * ```
 *
 * @param model The model (for its arch and parameter shapes).
 * @param weights Its values by state-dict key (`model.arena.readAll()`).
 * @returns Tensors by state-dict key.
 */
export function modelTensors(
  model: ArithmeticModel,
  weights: Record<string, Float32Array>,
): Record<string, TensorInput> {
  const out: Record<string, TensorInput> = {};
  for (const e of model.arena.entries) {
    out[e.name] = { dtype: "F32", shape: e.param.shape, data: weights[e.name] };
  }
  if (model.arch.tieWeights) {
    out["decoder.weight"] = { ...out["encoder.embedding.word_embedding.weight"] };
  }
  return { ...out, ...bufferTensors(model.arch) };
}
