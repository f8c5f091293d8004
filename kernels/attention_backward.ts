/**
 * Backward of causal multi-head self-attention (`attention.ts`), flash-attention style: the
 * probabilities are recomputed from q.k and the saved row log-sum-exp, one kernel accumulates
 * dq per query block and another dk, dv per key block, so each gradient row has exactly one
 * writer and sums run in a fixed order: deterministic, with no atomics.
 * @module
 */
import type { Buf, FloatArray, KernelContext } from "./context.ts";
import { type Kernel, kernel, program } from "./program.ts";
import {
  type AttentionShape,
  attentionTiling,
  AttnCode,
  checkAttentionSizes,
  f32,
  qkRows,
  qkvColumn,
  qkvColumnCode,
  ROTARY_BASE,
  rotaryFrequencies,
  rotateChunksCode,
  rotateQk,
  rotateRow,
  rowSources,
  type ShapeKey,
  shapeKey,
  shapeOf,
  tuningNumber,
} from "./_attention.ts";

/** Arguments of `attentionBackward`: `B` is `Buf` for the launcher, a float array for the reference. */
export interface AttentionBackwardArgs<B> extends AttentionShape {
  /** The forward's fused projection, (batch, seq, 3 * heads * headDim). */
  qkv: B;
  /** The forward's output, (batch, seq, heads * headDim). */
  out: B;
  /** The forward's saved row log-sum-exp, (batch, heads, seq). */
  lse: B;
  /** Gradient of the output, (batch, seq, heads * headDim). */
  dout: B;
  /** Gradient of `qkv` (written, same layout), (batch, seq, 3 * heads * headDim). */
  dqkv: B;
  /** The forward's bias, (heads, seq, seq), when it had one. */
  bias?: B;
  /** Gradient of the bias (written, summed over the batch), (heads, seq, seq). */
  dbias?: B;
}

/** WGSL offset of head h's row t of a (batch, seq, heads * hd) tensor. */
function headRow(a: AttentionShape, t: string): string {
  return `(b * ${a.seq}u + ${t}) * ${a.heads * a.headDim}u + h * ${a.headDim}u`;
}

/** WGSL offset of head h's q/k/v row t inside `qkv`-shaped storage. */
function qkvRow(a: AttentionShape, which: number, t: string): string {
  const col = qkvColumnCode(a.layout, a.heads, a.headDim, which);
  return `(b * ${a.seq}u + ${t}) * ${3 * a.heads * a.headDim}u + ${col}`;
}

/** What the backward programs' text depends on. */
type BackwardKey = ShapeKey & {
  /** Whether there is a bias (and, for the query pass, a bias gradient `ds` to write). */
  bias: boolean;
  /** Query pass only: whether it writes ds for the bias gradient. */
  ds: boolean;
  /** Invocations per workgroup. */
  wg: number;
  /** Rows per invocation. */
  slots: number;
  /** Batch rows per dispatch (the query pass with a bias gradient runs in chunks). */
  nb: number;
};

const HEAD = (k: BackwardKey) =>
  /* wgsl */ `alias ROW = ${k.headDim % 4 === 0 ? "vec4f" : "f32"};
const SCALE = ${f32(Math.LOG2E / Math.sqrt(k.headDim))};
const LOG2E = ${f32(Math.LOG2E)};
const INV_SQRT = ${f32(1 / Math.sqrt(k.headDim))};`;

const START = (a: AttentionShape, nblk: number, qb: number, nb: number) => /* wgsl */ `
  let lane = lid;
  let bh = w / ${nblk}u;
  let h = bh % ${a.heads}u;
  let b = bh / ${a.heads}u${nb < a.batch ? " + p.bBase" : ""};
  if (b >= ${a.batch}u) { return; }
  let r0 = (w % ${nblk}u) * ${qb}u;
${a.rotary ? "let OFFSET = p.offset;\n" : ""}`;

function queryBody(k: BackwardKey): string {
  const a = shapeOf(k), { wg, slots, nb } = k;
  const { seq, heads, headDim: hd } = a;
  const g = new AttnCode(hd, "load");
  const src = rowSources(a);
  const qb = wg * slots, nblk = Math.ceil(seq / qb);
  const hasBias = k.bias, wantDb = k.ds;

  let init = "";
  for (let r = 0; r < slots; r++) {
    const [qa, qo] = src.q(`iq${r}`);
    init += `let i${r} = r0 + ${r * wg}u + lane;\nlet iq${r} = min(i${r}, ${seq - 1}u);\n`;
    init += g.load(`q${r}`, qa, qo, "SCALE");
    init += g.load(`g${r}`, "dout", headRow(a, `iq${r}`));
    init += g.load(`o${r}`, "o", headRow(a, `iq${r}`));
    init += `let d${r} = ${g.dot(`g${r}`, `o${r}`)};\n`;
    init += `let ls${r} = lse[(b * ${heads}u + h) * ${seq}u + iq${r}] * LOG2E;\n`;
    init += g.zeros(`dq${r}`);
    if (hasBias) init += `let br${r} = (h * ${seq}u + iq${r}) * ${seq}u;\n`;
    if (wantDb) {
      const bl = nb < a.batch ? "(b - p.bBase)" : "b";
      init += `let dsr${r} = ((${bl} * ${heads}u + h) * ${seq}u + iq${r}) * ${seq}u;\n`;
    }
  }
  // One loop over keys; slot r only sees keys below its rows' end (a branch every lane takes
  // the same way, skipped by llvmpipe when false).
  const [ka, ko] = src.k("j"), [va, vo] = src.v("j");
  let body = g.load("k", ka, ko) + g.load("v", va, vo);
  for (let r = 0; r < slots; r++) {
    body += `if (j < r0 + ${(r + 1) * wg}u) {
  let s = ${g.dot(`q${r}`, "k")}${hasBias ? ` + bias[br${r} + j] * LOG2E` : ""};
  let pr = select(exp2(s - ls${r}), 0.0, j > i${r});
  let dsv = pr * (${g.dot(`g${r}`, "v")} - d${r});
  ${g.axpy(`dq${r}`, "", "dsv", "k")}${
      wantDb ? `  if (i${r} < ${seq}u) { ds[dsr${r} + j] = dsv; }\n` : ""
    }}\n`;
  }
  const loops = `for (var j = 0u; j < min(r0 + ${qb}u, ${seq}u); j++) {\n${body}}\n`;
  let fin = "";
  for (let r = 0; r < slots; r++) {
    fin += `if (i${r} < ${seq}u) {\n`;
    if (a.rotary) {
      fin += rotateChunksCode(
        g.hd,
        `dq${r}`,
        `f32(i${r} + OFFSET)`,
        a.rotary.base ?? ROTARY_BASE,
        true,
      );
    }
    fin += g.store(`dq${r}`, "dqkv", qkvRow(a, 0, `i${r}`), "INV_SQRT");
    fin += `dd[(b * ${heads}u + h) * ${seq}u + i${r}] = d${r};\n}\n`;
  }
  return `${START(a, nblk, qb, nb)}${init}${loops}${fin}`;
}

function keyBody(k: BackwardKey): string {
  const a = shapeOf(k), { wg, slots } = k;
  const { seq, heads, headDim: hd } = a;
  const g = new AttnCode(hd, "load");
  const src = rowSources(a);
  const kb = wg * slots, nblk = Math.ceil(seq / kb);
  const hasBias = k.bias;

  let init = "";
  for (let r = 0; r < slots; r++) {
    const [ka, ko] = src.k(`jq${r}`), [va, vo] = src.v(`jq${r}`);
    init += `let j${r} = r0 + ${r * wg}u + lane;\nlet jq${r} = min(j${r}, ${seq - 1}u);\n`;
    init += g.load(`k${r}`, ka, ko) + g.load(`v${r}`, va, vo);
    init += g.zeros(`dk${r}`) + g.zeros(`dv${r}`);
  }
  // One loop over queries r0..T-1; slot r only sees queries from its first key on.
  const [qa, qo] = src.q("i");
  let body = g.load("q", qa, qo, "SCALE") + g.load("g", "dout", headRow(a, "i"));
  body += `let ls = lse[(b * ${heads}u + h) * ${seq}u + i] * LOG2E;\n`;
  body += `let di = dd[(b * ${heads}u + h) * ${seq}u + i];\n`;
  if (hasBias) body += `let bi = (h * ${seq}u + i) * ${seq}u;\n`;
  for (let r = 0; r < slots; r++) {
    body += `if (i >= r0 + ${r * wg}u) {
  let s = ${g.dot("q", `k${r}`)}${hasBias ? ` + bias[bi + jq${r}] * LOG2E` : ""};
  let pr = select(exp2(s - ls), 0.0, j${r} > i);
  let dsv = pr * (${g.dot("g", `v${r}`)} - di);
  ${g.axpy(`dv${r}`, "", "pr", "g")}${g.axpy(`dk${r}`, "", "dsv", "q")}}\n`;
  }
  const loops = `for (var i = r0; i < ${seq}u; i++) {\n${body}}\n`;
  let fin = "";
  for (let r = 0; r < slots; r++) {
    fin += `if (j${r} < ${seq}u) {\n`;
    if (a.rotary) {
      fin += rotateChunksCode(
        g.hd,
        `dk${r}`,
        `f32(j${r} + OFFSET)`,
        a.rotary.base ?? ROTARY_BASE,
        true,
      );
    }
    // q rows carried the factor log2(e)/sqrt(hd); dk needs 1/sqrt(hd).
    fin += g.store(`dk${r}`, "dqkv", qkvRow(a, 1, `j${r}`), f32(Math.LN2));
    fin += g.store(`dv${r}`, "dqkv", qkvRow(a, 2, `j${r}`));
    fin += "}\n";
  }
  return `${START(a, nblk, kb, a.batch)}${init}${loops}${fin}`;
}

/**
 * The query pass: per query row, dq (and the row's dO.O, and ds for the bias gradient), one
 * workgroup per block of query rows of one (batch row, head).
 */
const QUERY = program({
  label: "attention.backward.query",
  inputs: { qkv: "ROW", qk: "ROW", o: "ROW", dout: "ROW", lse: "f32", bias: "f32" },
  outputs: { dqkv: "ROW", dd: "f32", ds: "f32" },
  uniforms: { offset: "u32", bBase: "u32" },
  workgroup: (k: BackwardKey) => k.wg,
  per: "workgroup",
  index: "w",
  flat: (k) =>
    k.headDim % 4 === 0 ? (k.base ? ["qkv", "qk", "o", "dout"] : ["qkv", "o", "dout"]) : [],
  head: HEAD,
  body: queryBody,
});

/** The key pass: per key row, dk and dv, one workgroup per block of key rows. */
const KEY = program({
  label: "attention.backward.key",
  inputs: { qkv: "ROW", qk: "ROW", dout: "ROW", lse: "f32", dd: "f32", bias: "f32" },
  outputs: { dqkv: "ROW" },
  uniforms: { offset: "u32" },
  workgroup: (k: BackwardKey) => k.wg,
  per: "workgroup",
  index: "w",
  flat: (k) => k.headDim % 4 === 0 ? (k.base ? ["qkv", "qk", "dout"] : ["qkv", "dout"]) : [],
  head: HEAD,
  body: keyBody,
});

/**
 * The bias gradient: sums ds over a chunk of `nb` batch rows (`p.rows` of them valid) into
 * dbias, or adds to it (`acc`); one invocation per (head, query, key) entry.
 */
const BIAS_REDUCE = program({
  label: "attention.backward.bias",
  inputs: { ds: "f32" },
  outputs: { dbias: "f32" },
  uniforms: { rows: "u32" },
  workgroup: 64,
  index: "e",
  body: (k: { seq: number; nb: number; acc: boolean }) =>
    `let j = e % ${k.seq}u;
  let i = (e / ${k.seq}u) % ${k.seq}u;
  var acc = 0.0;
  if (j <= i) {
    for (var b = 0u; b < min(p.rows, ${k.nb}u); b++) { acc += ds[b * p.n + e]; }
  }
  dbias[e] = ${k.acc ? "dbias[e] + acc" : "acc"};`,
});

/** Most bytes of per-batch ds scratch one chunk of the bias gradient uses. */
const DS_BYTES = 64 << 20;

// Dispatches: the rotary pre-pass (with `rotary`), the query kernel (dq, and D_i = dO_i.O_i), the
// key kernel (dk, dv), and with `dbias` a fixed-order reduction over the batch of the per-batch ds
// (B, heads, T, T) that the query kernel wrote (in chunks of batch rows when that scratch would
// pass 64 MiB, or the `attention.dsBatch` tuning value).
// Reference: Dao et al. 2022, FlashAttention, Algorithm 4 (backward with recomputation):
// ds_ij = p_ij (dO_i.v_j - dO_i.O_i).
function attentionBackward(ctx: KernelContext, a: AttentionBackwardArgs<Buf>): void {
  checkAttentionSizes(a.batch, a.seq, a.heads, a.headDim, !!a.rotary);
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
  // The bias gradient sums ds over the batch: the query kernel writes ds of a chunk of `nb` batch
  // rows to scratch, a reduction adds them in order; chunks keep the scratch bounded.
  const per = heads * seq * seq * 4;
  const limit = Math.min(DS_BYTES, ctx.device.limits.maxStorageBufferBindingSize);
  const force = tuningNumber(ctx.tuning, "attention.dsBatch");
  const nb = !a.dbias
    ? batch
    : Math.max(1, Math.min(batch, force > 0 ? force : Math.floor(limit / per)));
  const ds = a.dbias ? ctx.scratch(nb * per) : undefined;
  let reuse;
  for (let b0 = 0; b0 < batch; b0 += nb) {
    reuse = QUERY.run(ctx, {
      key: { ...shape, bias, ds: !!ds, ...qt, nb },
      bind: { qkv, qk, o: a.out, dout, lse, bias: a.bias, dqkv, dd, ds },
      floats,
      reuse,
      params: { offset, bBase: b0 },
      count: nb * heads * qblocks,
    });
    if (ds) {
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

// CPU reference, in doubles: from the saved `out` and `lse` exactly as the GPU kernels do,
// p_ij = exp(s_ij - lse_i), ds_ij = p_ij (dO_i.v_j - dO_i.O_i).
function attentionBackwardCpu(a: AttentionBackwardArgs<FloatArray>): void {
  checkAttentionSizes(a.batch, a.seq, a.heads, a.headDim, !!a.rotary);
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
  const freqs = rotaryFrequencies(hd, a.rotary);
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
