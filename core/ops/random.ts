/**
 * Random tensors drawn on the device: the recurrent state's initial noise. The draw at
 * (b, t, h) depends only on (seed, b, pos0 + t, h), so cached decoding reproduces it exactly.
 * @module
 */
import { randomNormal, randomNormalCpu } from "../../kernels/random.ts";
import { type Backend, Tensor } from "../tensor.ts";

/**
 * Draws scale * N(0, 1) noise of shape (B, T, H), keyed by position.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { randomNormalTensor } from "./random.ts";
 * import { CPU } from "../tensor.ts";
 * const t = randomNormalTensor([2, 3, 4], 7, { backend: CPU, scale: 0.02 });
 * assert(t.shape.join(",") === "2,3,4");
 * ```
 * @param shape [B, T, H]
 * @param seed 32-bit seed
 * @param options backend, scale, first position
 * @returns the noise (no gradient)
 */
export function randomNormalTensor(
  shape: readonly [number, number, number],
  seed: number,
  options: { backend: Backend; scale?: number; pos0?: number },
): Tensor {
  const [B, T, H] = shape;
  const out = Tensor.empty(shape, "f32", options.backend);
  const args = { B, T, H, seed, scale: options.scale ?? 1, pos0: options.pos0 ?? 0 };
  if (options.backend.kind === "cpu") randomNormalCpu({ ...args, out: out.data as Float32Array });
  else randomNormal(options.backend, { ...args, out: out.buffer });
  return out;
}
