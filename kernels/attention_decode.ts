/**
 * Incremental causal attention for decoding with a key/value cache: the new positions' keys
 * (rotated at their absolute positions) and values are appended to the cache, then each new
 * query attends to every cached key up to its own position. The cache length changes every
 * step, so it is a uniform parameter (or a per-row buffer), never baked into the shader.
 * @module
 */
import { type Buf, type FloatArray, grid1d, type KernelContext } from "./context.ts";
import { type Kernel, kernel } from "./program.ts";
import { checkAttentionSizes, qkvColumn, ROTARY_BASE } from "./_attention_code.ts";
import { rotaryFrequencies, rotateRow } from "./_attention_rotary.ts";
import { APPEND, ATTEND, type AttentionDecodeArgs, decodeKey } from "./_attention_decode_code.ts";

export type { AttentionDecodeArgs } from "./_attention_decode_code.ts";

function check(a: AttentionDecodeArgs<unknown, unknown>): void {
  const err = checkAttentionSizes(a.batch, a.steps, a.heads, a.headDim, !!a.rotary);
  if (err) throw new Error(err);
  if (!a.lengths && a.cacheLen + a.steps > a.capacity) {
    throw new Error(
      `Attention cache overflow: ${a.cacheLen} cached + ${a.steps} new > capacity ${a.capacity}`,
    );
  }
}

/**
 * Decoding step of causal multi-head attention with a key/value cache, on the GPU.
 *
 * Appends the new positions' keys (rotated at absolute position cacheLen + t when `rotary`)
 * and values to the caches, then computes, for each new query t, attention over cache
 * positions 0..cacheLen + t. Two dispatches; `cacheLen` (or the per-row `lengths`) and the
 * rotary offset travel as parameters, so one pipeline serves every step. A whole prompt can
 * be prefilled with `steps` = its length and `cacheLen` = 0. Equals full causal attention
 * (`attentionForward`) position by position.
 */
function attentionDecodeForward(ctx: KernelContext, a: AttentionDecodeArgs<Buf>): void {
  check(a);
  const params = {
    cacheLen: a.cacheLen,
    offset: a.rotary?.offset ?? 0,
    biasStride: a.biasStride ?? a.capacity,
  };
  const wg = ctx.isCpuAdapter ? 8 : 32;
  const key = decodeKey(a, wg);
  const { qkv, lengths, kCache: kc, vCache: vc } = a;
  const n = a.batch * a.steps * a.heads * a.headDim;
  APPEND.run(ctx, { key, bind: { qkv, lengths, kc, vc }, params, count: n });
  ATTEND.run(ctx, {
    key,
    bind: { qkv, kc, vc, bias: a.bias, lengths, out: a.out },
    params,
    workgroups: grid1d(a.batch * a.heads, ctx.maxWorkgroups),
  });
}

/** CPU reference of `attentionDecodeForward` (doubles; writes the caches and the output). */
function attentionDecodeForwardCpu(
  a: AttentionDecodeArgs<FloatArray, ArrayLike<number>>,
): void {
  check(a);
  const { batch, steps, heads, headDim: hd, capacity, layout } = a;
  const h3 = 3 * heads * hd, H = heads * hd;
  const freqs = a.rotary ? rotaryFrequencies(hd, a.rotary.base ?? ROTARY_BASE) : null;
  const off = a.rotary?.offset ?? 0;
  const scale = 1 / Math.sqrt(hd);
  const row = new Float64Array(hd);
  for (let b = 0; b < batch; b++) {
    const L = a.lengths ? a.lengths[b] : a.cacheLen;
    for (let t = 0; t < steps && L + t < capacity; t++) {
      for (let h = 0; h < heads; h++) {
        const src = (b * steps + t) * h3;
        for (let d = 0; d < hd; d++) row[d] = a.qkv[src + qkvColumn(layout, heads, hd, 1, h) + d];
        if (freqs) rotateRow(row, 0, hd, L + t + off, freqs, false);
        const o = ((b * heads + h) * capacity + L + t) * hd;
        for (let d = 0; d < hd; d++) {
          a.kCache[o + d] = row[d];
          a.vCache[o + d] = a.qkv[src + qkvColumn(layout, heads, hd, 2, h) + d];
        }
      }
    }
    for (let t = 0; t < steps; t++) {
      const pos = L + t, nk = Math.min(pos + 1, capacity);
      for (let h = 0; h < heads; h++) {
        const src = (b * steps + t) * h3 + qkvColumn(layout, heads, hd, 0, h);
        for (let d = 0; d < hd; d++) row[d] = a.qkv[src + d];
        if (freqs) rotateRow(row, 0, hd, pos + off, freqs, false);
        const s = new Float64Array(nk);
        let m = -Infinity;
        const stride = a.biasStride ?? capacity;
        const brow = a.biasPerRow
          ? ((b * heads + h) * steps + t) * stride
          : (h * steps + t) * stride;
        for (let j = 0; j < nk; j++) {
          const ko = ((b * heads + h) * capacity + j) * hd;
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += row[d] * a.kCache[ko + d];
          s[j] = dot * scale + (a.bias ? a.bias[brow + j] : 0);
          m = Math.max(m, s[j]);
        }
        let l = 0;
        for (let j = 0; j < nk; j++) l += s[j] = Math.exp(s[j] - m);
        for (let d = 0; d < hd; d++) {
          let acc = 0;
          for (let j = 0; j < nk; j++) {
            acc += s[j] * a.vCache[((b * heads + h) * capacity + j) * hd + d];
          }
          a.out[(b * steps + t) * H + h * hd + d] = acc / l;
        }
      }
    }
  }
}

/**
 * Attention of `steps` new positions against a key/value cache (batch, heads, capacity, headDim):
 * writes the new keys and values at the cached length, then each new query attends causally to
 * the cache and the new positions up to itself; `out` is (batch, steps, heads * headDim).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { attentionDecodeKernel } from "./attention_decode.ts";
 * // one head of dim 1, a cached key/value (q.k = 0 everywhere): the new query averages v
 * const kCache = new Float64Array([0, 0]), vCache = new Float64Array([1, 0]);
 * const out = new Float64Array(1);
 * attentionDecodeKernel.cpu({ qkv: new Float64Array([1, 0, 3]), kCache, vCache, out,
 *   cacheLen: 1, batch: 1, steps: 1, heads: 1, headDim: 1, capacity: 2, layout: "pytorch" });
 * assert(vCache[1] === 3 && out[0] === 2);
 * ```
 */
export const attentionDecodeKernel: Kernel<
  AttentionDecodeArgs<Buf>,
  AttentionDecodeArgs<FloatArray, ArrayLike<number>>
> = kernel(attentionDecodeForward, attentionDecodeForwardCpu);
