/**
 * Causal multi-head self-attention on a fused q/k/v projection, flash-attention style: one
 * workgroup per (batch, head, query block), scores never leave registers, the softmax is
 * computed online, and only the row log-sum-exp is saved for backward. Optional per-head
 * additive bias (FIRE) and rotary embedding (RoPE). Backward: `attention_backward.ts`;
 * decoding with a key/value cache: `attention_decode.ts`.
 * @module
 */
import type { Buf, FloatArray, KernelContext } from "./context.ts";
import { type Kernel, kernel, program } from "./program.ts";
import {
  attentionKeyTile,
  type AttentionShape,
  attentionTiling,
  AttnCode,
  checkAttentionSizes,
  f32,
  MASKED,
  qkRows,
  qkvColumn,
  rotateQk,
  rowSources,
  type ShapeKey,
  shapeKey,
  shapeOf,
  tuningNumber,
} from "./_attention.ts";

export type { AttentionLayout, AttentionShape, RotaryOptions } from "./_attention.ts";

/** Arguments of `attentionForward`: `B` is `Buf` for the launcher, a float array for the reference. */
export interface AttentionArgs<B> extends AttentionShape {
  /** Fused projection, (batch, seq, 3 * heads * headDim), in `layout`. */
  qkv: B;
  /** Output, (batch, seq, heads * headDim); head h at columns h*headDim. */
  out: B;
  /** Optional saved row log-sum-exp of the scaled, biased, masked scores, (batch, heads, seq). */
  lse?: B;
  /** Optional additive score bias per head (FIRE), (heads, seq, seq): bias[h, query, key]. */
  bias?: B;
}

type ForwardKey = ShapeKey & {
  bias: boolean;
  lse: boolean;
  wg: number;
  slots: number;
  /** Key/value rows staged in workgroup memory per pass (0: read from global memory). */
  tile: number;
};

function forwardBody(k: ForwardKey): string {
  const a = shapeOf(k), wg = k.wg, slots = k.slots;
  const { seq, heads, headDim: hd } = a;
  const g = new AttnCode(hd, "load");
  const src = rowSources(a);
  const qb = wg * slots;
  const nqb = Math.ceil(seq / qb);
  const hasBias = k.bias, hasLse = k.lse;

  // Per slot r: query i<r> (clamped to iq<r> for loads), its scaled q row, running max m,
  // normaliser l and accumulator a (scores in log2 units, so exp2 is used throughout).
  let init = "";
  for (let r = 0; r < slots; r++) {
    const [arr, off] = src.q(`iq${r}`);
    init += `let i${r} = q0 + ${r * wg}u + lane;\nlet iq${r} = min(i${r}, ${seq - 1}u);\n`;
    init += g.load(`q${r}`, arr, off, "SCALE");
    init += `var m${r} = ${MASKED};\nvar l${r} = 0.0;\n` + g.zeros(`a${r}`);
    if (hasBias) init += `let br${r} = (h * ${seq}u + iq${r}) * ${seq}u;\n`;
  }

  // One loop over keys 0..block end; slot r sees keys below its rows' end only. The condition
  // is the same in every lane, and llvmpipe skips a branch no lane takes, so the causal block
  // skip costs a compare, and the code stays linear in the slots (JIT time grows quickly with
  // code size). Key 0 comes first, so every running max is finite after one step and masked
  // keys add exp2(-1e30 - m) = 0.
  const [ka, ko] = src.k("j"), [va, vo] = src.v("j");
  let body = g.load("k", ka, ko) + g.load("v", va, vo);
  for (let r = 0; r < slots; r++) {
    body += `if (j < q0 + ${(r + 1) * wg}u) {
  let s = select(${g.dot(`q${r}`, "k")}${
      hasBias ? ` + bias[br${r} + j] * LOG2E` : ""
    }, ${MASKED}, j > i${r});
  let mn = max(m${r}, s);
  let corr = exp2(m${r} - mn);
  let pr = exp2(s - mn);
  l${r} = l${r} * corr + pr;
  ${g.axpy(`a${r}`, "corr", "pr", "v")}  m${r} = mn;
}\n`;
  }
  const end = `min(q0 + ${slots * wg}u, ${seq}u)`;
  let loops = `for (var j = 0u; j < ${end}; j++) {\n${body}}\n`;
  if (k.tile > 0) {
    // GPUs: the key and value rows go through workgroup memory, `tile` rows at a time (loaded
    // by as many lanes, one row each), so each row is read from global memory once per
    // workgroup rather than once per lane. The loop bounds are the same in every lane.
    const nc = g.nc, t = k.tile;
    let fill = g.load("kt", ka, ko) + g.load("vt", va, vo);
    for (let c = 0; c < nc; c++) {
      fill += `sk[lane * ${nc}u + ${c}u] = kt_${c};\nsv[lane * ${nc}u + ${c}u] = vt_${c};\n`;
    }
    let read = "";
    for (let c = 0; c < nc; c++) {
      read += `let k_${c} = sk[jj * ${nc}u + ${c}u];\nlet v_${c} = sv[jj * ${nc}u + ${c}u];\n`;
    }
    const rest = body.slice(body.indexOf(g.load("v", va, vo)) + g.load("v", va, vo).length);
    loops = `let jend = ${end};
for (var j0 = 0u; j0 < jend; j0 += ${t}u) {
  if (lane < ${t}u) {
    let j = min(j0 + lane, ${seq - 1}u);
${fill}  }
  workgroupBarrier();
  for (var jj = 0u; jj < min(${t}u, jend - j0); jj++) {
    let j = j0 + jj;
${read}${rest}  }
  workgroupBarrier();
}
`;
  }

  let fin = "";
  for (let r = 0; r < slots; r++) {
    fin += `if (i${r} < ${seq}u) {
  let inv = 1.0 / l${r};
  ${g.store(`a${r}`, "out", `(b * ${seq}u + i${r}) * ${heads * hd}u + h * ${hd}u`, "inv")}${
      hasLse ? `  lse[(b * ${heads}u + h) * ${seq}u + i${r}] = (m${r} + log2(l${r})) * LN2;\n` : ""
    }}\n`;
  }

  return `let lane = lid;
  let bh = w / ${nqb}u;
  let h = bh % ${heads}u;
  let b = bh / ${heads}u;
  let q0 = (w % ${nqb}u) * ${qb}u;
${init}
${loops}
${fin}`;
}

const FORWARD = program({
  label: "attention.forward",
  inputs: { qkv: "ROW", qk: "ROW", bias: "f32" },
  outputs: { out: "ROW", lse: "f32" },
  workgroup: (k: ForwardKey) => k.wg,
  per: "workgroup",
  index: "w",
  flat: (k) => k.headDim % 4 === 0 ? (k.base ? ["qkv", "qk"] : ["qkv"]) : [],
  head: (k) =>
    `alias ROW = ${k.headDim % 4 === 0 ? "vec4f" : "f32"};
const SCALE = ${f32(Math.LOG2E / Math.sqrt(k.headDim))};
const LOG2E = ${f32(Math.LOG2E)};
const LN2 = ${f32(Math.LN2)};${
      k.tile
        ? `\nvar<workgroup> sk: array<vec4f, ${k.tile * Math.ceil(k.headDim / 4)}>;
var<workgroup> sv: array<vec4f, ${k.tile * Math.ceil(k.headDim / 4)}>;`
        : ""
    }`,
  body: forwardBody,
});

// No (B, heads, T, T) tensor is written. On GPUs the key and value rows are staged in workgroup
// memory a tile at a time (`attentionKeyTile`). Saving the row log-sum-exp rather than the
// probabilities is T times smaller, and backward recomputes each probability with one dot product
// while it reads the key rows anyway. With `rotary`, a pre-pass writes rotated q and k to scratch
// (sin/cos once per row and frequency). Sizes are baked into the shader (one pipeline per shape);
// the rotary offset is a parameter.
// Reference: Vaswani et al. 2017 (attention); Dao et al. 2022, FlashAttention (online softmax).
function attentionForward(ctx: KernelContext, a: AttentionArgs<Buf>): void {
  checkAttentionSizes(a.batch, a.seq, a.heads, a.headDim, !!a.rotary);
  const force = tuningNumber(ctx.tuning, "attention.slots");
  const chunks = Math.ceil(a.headDim / 4);
  const { wg, slots } = attentionTiling(ctx.isCpuAdapter, a.seq, 2 * chunks, 128, force);
  const tile = attentionKeyTile(ctx, wg, a.headDim);
  const nqb = Math.ceil(a.seq / (wg * slots));
  const rows = a.batch * a.seq * a.heads * a.headDim;
  const qk = a.rotary ? rotateQk(ctx, a.qkv, a) : undefined;
  FORWARD.run(ctx, {
    key: { ...shapeKey(a), bias: !!a.bias, lse: !!a.lse, wg, slots, tile },
    bind: { qkv: a.qkv, qk, bias: a.bias, out: a.out, lse: a.lse },
    floats: { qkv: 3 * rows, qk: 2 * rows },
    count: a.batch * a.heads * nqb,
  });
}

/** CPU reference of `attentionForward` (doubles throughout; accepts float32 or float64 arrays). */
function attentionForwardCpu(a: AttentionArgs<FloatArray>): void {
  checkAttentionSizes(a.batch, a.seq, a.heads, a.headDim, !!a.rotary);
  const { batch, seq, heads, headDim: hd, layout } = a;
  const h3 = 3 * heads * hd, H = heads * hd;
  const qk = qkRows(a.qkv, a); // (2, batch, heads, T, hd)
  const scale = 1 / Math.sqrt(hd);
  const s = new Float64Array(seq);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const vc = qkvColumn(layout, heads, hd, 2, h);
      const qo = (b * heads + h) * seq * hd, ko = ((batch + b) * heads + h) * seq * hd;
      for (let i = 0; i < seq; i++) {
        let m = -Infinity;
        for (let j = 0; j <= i; j++) {
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += qk[qo + i * hd + d] * qk[ko + j * hd + d];
          s[j] = dot * scale + (a.bias ? a.bias[(h * seq + i) * seq + j] : 0);
          m = Math.max(m, s[j]);
        }
        let l = 0;
        for (let j = 0; j <= i; j++) l += s[j] = Math.exp(s[j] - m);
        for (let d = 0; d < hd; d++) {
          let acc = 0;
          for (let j = 0; j <= i; j++) acc += s[j] * a.qkv[(b * seq + j) * h3 + vc + d];
          a.out[(b * seq + i) * H + h * hd + d] = acc / l;
        }
        if (a.lse) a.lse[(b * heads + h) * seq + i] = m + Math.log(l);
      }
    }
  }
}

/**
 * Causal multi-head self-attention on a fused `qkv` (batch, seq, 3 * heads * headDim):
 * `out = softmax(q k^T / sqrt(hd) + bias, causal) v` (batch, seq, heads * headDim), optional RoPE
 * on q and k; saves each row's log-sum-exp in `lse` when given.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { attentionKernel } from "./attention.ts";
 * // batch 1, T 2, 1 head of dim 1: q = k = 0, so query 1 averages v = [1, 3]
 * const qkv = new Float64Array([0, 0, 1, 0, 0, 3]), out = new Float64Array(2);
 * attentionKernel.cpu({ qkv, out, batch: 1, seq: 2, heads: 1, headDim: 1, layout: "pytorch" });
 * assert(out[0] === 1 && out[1] === 2);
 * ```
 */
export const attentionKernel: Kernel<AttentionArgs<Buf>, AttentionArgs<FloatArray>> = kernel(
  attentionForward,
  attentionForwardCpu,
);
