/**
 * The recurrent state's starting value (upstream's `initialize_state`): the embedded input itself
 * when `initial_hidden_randomized` is off, else zeros, 0.02 * N(0, 1) (`embed`), N(0, 1)
 * (`normal`) or per-row standardised noise (`unit`). The noise at (row, position, channel)
 * depends only on the seed, so a cached decode that starts one position per row draws what a
 * full forward draws.
 * @module
 */
import { zeros } from "../ops/basic.ts";
import { randomNormalAtTensor, randomNormalTensor } from "../ops/random.ts";
import { type Backend, CPU } from "../backend.ts";
import { Tensor } from "../tensor.ts";
import type { Arch } from "./arch.ts";

/** Standardises each H-long row in place (mean 0, unbiased std 1), as `state_init: unit`. */
function standardizeRows(v: Float32Array, H: number): void {
  for (let r = 0; r * H < v.length; r++) {
    const row = v.subarray(r * H, r * H + H);
    const m = row.reduce((s, x) => s + x, 0) / H;
    const sd = Math.sqrt(row.reduce((s, x) => s + (x - m) ** 2, 0) / Math.max(1, H - 1));
    for (let h = 0; h < H; h++) row[h] = (row[h] - m) / sd;
  }
}

/**
 * The initial state for embedded input x (B, T, H). Positions are 0..T-1 in every row, or
 * `positions[b]` (one per row, T = 1) when given.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { initialState } from "./state.ts";
 * import { resolveArch } from "./arch.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const arch = resolveArch({ hidden_size: 4, intermed_size: 8, attention: { num_attention_heads: 1 } }, 19);
 * const x = Tensor.fromArray(new Float32Array(2 * 3 * 4), [2, 3, 4], { backend: CPU });
 * const full = initialState(arch, x, 7);
 * const one = initialState(arch, Tensor.fromArray(new Float32Array(8), [2, 1, 4], { backend: CPU }), 7, [2, 1]);
 * strictEqual(one.data[4 + 3], full.data[(1 * 3 + 1) * 4 + 3]);
 * ```
 * @param arch architecture (`initial_hidden_randomized`, `state_init`)
 * @param x embedded input (B, T, H), on the backend the state is made on
 * @param positions each row's position (decoding one position per row)
 * @returns the state (B, T, H)
 */
export function initialState(arch: Arch, x: Tensor, seed: number, positions?: number[]): Tensor {
  const [B, T, H] = x.shape as [number, number, number], backend = x.backend;
  if (!arch.initialHiddenRandomized) return x;
  if (arch.stateInit === "zero") return zeros([B, T, H], { backend });
  const noise = (be: Backend, scale: number) =>
    positions
      ? randomNormalAtTensor(positions, H, seed, { backend: be, scale })
      : randomNormalTensor([B, T, H], seed, { backend: be, scale });
  if (arch.stateInit !== "unit") return noise(backend, arch.stateInit === "embed" ? 0.02 : 1);
  const v = Float32Array.from(noise(CPU, 1).data);
  standardizeRows(v, H);
  return Tensor.fromArray(v, [B, T, H], { backend });
}
