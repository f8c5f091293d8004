/**
 * Random tensors drawn on the device: the recurrent state's initial noise. The draw at
 * (b, t, h) depends only on (seed, b, t, h), so cached decoding reproduces it exactly.
 * @module
 */
import { randomNormalAtKernel, randomNormalKernel } from "../../kernels/random.ts";
import { run } from "./_run.ts";
import type { Backend } from "../backend.ts";
import { Tensor } from "../tensor.ts";

/**
 * Draws scale * N(0, 1) noise of shape (B, T, H), keyed by position.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { randomNormalTensor } from "./random.ts";
 * import { CPU } from "../backend.ts";
 * const t = randomNormalTensor([2, 3, 4], 7, { backend: CPU, scale: 0.02 });
 * assert(t.shape.join(",") === "2,3,4");
 * ```
 * @param shape [B, T, H]
 * @param seed 32-bit seed
 * @returns the noise (no gradient)
 */
export function randomNormalTensor(
  shape: readonly [number, number, number],
  seed: number,
  options: { backend: Backend; scale?: number },
): Tensor {
  const [B, T, H] = shape;
  const out = Tensor.empty(shape, "f32", options.backend);
  run(randomNormalKernel, { B, T, H, seed, scale: options.scale, out });
  return out;
}

/**
 * Draws the noise of one new position per row: (B, 1, H) at (seed, b, positions[b], h), equal
 * to what `randomNormalTensor` draws at those positions.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { randomNormalAtTensor, randomNormalTensor } from "./random.ts";
 * import { CPU } from "../backend.ts";
 * const full = randomNormalTensor([2, 5, 3], 4, { backend: CPU });
 * const at = randomNormalAtTensor([4, 1], 3, 4, { backend: CPU });
 * strictEqual(at.data[3 + 2], full.data[(1 * 5 + 1) * 3 + 2]);
 * ```
 * @param seed 32-bit seed
 * @returns (B, 1, H) noise
 */
export function randomNormalAtTensor(
  positions: readonly number[],
  H: number,
  seed: number,
  options: { backend: Backend; scale?: number },
): Tensor {
  const B = positions.length;
  const out = Tensor.empty([B, 1, H], "f32", options.backend);
  const scale = options.scale ?? 1;
  const pos = Tensor.fromArray(positions, [B], { dtype: "u32", backend: options.backend });
  run(randomNormalAtKernel, { pos, out, B, H, seed, scale });
  pos.dispose();
  return out;
}
