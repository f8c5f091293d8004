/**
 * WGSL generators of the decoding attention kernels (`attention_decode.ts`): appending the new
 * keys and values to the cache, and attending over it.
 * @module
 */
import { type AttentionLayout, AttnCode, f32, MASKED, ROTARY_BASE } from "./_attention_code.ts";
import { rotateChunksCode } from "./_attention_rotary.ts";
import { program } from "./program.ts";

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
  rotary?: { base?: number; offset?: number };
}

/** WGSL defining `L`, row b's cached length. */
function lengthCode(k: DecodeKey): string {
  return k.lengths ? "let L = lengths[b];" : "let L = p.cacheLen;";
}

/** What the decoding programs' text depends on: the sizes and layout, then the flags below. */
export type DecodeKey =
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

/**
 * The program key of decoding arguments.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { decodeKey } from "./_attention_decode_code.ts";
 * const k = decodeKey({ batch: 1, steps: 1, heads: 1, headDim: 4, capacity: 8,
 *   layout: "pytorch", cacheLen: 0 }, 8);
 * assert(k.base === 0 && !k.lengths);
 * ```
 * @param a sizes and options (buffers only for their presence)
 * @param wg invocations per workgroup of the attend pass
 */
export function decodeKey(
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
export const APPEND = program({
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
    const col = (which: number) =>
      layout === "pytorch"
        ? `${which * heads * hd}u + h * ${hd}u`
        : `h * ${3 * hd}u + ${which * hd}u`;
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
export const ATTEND = program({
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
