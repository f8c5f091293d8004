/**
 * Incremental causal attention for decoding with a key/value cache: the new positions' keys
 * (rotated at their absolute positions) and values are appended to the cache, then each new
 * query attends to every cached key up to its own position. The cache length changes every
 * step, so it is a uniform parameter (or a per-row buffer), never baked into the shader.
 * @module
 */
import { type Buf, type FloatArray, grid1d, type KernelContext } from "./context.ts";
import { type Kernel, kernel, program } from "./program.ts";
import {
  type AttentionLayout,
  AttnCode,
  checkAttentionSizes,
  f32,
  MASKED,
  qkvColumn,
  qkvColumnCode,
  ROTARY_BASE,
  rotaryFrequencies,
  type RotaryOptions,
  rotateChunksCode,
  rotateRow,
} from "./_attention.ts";

/**
 * Arguments of `attentionDecodeForward`: `B` is `Buf` for the launcher, a float array for the
 * reference; `I` is the type of the optional per-row lengths (a u32 buffer, or an integer array).
 */
export interface AttentionDecodeArgs<B, I = B> {
  /** Fused projection of the new positions, (batch, steps, 3 * heads * headDim), in `layout`. */
  qkv: B;
  /** Rotated keys, (batch, heads, capacity, headDim); rows at the new positions are written. */
  kCache: B;
  /** Values, (batch, heads, capacity, headDim); rows at the new positions are written. */
  vCache: B;
  /** Output, (batch, steps, heads * headDim). */
  out: B;
  /**
   * Optional additive bias, (heads, steps, biasStride), or (batch, heads, steps, biasStride)
   * with `biasPerRow`: entry [.., t, j] is added to the score of new query t against cache
   * position j (FIRE's rows for the new positions).
   */
  bias?: B;
  /** Row length of `bias` (a parameter: it may grow every step); default `capacity`. */
  biasStride?: number;
  /** Whether `bias` has a leading batch dimension. */
  biasPerRow?: boolean;
  /** Optional per-row cached lengths, (batch) u32; overrides `cacheLen` row by row. */
  lengths?: I;
  /** Number of positions already cached in every row (when `lengths` is absent). */
  cacheLen: number;
  /** Batch size. */
  batch: number;
  /** New positions per row. */
  steps: number;
  heads: number;
  /** Per-head dimension. */
  headDim: number;
  /** Cache rows per (batch, head). */
  capacity: number;
  /** Column layout of `qkv`. */
  layout: AttentionLayout;
  /**
   * Rotary embedding of q and k at absolute positions (cache length + t, plus `offset`), when
   * given; the cache then holds rotated keys.
   */
  rotary?: RotaryOptions;
}

/** WGSL defining `L`, row b's cached length. */
function lengthCode(k: DecodeKey): string {
  return k.lengths ? "let L = lengths[b];" : "let L = p.cacheLen;";
}

/** What the decoding programs' text depends on: the sizes and layout, then the flags below. */
type DecodeKey =
  & Pick<
    AttentionDecodeArgs<unknown, unknown>,
    "batch" | "steps" | "heads" | "headDim" | "capacity" | "layout"
  >
  & {
    /** Rotary base, 0 without rotary. */
    base: number;
    /** Whether per-row lengths are bound. */
    lengths: boolean;
    /** Whether a bias is bound. */
    bias: boolean;
    /** Whether the bias has a leading batch dimension. */
    biasPerRow: boolean;
    /** Invocations per workgroup (attend). */
    wg: number;
  };

// The program key of decoding arguments (buffers only for their presence).
function decodeKey(
  a: Omit<AttentionDecodeArgs<unknown, unknown>, "qkv" | "kCache" | "vCache" | "out">,
  wg: number,
): DecodeKey {
  const { batch, steps, heads, headDim, capacity, layout } = a;
  return {
    batch,
    steps,
    heads,
    headDim,
    capacity,
    layout,
    base: a.rotary ? a.rotary.base ?? ROTARY_BASE : 0,
    lengths: !!a.lengths,
    bias: !!a.bias,
    biasPerRow: !!a.biasPerRow,
    wg,
  };
}

const DECODE_UNIFORMS = { cacheLen: "u32", offset: "u32", biasStride: "u32" } as const;

/** Appends the new positions' (rotated) keys and values to the caches. */
const APPEND = program({
  label: "attention.decode.append",
  inputs: { qkv: "f32", lengths: "u32" },
  outputs: { kc: "f32", vc: "f32" },
  uniforms: DECODE_UNIFORMS,
  workgroup: 64,
  index: "e",
  body: (key: DecodeKey) => {
    const { steps, heads, headDim: hd, capacity, layout } = key;
    const half = hd / 2;
    const k = key.base ? f32((-2 / hd) * Math.log2(key.base)) : "";
    const col = (which: number) => qkvColumnCode(layout, heads, hd, which);
    return `let d = e % ${hd}u;
  let h = (e / ${hd}u) % ${heads}u;
  let bt = e / ${hd * heads}u;
  let t = bt % ${steps}u;
  let b = bt / ${steps}u;
  ${lengthCode(key)}
  let pos = L + t;
  if (pos >= ${capacity}u) { return; }
  let row = bt * ${3 * heads * hd}u;
  var kv = qkv[row + ${col(1)} + d];
  ${
      key.base
        ? `let dd = d % ${half}u;
  let an = f32(pos + p.offset) * exp2(f32(dd) * ${k});
  let other = qkv[row + ${col(1)} + select(d - ${half}u, d + ${half}u, d < ${half}u)];
  kv = kv * cos(an) + select(other, -other, d < ${half}u) * sin(an);`
        : ""
    }
  let o = ((b * ${heads}u + h) * ${capacity}u + pos) * ${hd}u + d;
  kc[o] = kv;
  vc[o] = qkv[row + ${col(2)} + d];`;
  },
});

function attendBody(a: DecodeKey): string {
  const { batch, steps, heads, headDim: hd, capacity, layout, wg } = a;
  const g = new AttnCode(hd);
  const nc = g.nc;
  const hasBias = a.bias;
  const h3 = 3 * heads * hd;
  const qcol = layout === "pytorch" ? `h * ${hd}u` : `h * ${3 * hd}u`;
  const biasRow = a.biasPerRow
    ? `((b * ${heads}u + h) * ${steps}u + t) * p.biasStride`
    : `(h * ${steps}u + t) * p.biasStride`;
  // q is read component by component (qkv may not be vec4-aligned for this head's offset).
  let qload = "";
  for (let c = 0; c < nc; c++) {
    const comps = [0, 1, 2, 3].map((k) => 4 * c + k < hd ? `qkv[qo + ${4 * c + k}u]` : "0.0");
    qload += `var q_${c} = vec4f(${comps.join(", ")});\n`;
  }
  let rot = "";
  if (a.base) rot = rotateChunksCode(g.hd, "q", "f32(pos + p.offset)", a.base, false);
  let scaleQ = "";
  for (let c = 0; c < nc; c++) scaleQ += `q_${c} *= SCALE;\n`;
  let share = "";
  for (let c = 0; c < nc; c++) share += `sh_acc[lane * ${nc}u + ${c}u] = a_${c};\n`;
  return `  let w = wid.x + wid.y * nwg.x;
  let valid = w < ${batch * heads}u;
  let ww = min(w, ${batch * heads - 1}u);
  let lane = lid;
  let h = ww % ${heads}u;
  let b = ww / ${heads}u;
  ${lengthCode(a)}
  for (var t = 0u; t < ${steps}u; t++) {
    let pos = L + t;
    let nk = min(pos + 1u, ${capacity}u);
    let qo = (b * ${steps}u + t) * ${h3}u + ${qcol};
    ${qload}${rot}${scaleQ}
    var m = ${MASKED};
    var l = 0.0;
    ${g.zeros("a")}
    for (var j = lane; j < nk; j += ${wg}u) {
      let ko = (b * ${heads}u + h) * ${capacity}u + j;
      ${g.load("k", "kc", `ko * ${hd}u`)}${g.load("v", "vc", `ko * ${hd}u`)}
      let s = ${g.dot("q", "k")}${hasBias ? ` + bias[${biasRow} + j] * LOG2E` : ""};
      let mn = max(m, s);
      let corr = exp2(m - mn);
      let pr = exp2(s - mn);
      l = l * corr + pr;
      ${g.axpy("a", "corr", "pr", "v")}
      m = mn;
    }
    sh_m[lane] = m;
    sh_l[lane] = l;
    ${share}
    workgroupBarrier();
    var mx = sh_m[0];
    for (var x = 1u; x < ${wg}u; x++) { mx = max(mx, sh_m[x]); }
    var den = 0.0;
    for (var x = 0u; x < ${wg}u; x++) { den += sh_l[x] * exp2(sh_m[x] - mx); }
    for (var c = lane; c < ${nc}u; c += ${wg}u) {
      var acc = vec4f(0.0);
      for (var x = 0u; x < ${wg}u; x++) { acc += sh_acc[x * ${nc}u + c] * exp2(sh_m[x] - mx); }
      acc = acc / den;
      let oo = (b * ${steps}u + t) * ${heads * hd}u + h * ${hd}u + c * 4u;
      for (var k = 0u; k < 4u; k++) {
        if (valid && c * 4u + k < ${hd}u) { out[oo + k] = acc[k]; }
      }
    }
    workgroupBarrier();
  }`;
}

/**
 * Attends each new query over its row's cache: one workgroup per (batch row, head), lanes
 * striding the cache and merging their online-softmax states through workgroup memory.
 */
const ATTEND = program({
  label: "attention.decode.attend",
  inputs: { qkv: "f32", kc: "ROW", vc: "ROW", bias: "f32", lengths: "u32" },
  outputs: { out: "f32" },
  uniforms: DECODE_UNIFORMS,
  workgroup: (k: DecodeKey) => k.wg,
  per: "none",
  head: (k) => {
    const nc = Math.ceil(k.headDim / 4);
    return `alias ROW = ${k.headDim % 4 === 0 ? "vec4f" : "f32"};
const SCALE = ${f32(Math.LOG2E / Math.sqrt(k.headDim))};
const LOG2E = ${f32(Math.LOG2E)};
var<workgroup> sh_m: array<f32, ${k.wg}>;
var<workgroup> sh_l: array<f32, ${k.wg}>;
var<workgroup> sh_acc: array<vec4f, ${k.wg * nc}>;`;
  },
  body: attendBody,
});

function check(a: AttentionDecodeArgs<unknown, unknown>): void {
  checkAttentionSizes(a.batch, a.steps, a.heads, a.headDim, !!a.rotary);
  if (!a.lengths && a.cacheLen + a.steps > a.capacity) {
    throw new Error(
      `Attention cache overflow: ${a.cacheLen} cached + ${a.steps} new > capacity ${a.capacity}`,
    );
  }
}

// Two dispatches (append, attend). A whole prompt can be prefilled with `steps` = its length and
// `cacheLen` = 0; equals full causal attention position by position.
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
  const freqs = rotaryFrequencies(hd, a.rotary);
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
