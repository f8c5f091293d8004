/**
 * abacus: train and evaluate transformers on arithmetic with Abacus embeddings, every tensor op a
 * WGSL compute shader on WebGPU (any adapter: Vulkan, Metal, D3D12, or Mesa's CPU adapter), or
 * the plain-TypeScript `cpu` backend. A re-implementation of McLeish et al. 2024, "Transformers
 * Can Do Arithmetic with the Right Embeddings".
 *
 * Entry points run as tasks (`deno task train|eval|data|plot|bench|summary|demo`); this module
 * re-exports the library: tensors and ops, the model, the optimizer, data, config, checkpoints.
 *
 * @example
 * ```ts
 * import { abacusIndices, CPU, Tensor, add, getTokenizer } from "./mod.ts";
 * import { deepStrictEqual } from "node:assert/strict";
 * const tok = getTokenizer("pad");
 * const ids = tok.encode("21+43=");
 * deepStrictEqual([...abacusIndices(ids, ids.length)], [1, 2, 0, 1, 2, 0]);
 * const a = Tensor.fromArray([1, 2], [2], { backend: CPU });
 * deepStrictEqual([...await add(a, a).toArray()], [2, 4]);
 * ```
 * @module
 */
export * from "./core/tensor.ts";
export { Device, getDevice } from "./core/device.ts";
export * from "./core/ops.ts";
export {
  AbacusEmbedding,
  abacusIndices,
  DIGIT_IDS,
  drawAbacusPositions,
  longestDigitRun,
  type UniformSource,
} from "./core/nn/abacus.ts";
export { type Arch, resolveArch } from "./core/nn/arch.ts";
export { paramCounts, paramList } from "./core/nn/params.ts";
export { ParamArena } from "./core/arena.ts";
export { AdamW, type AdamWOptions } from "./core/optim.ts";
export { Rng } from "./kernels/rng.ts";
export { getTokenizer } from "./data/tokenizer.ts";
export { generateDataset, openDataset } from "./data/mod.ts";
export { loadConfig } from "./cli/config.ts";
export { readSafetensors, writeSafetensors } from "./core/safetensors.ts";
