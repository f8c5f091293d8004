/**
 * Backward of causal multi-head self-attention (`attention.ts`), flash-attention style: the
 * probabilities are recomputed from q.k and the saved row log-sum-exp, one kernel accumulates
 * dq per query block and another dk, dv per key block, so each gradient row has exactly one
 * writer and sums run in a fixed order: deterministic, with no atomics.
 * @module
 */
import type { Buf, FloatArray, KernelContext } from "./context.ts";
import { type Kernel, kernel } from "./program.ts";
import { checkAttentionSizes, qkvColumn, ROTARY_BASE } from "./_attention_code.ts";
import { qkRows, rotaryFrequencies, rotateQk, rotateRow } from "./_attention_rotary.ts";
import { attentionTiling, shapeKey, tuningNumber } from "./_attention_rows.ts";
import { type AttentionBackwardArgs, BIAS_REDUCE, KEY, QUERY } from "./_attention_backward_code.ts";

export type { AttentionBackwardArgs } from "./_attention_backward_code.ts";

/** Most bytes of per-batch ds scratch one chunk of the bias gradient uses. */
const DS_BYTES = 64 << 20;

/**
 * Causal multi-head self-attention backward on the GPU.
 *
 * Writes the gradient of `qkv` (through the rotary rotation, same layout) and, when `dbias` is
 * given, the bias gradient summed over the batch. Dispatches: the rotary pre-pass (with
 * `rotary`), the query kernel (dq, and D_i = dO_i.O_i), the key kernel (dk, dv), and with
 * `dbias` a fixed-order reduction over the batch of the per-batch ds (B, heads, T, T) that the
 * query kernel wrote (in chunks of batch rows when that scratch would pass 64 MiB, or the
 * `attention.dsBatch` tuning value). Deterministic: every output element has one writer and
 * every sum a fixed order.
 *
 * Reference: Dao et al. 2022, FlashAttention, Algorithm 4 (backward with recomputation):
 * ds_ij = p_ij (dO_i.v_j - dO_i.O_i).
 */
function attentionBackward(ctx: KernelContext, a: AttentionBackwardArgs<Buf>): void {
  const err = checkAttentionSizes(a.batch, a.seq, a.heads, a.headDim, !!a.rotary);
  if (err) throw new Error(err);
  if (a.dbias && !a.bias) throw new Error("Attention backward got dbias without bias");
  const { batch, seq, heads } = a;
  const cpu = ctx.isCpuAdapter;
  const chunks = Math.ceil(a.headDim / 4);
  const qf = tuningNumber(ctx.tuning, "attention.bwdQuerySlots");
  const kf = tuningNumber(ctx.tuning, "attention.bwdKeySlots");
  const qt = attentionTiling(cpu, seq, 3 * chunks, 100, qf);
  const kt = attentionTiling(cpu, seq, 4 * chunks, 128, kf);
  const rows = batch * seq * heads * a.headDim;
  const qk = a.rotary ? rotateQk(ctx, a.qkv, a) : undefined;
  const floats = { qkv: 3 * rows, qk: 2 * rows, o: rows, dout: rows };
  const dd = ctx.scratch(batch * heads * seq * 4);
  const offset = a.rotary?.offset ?? 0;
  const shape = shapeKey(a), bias = !!a.bias;
  const { qkv, lse, dout, dqkv } = a;
  const qblocks = Math.ceil(seq / (qt.wg * qt.slots));
  let reuse;
  if (!a.dbias) {
    reuse = QUERY.run(ctx, {
      key: { ...shape, bias, ds: false, ...qt, nb: batch },
      bind: { qkv, qk, o: a.out, dout, lse, bias: a.bias, dqkv, dd, ds: undefined },
      floats,
      params: { offset, bBase: 0 },
      count: batch * heads * qblocks,
    });
  } else {
    // The bias gradient sums ds over the batch: the query kernel writes ds of a chunk of
    // batch rows to scratch, a reduction adds them in order; chunks keep the scratch bounded.
    const per = heads * seq * seq * 4;
    const limit = Math.min(DS_BYTES, ctx.device.limits.maxStorageBufferBindingSize);
    const force = tuningNumber(ctx.tuning, "attention.dsBatch");
    const nb = Math.max(1, Math.min(batch, force > 0 ? force : Math.floor(limit / per)));
    const ds = ctx.scratch(nb * per);
    for (let b0 = 0; b0 < batch; b0 += nb) {
      reuse = QUERY.run(ctx, {
        key: { ...shape, bias, ds: true, ...qt, nb },
        bind: { qkv, qk, o: a.out, dout, lse, bias: a.bias, dqkv, dd, ds },
        floats,
        reuse,
        params: { offset, bBase: b0 },
        count: nb * heads * qblocks,
      });
      BIAS_REDUCE.run(ctx, {
        key: { seq, nb, acc: b0 > 0 },
        bind: { ds, dbias: a.dbias },
        params: { rows: batch - b0 },
        count: per / 4,
      });
    }
  }
  KEY.run(ctx, {
    key: { ...shape, bias, ds: false, ...kt, nb: batch },
    bind: { qkv, qk, dout, lse, dd, bias: a.bias, dqkv },
    floats,
    reuse,
    params: { offset },
    count: batch * heads * Math.ceil(seq / (kt.wg * kt.slots)),
  });
}

/**
 * CPU reference of `attentionBackward` (doubles throughout; float32 or float64 arrays).
 *
 * Uses the saved `out` and `lse` exactly as the GPU kernels do: p_ij = exp(s_ij - lse_i),
 * ds_ij = p_ij (dO_i.v_j - dO_i.O_i).
 */
function attentionBackwardCpu(a: AttentionBackwardArgs<FloatArray>): void {
  const err = checkAttentionSizes(a.batch, a.seq, a.heads, a.headDim, !!a.rotary);
  if (err) throw new Error(err);
  const { batch, seq, heads, headDim: hd, layout } = a;
  const h3 = 3 * heads * hd, H = heads * hd;
  const qk = qkRows(a.qkv, a); // (2, batch, heads, T, hd)
  const dqk = new Float64Array(qk.length);
  const scale = 1 / Math.sqrt(hd);
  a.dqkv.fill(0);
  if (a.dbias) a.dbias.fill(0);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const vc = qkvColumn(layout, heads, hd, 2, h);
      const qo = (b * heads + h) * seq * hd, ko = ((batch + b) * heads + h) * seq * hd;
      for (let i = 0; i < seq; i++) {
        const gi = (b * seq + i) * H + h * hd;
        let di = 0;
        for (let d = 0; d < hd; d++) di += a.dout[gi + d] * a.out[gi + d];
        const lse = a.lse[(b * heads + h) * seq + i];
        for (let j = 0; j <= i; j++) {
          let s = 0, dp = 0;
          for (let d = 0; d < hd; d++) {
            s += qk[qo + i * hd + d] * qk[ko + j * hd + d];
            dp += a.dout[gi + d] * a.qkv[(b * seq + j) * h3 + vc + d];
          }
          s = s * scale + (a.bias ? a.bias[(h * seq + i) * seq + j] : 0);
          const p = Math.exp(s - lse);
          const ds = p * (dp - di);
          for (let d = 0; d < hd; d++) {
            dqk[qo + i * hd + d] += ds * qk[ko + j * hd + d] * scale;
            dqk[ko + j * hd + d] += ds * qk[qo + i * hd + d] * scale;
            a.dqkv[(b * seq + j) * h3 + vc + d] += p * a.dout[gi + d];
          }
          if (a.dbias) a.dbias[(h * seq + i) * seq + j] += ds;
        }
      }
    }
  }
  const freqs = a.rotary ? rotaryFrequencies(hd, a.rotary.base ?? ROTARY_BASE) : null;
  for (let which = 0; which < 2; which++) {
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < heads; h++) {
        const col = qkvColumn(layout, heads, hd, which, h);
        for (let t = 0; t < seq; t++) {
          const o = (((which * batch + b) * heads + h) * seq + t) * hd;
          if (freqs) rotateRow(dqk, o, hd, t + (a.rotary?.offset ?? 0), freqs, true);
          for (let d = 0; d < hd; d++) a.dqkv[(b * seq + t) * h3 + col + d] = dqk[o + d];
        }
      }
    }
  }
}

/**
 * Gradient of causal self-attention: `dqkv` (batch, seq, 3 * heads * headDim, same layout) from
 * the forward's `qkv`, `out`, `lse` and `dout`, and the bias gradient summed over the batch.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { attentionKernel } from "./attention.ts";
 * import { attentionBackwardKernel } from "./attention_backward.ts";
 * // T 1: out = v, so dv = dout and dq = dk = 0
 * const sizes = { batch: 1, seq: 1, heads: 1, headDim: 1, layout: "pytorch" as const };
 * const qkv = new Float64Array([0.5, -1, 2]), out = new Float64Array(1), lse = new Float64Array(1);
 * attentionKernel.cpu({ ...sizes, qkv, out, lse });
 * const dqkv = new Float64Array(3);
 * attentionBackwardKernel.cpu({ ...sizes, qkv, out, lse, dout: new Float64Array([3]), dqkv });
 * assert(dqkv[0] === 0 && dqkv[1] === 0 && dqkv[2] === 3);
 * ```
 */
export const attentionBackwardKernel: Kernel<
  AttentionBackwardArgs<Buf>,
  AttentionBackwardArgs<FloatArray>
> = kernel(attentionBackward, attentionBackwardCpu);
