/**
 * Tensor-level causal multi-head self-attention on either backend: the fused q/k/v projection
 * in, the heads' outputs out, with optional FIRE bias and rotary embedding, and its gradient
 * rule (qkv and bias) recorded for backward. Also the key/value-cached decoding step.
 * @module
 */
import {
  attentionBackwardKernel,
  attentionDecodeKernel,
  attentionKernel,
  type AttentionLayout,
  type RotaryOptions,
} from "../../kernels/attention.ts";
import { record } from "../autograd.ts";
import { Tensor } from "../tensor.ts";
import { checkTensors, needsGrad, saveForBackward, shapeStr } from "./save.ts";
import { run } from "./_run.ts";

export type { AttentionLayout, RotaryOptions } from "../../kernels/attention.ts";

/** Options of `causalAttention`. */
export interface CausalAttentionOptions {
  /** Number of heads; the head dimension is H / heads. */
  heads: number;
  /** Column layout of `qkv` (default `"pytorch"`, nn.MultiheadAttention's in_proj order). */
  layout?: AttentionLayout;
  /** Additive score bias per head (FIRE), (heads, T, T): bias[h, query, key]. */
  bias?: Tensor;
  /** Rotary embedding of q and k (base 10000, positions from 0 unless set). */
  rotary?: boolean | RotaryOptions;
}

function rotaryOf(r: boolean | RotaryOptions | undefined): RotaryOptions | undefined {
  return r === true ? {} : r ? r : undefined;
}

/** Checks a fused (B, T, 3H) projection against the head count; returns the head dimension. */
function headDimOf(op: string, qkv: Tensor, heads: number): number {
  checkTensors(op, [qkv]);
  const [, , h3] = qkv.shape;
  if (qkv.shape.length !== 3 || !Number.isInteger(heads) || heads < 1 || h3 % (3 * heads)) {
    throw new Error(
      `Cannot ${op} qkv of shape ${shapeStr(qkv.shape)} with ${heads} heads: ` +
        `expected (B, T, 3H) with H divisible by the heads`,
    );
  }
  return h3 / (3 * heads);
}

/**
 * Causal multi-head self-attention on a fused projection.
 *
 * `qkv` is (B, T, 3H) in `layout`; per head, scores q.k / sqrt(hd) (+ `bias`), masked so
 * position i attends to j <= i, softmax, weighted sum of v. Returns (B, T, H) with head h at
 * columns h*hd (ready for the output projection). Gradients flow to `qkv` and `bias`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { causalAttention } from "./attention.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * // B 1, T 2, 1 head of dim 1: q = k = 0, so position 1 averages v = [1, 3]
 * const qkv = Tensor.fromArray([0, 0, 1, 0, 0, 3], [1, 2, 3], { backend: CPU });
 * const out = await causalAttention(qkv, { heads: 1 }).toArray();
 * assert(out[0] === 1 && out[1] === 2);
 * ```
 * @param qkv fused projection, (B, T, 3H)
 * @returns (B, T, H)
 * @throws Error on a bad rank, a width not divisible into heads, a bias of the wrong shape,
 *   an odd head dimension with rotary, or mixed backends
 */
export function causalAttention(qkv: Tensor, options: CausalAttentionOptions): Tensor {
  const { heads, bias } = options;
  const layout = options.layout ?? "pytorch";
  const rotary = rotaryOf(options.rotary);
  const headDim = headDimOf("attend over", qkv, heads);
  const [batch, seq] = qkv.shape;
  if (rotary && headDim % 2) {
    throw new Error(`Cannot apply rotary embedding to heads of odd dimension ${headDim}`);
  }
  if (bias) {
    checkTensors("attend over", [qkv, bias]);
    if (bias.shape.join() !== [heads, seq, seq].join()) {
      throw new Error(
        `Cannot add an attention bias of shape ${shapeStr(bias.shape)}: expected ` +
          shapeStr([heads, seq, seq]),
      );
    }
  }
  const be = qkv.backend;
  const sizes = { batch, seq, heads, headDim, layout, rotary };
  const out = Tensor.empty([batch, seq, heads * headDim], "f32", be);
  if (batch * seq === 0) return out;
  const grad = needsGrad(qkv, ...(bias ? [bias] : []));
  const lse = grad ? Tensor.empty([batch, heads, seq], "f32", be) : null;
  run(attentionKernel, { ...sizes, qkv, out, lse, bias });
  if (!grad || !lse) return out;
  const sq = saveForBackward(qkv), so = saveForBackward(out);
  const sb = bias ? saveForBackward(bias) : null;
  const inputs = bias ? [qkv, bias] : [qkv];
  return record(out, inputs, (g) => {
    const dq = Tensor.empty(qkv.shape, "f32", be);
    const db = sb && bias?.requiresGrad ? Tensor.empty(sb.shape, "f32", be) : null;
    const grads = { dout: g, dqkv: dq, dbias: db };
    run(attentionBackwardKernel, { ...sizes, qkv: sq, out: so, lse, bias: sb, ...grads });
    return bias ? [dq, db] : [dq];
  }, [sq, so, lse, ...(sb ? [sb] : [])]);
}

/** Options of `attentionDecode`. */
export interface AttentionDecodeOptions {
  heads: number;
  /** Column layout of `qkv` (default `"pytorch"`). */
  layout?: AttentionLayout;
  /** Positions already cached in every row (ignored when `lengths` is given). */
  cacheLen?: number;
  /** Per-row cached lengths, (B) i32 or u32. */
  lengths?: Tensor;
  /**
   * Additive bias of the new queries against cache positions: (heads, steps, S), or
   * (B, heads, steps, S) with `biasPerRow`; S (the row length) may be anything up to the
   * capacity, e.g. FIRE's rows over the current length.
   */
  bias?: Tensor;
  /** Whether `bias` has a leading batch dimension. */
  biasPerRow?: boolean;
  /** Rotary embedding at absolute positions (the cache then holds rotated keys). */
  rotary?: boolean | RotaryOptions;
}

/**
 * One decoding step of causal attention with a key/value cache (no gradient).
 *
 * Appends the new positions' keys and values of `qkv` (B, steps, 3H) to `kCache` and `vCache`
 * (B, heads, capacity, hd), in place, at positions cacheLen.. (per row with `lengths`), then
 * returns each new query's attention over every cached position up to its own, (B, steps, H).
 * Prefill a prompt with `cacheLen` 0 and steps = its length; the result equals
 * `causalAttention` on the whole sequence.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { attentionDecode } from "./attention.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const kCache = Tensor.fromArray([0, 0], [1, 1, 2, 1], { backend: CPU });
 * const vCache = Tensor.fromArray([1, 0], [1, 1, 2, 1], { backend: CPU });
 * const qkv = Tensor.fromArray([1, 0, 3], [1, 1, 3], { backend: CPU }); // k = 0, v = 3
 * const out = await attentionDecode(qkv, kCache, vCache, { heads: 1, cacheLen: 1 }).toArray();
 * assert(out[0] === 2); // mean of the cached v = 1 and the new v = 3
 * ```
 * @param qkv fused projection of the new positions, (B, steps, 3H)
 * @param kCache rotated keys, (B, heads, capacity, hd), updated in place
 * @param vCache values, (B, heads, capacity, hd), updated in place
 * @returns (B, steps, H)
 * @throws Error on mismatched shapes, a cache overflow, or mixed backends
 */
export function attentionDecode(
  qkv: Tensor,
  kCache: Tensor,
  vCache: Tensor,
  options: AttentionDecodeOptions,
): Tensor {
  const { heads, bias, lengths } = options;
  const layout = options.layout ?? "pytorch";
  const rotary = rotaryOf(options.rotary);
  const all = [qkv, kCache, vCache, ...(bias ? [bias] : []), ...(lengths ? [lengths] : [])];
  checkTensors("decode attention over", all, null);
  checkTensors("decode attention over", [kCache, vCache, ...(bias ? [bias] : [])]);
  const headDim = headDimOf("decode attention over", qkv, heads);
  const [batch, steps] = qkv.shape;
  const capacity = kCache.shape[2];
  for (const c of [kCache, vCache]) {
    const s = c.shape;
    if (
      s.length !== 4 || s[0] !== batch || s[1] !== heads || s[2] !== capacity || s[3] !== headDim
    ) {
      throw new Error(
        `Cannot use a key/value cache of shape ${shapeStr(s)}: expected ` +
          `[${batch}, ${heads}, capacity, ${headDim}] with both caches alike`,
      );
    }
  }
  if (lengths) {
    checkTensors("decode attention with lengths", [lengths], ["i32", "u32"]);
    if (lengths.shape.join() !== String(batch)) {
      throw new Error(
        `Cannot use cache lengths of shape ${shapeStr(lengths.shape)}: expected [${batch}]`,
      );
    }
  }
  let biasStride: number | undefined;
  if (bias) {
    const lead = options.biasPerRow ? [batch, heads, steps] : [heads, steps];
    const s = bias.shape;
    if (
      s.length !== lead.length + 1 || s.slice(0, -1).join() !== lead.join() ||
      s[s.length - 1] > capacity
    ) {
      throw new Error(
        `Cannot add a decoding bias of shape ${shapeStr(s)}: expected [${lead.join(", ")}, S] ` +
          `with S <= ${capacity}`,
      );
    }
    biasStride = s[s.length - 1];
  }
  const cacheLen = options.cacheLen ?? 0, biasPerRow = options.biasPerRow;
  const sizes = { batch, steps, heads, headDim, capacity, layout, rotary, cacheLen, biasStride };
  const be = qkv.backend;
  const out = Tensor.empty([batch, steps, heads * headDim], "f32", be);
  if (batch * steps === 0) return out;
  run(attentionDecodeKernel, { ...sizes, biasPerRow, qkv, kCache, vCache, out, bias, lengths });
  return out;
}
