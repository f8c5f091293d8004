/**
 * FIRE, the learned relative-position attention bias of one attention layer (upstream's `FIRE`
 * module, selected by `arch.attention.rotary_embedding=fire`): normalised log distances between
 * positions go through a small MLP, Linear(1, 32) -> ReLU -> Linear(32, heads), whose output is
 * added to the attention scores. Positions may be randomised during training.
 * Reference: Li et al. 2023, "Functional Interpolation for Relative Positions Improves Long
 * Context Transformers"; upstream cramming `embeddings.py` class `FIRE`.
 * @module
 */
import { add } from "../ops/elementwise.ts";
import { fireDistances } from "../ops/fire.ts";
import { permute } from "../ops/layout.ts";
import { linear } from "../ops/matmul.ts";
import { relu } from "../ops/unary.ts";
import { needsGrad } from "../ops/save.ts";
import { scope, Tensor } from "../tensor.ts";

/** One layer's FIRE parameters (views into the model's arena). */
export interface FireParams {
  /** `mlp.0.weight`, (32, 1). */
  mlp0Weight: Tensor;
  /** `mlp.0.bias`, (32). */
  mlp0Bias: Tensor;
  /** `mlp.2.weight`, (heads, 32). */
  mlp2Weight: Tensor;
  /** `mlp.2.bias`, (heads). */
  mlp2Bias: Tensor;
  /** The learnable scale c, one element. */
  c: Tensor;
  /** The learnable `L_multiplier`, one element. */
  lMult: Tensor;
}

/** Upstream's state-dict key suffixes of FIRE's parameters (after `...layers.{i}.attn.rotary_emb.`). */
export const FIRE_KEYS: Readonly<Record<keyof FireParams, string>> = Object.freeze({
  mlp0Weight: "mlp.0.weight",
  mlp0Bias: "mlp.0.bias",
  mlp2Weight: "mlp.2.weight",
  mlp2Bias: "mlp.2.bias",
  c: "c",
  lMult: "L_multiplier",
});

/** Options of `firePositions` and `fireBias`. */
export interface FireBiasOptions {
  /** Training mode: positions are randomised when `maxLength >= S` (default false). */
  training?: boolean;
  /** Upstream's `arch.attention.max_length`: draw positions from 0..maxLength-1 (0 = off). */
  maxLength?: number;
  /** Random source in [0, 1) for randomised positions (default `Math.random`). */
  random?: () => number;
}

/**
 * The positions FIRE uses for a sequence of length S.
 *
 * In training with `maxLength >= S` (and `maxLength > 0`): the sorted first S entries of a
 * random permutation of 0..maxLength-1 (upstream: `randperm(max_length)[:S].sort()`), drawn by a
 * partial Fisher-Yates shuffle with `random`; otherwise 0..S-1.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { firePositions } from "./fire.ts";
 * assert(firePositions(3).join() === "0,1,2");
 * const p = firePositions(4, { training: true, maxLength: 100, random: () => 0.5 });
 * assert(p.length === 4 && p[0] < p[1] && p[2] < p[3] && p[3] < 100);
 * ```
 * @returns S ascending distinct integer positions, as f32
 */
export function firePositions(S: number, options: FireBiasOptions = {}): Float32Array {
  const max = options.maxLength ?? 0;
  if (!options.training || max <= 0 || max < S) {
    return Float32Array.from({ length: S }, (_, i) => i);
  }
  const random = options.random ?? Math.random;
  const perm = Int32Array.from({ length: max }, (_, i) => i);
  for (let i = 0; i < S; i++) {
    const k = i + Math.min(max - i - 1, Math.floor(random() * (max - i)));
    [perm[i], perm[k]] = [perm[k], perm[i]];
  }
  return Float32Array.from(perm.subarray(0, S).sort());
}

/**
 * One layer's FIRE attention bias for a sequence of length S, (heads, S, S).
 *
 * Positions come from `firePositions` (randomised in training when `maxLength >= S`); the
 * distances (S, S) go through the MLP per entry, and the result is laid out per head.
 * Gradients flow to all six parameters. While gradients are recorded, intermediate tensors stay
 * alive for backward and the caller's `scope` frees them; without gradients they are freed here.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { fireBias } from "./fire.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const t = (shape: number[], v = 0.1) =>
 *   Tensor.fromArray(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(v), shape, { backend: CPU });
 * const p = { mlp0Weight: t([32, 1]), mlp0Bias: t([32]), mlp2Weight: t([2, 32]), mlp2Bias: t([2]),
 *   c: t([1]), lMult: t([1], 1) };
 * assert(fireBias(p, 5).shape.join() === "2,5,5");
 * ```
 * @param S sequence length (keys)
 * @returns the bias, (heads, S, S)
 */
export function fireBias(p: FireParams, S: number, options: FireBiasOptions = {}): Tensor {
  const heads = p.mlp2Bias.size, backend = p.c.backend;
  const build = () => {
    const positions = Tensor.fromArray(firePositions(S, options), [S], { backend });
    const d = fireDistances(positions, { c: p.c, lMult: p.lMult }); // (S, S)
    const x = d.reshape([S * S, 1]);
    const h = relu(add(linear(x, p.mlp0Weight), p.mlp0Bias)); // (S S, 32)
    const out = add(linear(h, p.mlp2Weight), p.mlp2Bias); // (S S, heads)
    return permute(out.reshape([S, S, heads]), [2, 0, 1]); // (heads, S, S)
  };
  return needsGrad(...Object.values(p)) ? build() : scope(build);
}
