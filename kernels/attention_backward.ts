/**
 * Backward of causal multi-head self-attention (`attention.ts`), flash-attention style: the
 * probabilities are recomputed from q.k and the saved row log-sum-exp, one kernel accumulates
 * dq per query block and another dk, dv per key block, so each gradient row has exactly one
 * writer and sums run in a fixed order: deterministic, with no atomics.
 * @module
 */
import {
  type Binding,
  type Buf,
  cachedCode,
  type FloatArray,
  grid1d,
  type KernelContext,
} from "./context.ts";
import {
  type AttentionShape,
  attentionTiling,
  AttnCode,
  checkAttentionSizes,
  f32,
  qkvColumn,
  ROTARY_BASE,
  tuningNumber,
} from "./_attention_code.ts";
import { qkRows, rotaryFrequencies, rotateRow } from "./_attention_rotary.ts";
import { codeKey, declareBindings, rowBindings, rowSources } from "./_attention_rows.ts";

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

const CODE = new Map<string, string>();

/** WGSL offset of head h's row t of a (batch, seq, heads * hd) tensor. */
function headRow(a: AttentionShape, t: string): string {
  return `(b * ${a.seq}u + ${t}) * ${a.heads * a.headDim}u + h * ${a.headDim}u`;
}

/** WGSL offset of head h's q/k/v row t inside `qkv`-shaped storage. */
function qkvRow(a: AttentionShape, which: number, t: string): string {
  const col = a.layout === "pytorch"
    ? `${which * a.heads * a.headDim}u + h * ${a.headDim}u`
    : `h * ${3 * a.headDim}u + ${which * a.headDim}u`;
  return `(b * ${a.seq}u + ${t}) * ${3 * a.heads * a.headDim}u + ${col}`;
}

const HEADER = (
  a: AttentionShape,
  nblk: number,
  wg: number,
  qb: number,
  nb = a.batch,
) => /* wgsl */ `
const SCALE = ${f32(Math.LOG2E / Math.sqrt(a.headDim))};
const LOG2E = ${f32(Math.LOG2E)};
const INV_SQRT = ${f32(1 / Math.sqrt(a.headDim))};
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u) {
  let w = wid.x + wid.y * nwg.x;
  if (w >= ${nb * a.heads * nblk}u) { return; }
  let lane = lid.x;
  let bh = w / ${nblk}u;
  let h = bh % ${a.heads}u;
  let b = bh / ${a.heads}u${nb < a.batch ? " + prm.bBase" : ""};
  if (b >= ${a.batch}u) { return; }
  let r0 = (w % ${nblk}u) * ${qb}u;
`;

/**
 * Query-side kernel: per query row i (a lane's slot) it recomputes p_ij = exp(s_ij - lse_i)
 * over the keys, ds_ij = p_ij (dO_i.v_j - D_i) with D_i = dO_i.O_i, and accumulates
 * dq_i = sum_j ds_ij k_j / sqrt(hd) (un-rotated at the end). Writes D for the key kernel and,
 * when the bias needs a gradient, ds per batch for the reduction.
 */
function queryCode(
  a: AttentionBackwardArgs<unknown>,
  wg: number,
  slots: number,
  nb: number,
  tex: ReadonlySet<string>,
): string {
  const { seq, heads, headDim: hd } = a;
  const g = new AttnCode(hd, tex);
  const src = rowSources(a);
  const qb = wg * slots, nblk = Math.ceil(seq / qb);
  const hasBias = !!a.bias, wantDb = !!a.dbias;
  const binds: [string, string, boolean][] = [["qkv", g.type("qkv"), false]];
  if (a.rotary) binds.push(["qk", g.type("qk"), false]);
  binds.push(["o", g.type("o"), false], ["dout", g.type("dout"), false]);
  binds.push(["lse", "array<f32>", false]);
  if (hasBias) binds.push(["bias", "array<f32>", false]);
  binds.push(["dqkv", `array<${g.elem}>`, true], ["dd", "array<f32>", true]);
  if (wantDb) binds.push(["ds", "array<f32>", true]);

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
      const bl = nb < a.batch ? "(b - prm.bBase)" : "b";
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
      fin += g.rotate(`dq${r}`, `f32(i${r} + OFFSET)`, a.rotary.base ?? ROTARY_BASE, true);
    }
    fin += g.store(`dq${r}`, "dqkv", qkvRow(a, 0, `i${r}`), "INV_SQRT");
    fin += `dd[(b * ${heads}u + h) * ${seq}u + i${r}] = d${r};\n}\n`;
  }
  const prm = a.rotary || nb < a.batch;
  return `${prm ? "struct P { offset: u32, bBase: u32 }\n" : ""}${declareBindings(binds)}
${prm ? `@group(0) @binding(${binds.length}) var<uniform> prm: P;\n` : ""}${
    HEADER(a, nblk, wg, qb, nb)
  }${a.rotary ? "let OFFSET = prm.offset;\n" : ""}${init}${loops}${fin}}`;
}

/**
 * Key-side kernel: per key row j (a lane's slot) it walks the queries i >= j, recomputes p_ij
 * and ds_ij, and accumulates dv_j = sum_i p_ij dO_i and dk_j = sum_i ds_ij q_i / sqrt(hd)
 * (un-rotated at the end). Needs D from the query kernel.
 */
function keyCode(
  a: AttentionBackwardArgs<unknown>,
  wg: number,
  slots: number,
  tex: ReadonlySet<string>,
): string {
  const { seq, heads, headDim: hd } = a;
  const g = new AttnCode(hd, tex);
  const src = rowSources(a);
  const kb = wg * slots, nblk = Math.ceil(seq / kb);
  const hasBias = !!a.bias;
  const binds: [string, string, boolean][] = [["qkv", g.type("qkv"), false]];
  if (a.rotary) binds.push(["qk", g.type("qk"), false]);
  binds.push(["dout", g.type("dout"), false], ["lse", "array<f32>", false]);
  binds.push(["dd", "array<f32>", false]);
  if (hasBias) binds.push(["bias", "array<f32>", false]);
  binds.push(["dqkv", `array<${g.elem}>`, true]);

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
      fin += g.rotate(`dk${r}`, `f32(j${r} + OFFSET)`, a.rotary.base ?? ROTARY_BASE, true);
    }
    // q rows carried the factor log2(e)/sqrt(hd); dk needs 1/sqrt(hd).
    fin += g.store(`dk${r}`, "dqkv", qkvRow(a, 1, `j${r}`), f32(Math.LN2));
    fin += g.store(`dv${r}`, "dqkv", qkvRow(a, 2, `j${r}`));
    fin += "}\n";
  }
  return `${a.rotary ? "struct P { offset: u32, bBase: u32 }\n" : ""}${declareBindings(binds)}
${a.rotary ? `@group(0) @binding(${binds.length}) var<uniform> prm: P;\n` : ""}${
    HEADER(a, nblk, wg, kb)
  }${a.rotary ? "let OFFSET = prm.offset;\n" : ""}${init}${loops}${fin}}`;
}

/**
 * Sums ds (nb, heads, T, T) over its batch rows in order into dbias (zero above the diagonal);
 * `accumulate` adds to what earlier batch chunks left there.
 */
function biasReduceCode(a: AttentionShape, nb: number, accumulate: boolean): string {
  const { seq, heads } = a;
  const n = heads * seq * seq;
  return /* wgsl */ `
struct P { rows: u32 }
@group(0) @binding(0) var<storage, read> ds: array<f32>;
@group(0) @binding(1) var<storage, read_write> dbias: array<f32>;
@group(0) @binding(2) var<uniform> prm: P;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let e = gid.x + gid.y * nw.x * 64u;
  if (e >= ${n}u) { return; }
  let j = e % ${seq}u;
  let i = (e / ${seq}u) % ${seq}u;
  var acc = 0.0;
  if (j <= i) {
    for (var b = 0u; b < min(prm.rows, ${nb}u); b++) { acc += ds[b * ${n}u + e]; }
  }
  dbias[e] = ${accumulate ? "dbias[e] + acc" : "acc"};
}`;
}

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
 *
 * @example
 * ```ts ignore
 * attentionBackward(ctx, { qkv, out, lse, dout, dqkv, batch: 64, seq: 33, heads: 4,
 *   headDim: 32, layout: "interleaved" });
 * ```
 * @param ctx kernel context
 * @param a buffers and sizes
 */
export function attentionBackward(ctx: KernelContext, a: AttentionBackwardArgs<Buf>): void {
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
  const rows = rowBindings(ctx, a, { o: a.out, dout: a.dout });
  const { qk, tex } = rows;
  const dd = ctx.scratch(batch * heads * seq * 4);
  const off = a.rotary?.offset ?? 0;
  const qgrid = (nb: number) =>
    grid1d(nb * heads * Math.ceil(seq / (qt.wg * qt.slots)), ctx.maxWorkgroups);
  const qbind = (ds: GPUBuffer | null): Binding[] => {
    const list: Binding[] = [rows.qkv, ...(qk ? [qk] : []), rows.more.o, rows.more.dout, a.lse];
    if (a.bias) list.push(a.bias);
    list.push(a.dqkv, dd);
    if (ds) list.push(ds);
    return list;
  };
  if (!a.dbias) {
    ctx.dispatch({
      code: cachedCode(
        CODE,
        codeKey(a, "q", qt.wg, qt.slots, batch, [...tex]),
        () => queryCode(a, qt.wg, qt.slots, batch, tex),
      ),
      bindings: qbind(null),
      params: a.rotary ? new Uint32Array([off, 0]) : undefined,
      workgroups: qgrid(batch),
      label: "attention.backward.query",
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
      ctx.dispatch({
        code: cachedCode(
          CODE,
          codeKey(a, "q", qt.wg, qt.slots, nb, [...tex]),
          () => queryCode(a, qt.wg, qt.slots, nb, tex),
        ),
        bindings: qbind(ds),
        params: a.rotary || nb < batch ? new Uint32Array([off, b0]) : undefined,
        workgroups: qgrid(nb),
        label: "attention.backward.query",
      });
      ctx.dispatch({
        code: biasReduceCode(a, nb, b0 > 0),
        bindings: [ds, a.dbias],
        params: new Uint32Array([batch - b0]),
        workgroups: grid1d(Math.ceil(per / 4 / 64), ctx.maxWorkgroups),
        label: "attention.backward.bias",
      });
    }
  }

  const kbind: Binding[] = [rows.qkv, ...(qk ? [qk] : []), rows.more.dout, a.lse, dd];
  if (a.bias) kbind.push(a.bias);
  kbind.push(a.dqkv);
  ctx.dispatch({
    code: cachedCode(
      CODE,
      codeKey(a, "k", kt.wg, kt.slots, [...tex]),
      () => keyCode(a, kt.wg, kt.slots, tex),
    ),
    bindings: kbind,
    params: a.rotary ? new Uint32Array([off, 0]) : undefined,
    workgroups: grid1d(batch * heads * Math.ceil(seq / (kt.wg * kt.slots)), ctx.maxWorkgroups),
    label: "attention.backward.key",
  });
}

/**
 * CPU reference of `attentionBackward` (doubles throughout; float32 or float64 arrays).
 *
 * Uses the saved `out` and `lse` exactly as the GPU kernels do: p_ij = exp(s_ij - lse_i),
 * ds_ij = p_ij (dO_i.v_j - dO_i.O_i).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { attentionForwardCpu } from "./attention.ts";
 * import { attentionBackwardCpu } from "./attention_backward.ts";
 * // T 1: out = v, so dv = dout and dq = dk = 0
 * const sizes = { batch: 1, seq: 1, heads: 1, headDim: 1, layout: "pytorch" as const };
 * const qkv = new Float64Array([0.5, -1, 2]), out = new Float64Array(1), lse = new Float64Array(1);
 * attentionForwardCpu({ ...sizes, qkv, out, lse });
 * const dqkv = new Float64Array(3);
 * attentionBackwardCpu({ ...sizes, qkv, out, lse, dout: new Float64Array([3]), dqkv });
 * assert(dqkv[0] === 0 && dqkv[1] === 0 && dqkv[2] === 3);
 * ```
 * @param a arrays and sizes
 */
export function attentionBackwardCpu(a: AttentionBackwardArgs<FloatArray>): void {
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
