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
export * from "./core/backend.ts";
export { Device, getDevice } from "./core/device.ts";
export { record } from "./core/autograd.ts";
export * from "./core/ops/basic.ts";
export * from "./core/ops/elementwise.ts";
export * from "./core/ops/unary.ts";
export * from "./core/ops/reduce.ts";
export * from "./core/ops/softmax.ts";
export * from "./core/ops/loss.ts";
export * from "./core/ops/layernorm.ts";
export * from "./core/ops/embedding.ts";
export * from "./core/ops/glu.ts";
export * from "./core/ops/layout.ts";
export * from "./core/ops/random.ts";
export * from "./core/ops/matmul.ts";
export * from "./core/ops/attention.ts";
export * from "./core/ops/fire.ts";
export * from "./core/ops/backward.ts";
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
export { generateDataset } from "./data/generate.ts";
export { openDataset } from "./data/dataset.ts";
export { loadConfig } from "./cli/config.ts";
export { writeSafetensors } from "./core/safetensors_write.ts";
export { readSafetensors } from "./core/safetensors.ts";
