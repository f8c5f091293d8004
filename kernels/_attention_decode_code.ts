/**
 * WGSL generators of the decoding attention kernels (`attention_decode.ts`): appending the new
 * keys and values to the cache, and attending over it.
 * @module
 */
import { type AttentionLayout, AttnCode, f32, MASKED, ROTARY_BASE } from "./_attention_code.ts";
import { rotateChunksCode } from "./_attention_rotary.ts";

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
  /** Number of heads. */
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

/**
 * Whether a shader reads the uniform parameters (layout "auto" drops unused bindings): the
 * append shader reads the cache length and rotary offset, the attend shader also the bias stride.
 *
 * @example
 * ```ts ignore
 * const params = usesParams(args, true) ? values : undefined;
 * ```
 * @param a sizes and which optional buffers are present
 * @param attend the attend shader (else the append shader)
 * @returns whether the params binding exists
 */
export function usesParams(a: AttentionDecodeArgs<unknown, unknown>, attend: boolean): boolean {
  return !a.lengths || !!a.rotary || (attend && !!a.bias);
}

/** WGSL declaring the uniform parameters at a binding, when used. */
function paramsDecl(
  a: AttentionDecodeArgs<unknown, unknown>,
  binding: number,
  attend: boolean,
): string {
  return usesParams(a, attend) ? `@group(0) @binding(${binding}) var<uniform> prm: P;` : "";
}

/** WGSL defining `L`, row b's cached length. */
function lengthCode(a: AttentionDecodeArgs<unknown, unknown>): string {
  return a.lengths ? "let L = lengths[b];" : "let L = prm.cacheLen;";
}

/**
 * WGSL appending the new positions' rotated k and v rows to the caches (one element each).
 *
 * @example
 * ```ts ignore
 * ctx.dispatch({ code: appendCode(args), ... });
 * ```
 * @param a sizes, layout, rotary and which optional buffers are present
 * @returns the WGSL module
 */
export function appendCode(a: AttentionDecodeArgs<unknown, unknown>): string {
  const { batch, steps, heads, headDim: hd, capacity, layout } = a;
  const half = hd / 2;
  const n = batch * steps * heads * hd;
  const k = a.rotary ? f32((-2 / hd) * Math.log2(a.rotary.base ?? ROTARY_BASE)) : "";
  const col = (which: number) =>
    layout === "pytorch"
      ? `${which * heads * hd}u + h * ${hd}u`
      : `h * ${3 * hd}u + ${which * hd}u`;
  return /* wgsl */ `
struct P { cacheLen: u32, offset: u32, biasStride: u32 }
@group(0) @binding(0) var<storage, read> qkv: array<f32>;
${a.lengths ? "@group(0) @binding(3) var<storage, read> lengths: array<u32>;" : ""}
@group(0) @binding(1) var<storage, read_write> kc: array<f32>;
@group(0) @binding(2) var<storage, read_write> vc: array<f32>;
${paramsDecl(a, a.lengths ? 4 : 3, false)}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let e = gid.x + gid.y * nw.x * 64u;
  if (e >= ${n}u) { return; }
  let d = e % ${hd}u;
  let h = (e / ${hd}u) % ${heads}u;
  let bt = e / ${hd * heads}u;
  let t = bt % ${steps}u;
  let b = bt / ${steps}u;
  ${lengthCode(a)}
  let pos = L + t;
  if (pos >= ${capacity}u) { return; }
  let row = bt * ${3 * heads * hd}u;
  var kv = qkv[row + ${col(1)} + d];
  ${
    a.rotary
      ? `let dd = d % ${half}u;
  let an = f32(pos + prm.offset) * exp2(f32(dd) * ${k});
  let other = qkv[row + ${col(1)} + select(d - ${half}u, d + ${half}u, d < ${half}u)];
  kv = kv * cos(an) + select(other, -other, d < ${half}u) * sin(an);`
      : ""
  }
  let o = ((b * ${heads}u + h) * ${capacity}u + pos) * ${hd}u + d;
  kc[o] = kv;
  vc[o] = qkv[row + ${col(2)} + d];
}`;
}

/**
 * Attend kernel: one workgroup per (batch, head); its lanes split the cached keys (lane l takes
 * keys l, l + wg, ...), each keeps an online softmax, and the partial results are merged
 * through workgroup memory in lane order (deterministic).
 *
 * @example
 * ```ts ignore
 * ctx.dispatch({ code: attendCode(args, 8), ... });
 * ```
 * @param a sizes, layout, rotary and which optional buffers are present
 * @param wg lanes per workgroup
 * @returns the WGSL module
 */
export function attendCode(a: AttentionDecodeArgs<unknown, unknown>, wg: number): string {
  const { batch, steps, heads, headDim: hd, capacity, layout } = a;
  const g = new AttnCode(hd);
  const nc = g.nc;
  const hasBias = !!a.bias;
  const h3 = 3 * heads * hd;
  const qcol = layout === "pytorch" ? `h * ${hd}u` : `h * ${3 * hd}u`;
  let bi = 0;
  const decl = (name: string, type: string, rw = false) =>
    `@group(0) @binding(${bi++}) var<storage, ${rw ? "read_write" : "read"}> ${name}: ${type};\n`;
  let binds = decl("qkv", "array<f32>") + decl("kc", `array<${g.elem}>`);
  binds += decl("vc", `array<${g.elem}>`);
  if (hasBias) binds += decl("bias", "array<f32>");
  if (a.lengths) binds += decl("lengths", "array<u32>");
  binds += decl("out", "array<f32>", true);
  const biasRow = a.biasPerRow
    ? `((b * ${heads}u + h) * ${steps}u + t) * prm.biasStride`
    : `(h * ${steps}u + t) * prm.biasStride`;
  // q is read component by component (qkv may not be vec4-aligned for this head's offset).
  let qload = "";
  for (let c = 0; c < nc; c++) {
    const comps = [0, 1, 2, 3].map((k) => 4 * c + k < hd ? `qkv[qo + ${4 * c + k}u]` : "0.0");
    qload += `var q_${c} = vec4f(${comps.join(", ")});\n`;
  }
  let rot = "";
  if (a.rotary) {
    rot = rotateChunksCode(g.hd, "q", "f32(pos + prm.offset)", a.rotary.base ?? ROTARY_BASE, false);
  }
  let scaleQ = "";
  for (let c = 0; c < nc; c++) scaleQ += `q_${c} *= SCALE;\n`;
  let share = "";
  for (let c = 0; c < nc; c++) share += `sh_acc[lane * ${nc}u + ${c}u] = a_${c};\n`;
  return /* wgsl */ `
struct P { cacheLen: u32, offset: u32, biasStride: u32 }
const SCALE = ${f32(Math.LOG2E / Math.sqrt(hd))};
const LOG2E = ${f32(Math.LOG2E)};
${binds}${paramsDecl(a, bi, true)}
var<workgroup> sh_m: array<f32, ${wg}>;
var<workgroup> sh_l: array<f32, ${wg}>;
var<workgroup> sh_acc: array<vec4f, ${wg * nc}>;
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u) {
  let w = wid.x + wid.y * nwg.x;
  let valid = w < ${batch * heads}u;
  let ww = min(w, ${batch * heads - 1}u);
  let lane = lid.x;
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
  }
}`;
}
