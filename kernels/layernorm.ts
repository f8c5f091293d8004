/**
 * LayerNorm over the last axis with a weight and a bias, and the fused residual form
 * out = LN(x + r) that a post-norm transformer applies after every sublayer (one pass instead of
 * an add then a norm). The forward saves each row's mean and reciprocal standard deviation for
 * the backward pass: the input gradient per row, and the weight and bias gradients reduced over
 * rows deterministically without atomics (fixed blocks of rows give partial sums, then a second
 * pass adds the partials in block order), so gradients are bit-identical run after run.
 * Reference: Ba, Kiros and Hinton 2016, y = (x - mean) / sqrt(var + eps) * w + b (biased var).
 * Reference: with xh = (x - mean) rstd and g = dy w,
 * dx = rstd (g - mean_j(g) - xh mean_j(g xh)), dw = sum_rows dy xh, db = sum_rows dy.
 * @module
 */
import type { Buf, FloatArray } from "./context.ts";
import { type Kernel, program } from "./program.ts";

/** Invocations per workgroup of the row kernels (one invocation per row). */
const LN_WG = 64;

/** The default eps, as in the reference implementation (BERT-style 1e-12). */
export const LN_EPS = 1e-12;

// `V` is vec4f when the row length is a multiple of 4 (rows read 4 columns per load), else f32;
// `hsum` adds its components. Row lengths travel in uniforms: baked loop counts get fully
// unrolled by llvmpipe's compiler (seconds per pipeline at C = 128).
function lnPrelude(vec: boolean): string {
  return /* wgsl */ `
alias V = ${vec ? "vec4f" : "f32"};
fn hsum(v: V) -> f32 { return ${vec ? "dot(v, vec4f(1.0))" : "v"}; }`;
}

/** Row length in `V` words: C / 4 when C is a multiple of 4, else C. */
const lnWords = (cols: number): number => cols % 4 === 0 ? cols / 4 : cols;

/** `wg`: invocations per row (a workgroup per row, GPUs); 0: one invocation per row. */
type FwdKey = { vec: boolean; residual: boolean; stats: boolean; wg: number };

/**
 * How `layerNormKernel` maps rows: 0 for one invocation per row (CPU adapters, and rows shorter
 * than 256 columns), else a workgroup of that many invocations per row that stride the row (so
 * neighbouring invocations read neighbouring words, as GPUs want) and add their partial sums
 * in workgroup memory. `ctx.tuning.get("layernorm")` = `row` or `wgN` forces a layout.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { layerNormLayout } from "./layernorm.ts";
 * assert(layerNormLayout({ isCpuAdapter: false, tuning: new Map() }, 1024) === 64);
 * assert(layerNormLayout({ isCpuAdapter: true, tuning: new Map() }, 1024) === 0);
 * assert(layerNormLayout({ isCpuAdapter: true, tuning: new Map([["layernorm", "wg8"]]) }, 5) === 8);
 * ```
 */
export function layerNormLayout(
  ctx: { isCpuAdapter: boolean; tuning: Map<string, string> },
  cols: number,
): number {
  const forced = ctx.tuning.get("layernorm");
  if (forced === "row") return 0;
  if (forced?.startsWith("wg")) return Number(forced.slice(2));
  return !ctx.isCpuAdapter && cols >= 256 ? 64 : 0;
}

// WGSL statements that tree-sum the f32 `v` over a workgroup of `n` invocations (a power of two)
// through `var<workgroup> sh: array<f32, n>` and bind the total to `let <into>` in every
// invocation (the workgroup-per-row layout).
function workgroupSum(v: string, into: string, n: number): string {
  return `sh[lid] = ${v};
  workgroupBarrier();
  for (var k_ = ${n / 2}u; k_ > 0u; k_ >>= 1u) {
    if (lid < k_) { sh[lid] += sh[lid + k_]; }
    workgroupBarrier();
  }
  let ${into} = sh[0];
  workgroupBarrier();`;
}

const FORWARD = program({
  label: (k: FwdKey) => k.residual ? "add_layernorm" : "layernorm",
  inputs: { x: "V", res: "V", w: "V", b: "V" },
  outputs: { out: "V", mean: "f32", rstd: "f32" },
  uniforms: { eps: "f32", cu: "u32", c: "f32" },
  workgroup: (k) => k.wg || LN_WG,
  per: (k) => k.wg ? "workgroup" : "invocation",
  index: "row",
  flat: (k) => k.vec ? (k.residual ? ["x", "res", "w", "b"] : ["x", "w", "b"]) : [],
  head: (k) =>
    `${lnPrelude(k.vec)}
fn first(k: u32) -> V { return load_x(k)${k.residual ? " + load_res(k)" : ""}; }
${k.wg ? `var<workgroup> sh: array<f32, ${k.wg}>;` : ""}`,
  body: forwardBody,
});

// Three passes over the row (mean, centred variance, output): by one invocation, or by a
// workgroup whose invocations stride the row, partial sums meeting in workgroup memory.
function forwardBody(k: FwdKey): string {
  const loop = k.wg ? `for (var i = lid; i < CU; i += ${k.wg}u)` : "for (var i = 0u; i < CU; i++)";
  const stats = k.wg
    ? "if (lid == 0u) {\n    mean[row] = m;\n    rstd[row] = rs;\n  }"
    : "mean[row] = m;\n  rstd[row] = rs;";
  return `let CU = p.cu;
  let base = row * CU;
  var s = 0.0;
  ${loop} {
    s += hsum(first(base + i));
  }
  ${k.wg ? `${workgroupSum("s", "total", k.wg)}\n  let m = total / p.c;` : "let m = s / p.c;"}
  var q = 0.0;
  ${loop} {
    let d = first(base + i) - m;
    q += hsum(d * d);
  }
  ${
    k.wg
      ? `${workgroupSum("q", "squares", k.wg)}\n  let rs = inverseSqrt(squares / p.c + p.eps);`
      : "let rs = inverseSqrt(q / p.c + p.eps);"
  }
  ${loop} {
    out[base + i] = (first(base + i) - m) * rs * load_w(i) + load_b(i);
  }
  ${k.stats ? stats : ""}`;
}

/** Arguments of `layerNormKernel`. */
export interface LayerNormArgs<B> {
  /** Input, (R, C). */
  x: B;
  /** Optional residual, (R, C): the kernel normalises x + residual. */
  residual?: B;
  /** Weight, (C). */
  w: B;
  /** Bias, (C). */
  b: B;
  /** Output, (R, C). */
  out: B;
  /** Optional output, (R): each row's mean. */
  mean?: B;
  /** Optional output, (R): each row's 1 / sqrt(var + eps); give both or neither of mean/rstd. */
  rstd?: B;
  /** Rows R. */
  rows: number;
  /** Row length C (the normalised axis). */
  cols: number;
  /** Added to the variance; default 1e-12. */
  eps?: number;
}

function checkArgs(a: LayerNormArgs<unknown>): void {
  if (!a.mean !== !a.rstd) throw new Error("LayerNorm saves mean and rstd together: give both");
}

/**
 * LayerNorm of each row of `x` (or `x + residual`), (rows, cols):
 * `out = (x - mean) / sqrt(var + eps) * w + b`; optionally saves the mean and rstd.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { layerNormKernel } from "./layernorm.ts";
 * const out = new Float64Array(2), w = new Float64Array([2, 2]), b = new Float64Array([0, 1]);
 * layerNormKernel.cpu({ x: new Float64Array([1, 3]), w, b, out, rows: 1, cols: 2 });
 * assert(Math.abs(out[0] + 2) < 1e-9 && Math.abs(out[1] - 3) < 1e-9); // xh = [-1, 1]
 * ```
 */
export const layerNormKernel: Kernel<LayerNormArgs<Buf>, LayerNormArgs<FloatArray>> = {
  // Three passes over each row (mean, centred variance, output), by one invocation per row, or on
  // GPUs by a workgroup per row (`layerNormLayout`); C, R and eps are uniforms.
  gpu(ctx, a) {
    checkArgs(a);
    if (a.rows === 0 || a.cols === 0) return;
    const n = a.rows * a.cols;
    const { residual: res, mean, rstd } = a;
    const wg = layerNormLayout(ctx, a.cols);
    const key = { vec: a.cols % 4 === 0, residual: !!res, stats: !!mean, wg };
    FORWARD.run(ctx, {
      key,
      bind: { x: a.x, res, w: a.w, b: a.b, out: a.out, mean, rstd },
      floats: { x: n, res: n, w: a.cols, b: a.cols },
      params: { eps: a.eps ?? LN_EPS, cu: lnWords(a.cols), c: a.cols },
      count: a.rows,
    });
  },
  cpu(a) {
    checkArgs(a);
    const c = a.cols, eps = a.eps ?? LN_EPS;
    const v = new Float64Array(c);
    for (let r = 0; r < a.rows; r++) {
      let s = 0;
      for (let j = 0; j < c; j++) {
        v[j] = a.x[r * c + j] + (a.residual ? a.residual[r * c + j] : 0);
        s += v[j];
      }
      const m = s / c;
      let q = 0;
      for (let j = 0; j < c; j++) q += (v[j] - m) * (v[j] - m);
      const rs = 1 / Math.sqrt(q / c + eps);
      for (let j = 0; j < c; j++) a.out[r * c + j] = (v[j] - m) * rs * a.w[j] + a.b[j];
      if (a.mean && a.rstd) {
        a.mean[r] = m;
        a.rstd[r] = rs;
      }
    }
  },
};

const WG = 256;
/** Rows per partial sum of the weight and bias gradients (fixed: it sets the summation order). */
const BLOCK = 64;

/** `residual`: the normalised input is x + res (the residual form), added again here. */
type Vec = { vec: boolean; residual: boolean };

// `xin(k)`: word k of the normalised input, as the forward computed it (x + res in f32, so the
// backward sees the same bits without the forward storing the sum).
function bwdPrelude(k: Vec): string {
  return `${lnPrelude(k.vec)}
fn xin(k: u32) -> V { return load_x(k)${k.residual ? " + load_res(k)" : ""}; }`;
}

/** The `flat` inputs of the backward kernels: `names`, and `res` in the residual form. */
function bwdFlat<const N extends "x" | "w" | "dOut">(k: Vec, names: N[]): (N | "res")[] {
  return k.vec ? (k.residual ? [...names, "res"] : names) : [];
}

/** `wg`: invocations per row (a workgroup per row, `layerNormLayout`, GPUs' long rows). */
type DxKey = Vec & { twice: boolean; wg: number };

// dX with a workgroup per row: invocation `lid` takes words lid, lid + wg, ... of the row, the
// two row sums meet in workgroup memory. dW and dB then come from `PARTIAL` and `FINAL`.
const DX = program({
  label: "layernorm_backward_dx",
  inputs: { x: "V", res: "V", w: "V", mean: "f32", rstd: "f32", dOut: "V" },
  outputs: { dX: "V", dX2: "V" },
  uniforms: { cu: "u32", c: "f32" },
  workgroup: (k: DxKey) => k.wg,
  per: "workgroup",
  index: "row",
  flat: (k) => bwdFlat(k, ["x", "w", "dOut"]),
  head: (k) => `${bwdPrelude(k)}\nvar<workgroup> sh: array<f32, ${k.wg}>;`,
  body: (k) =>
    `let CU = p.cu;
  let base = row * CU;
  let m = mean[row];
  let rs = rstd[row];
  var a0 = 0.0;
  var q0 = 0.0;
  for (var i = lid; i < CU; i += ${k.wg}u) {
    let k = base + i;
    let g = load_dOut(k) * load_w(i);
    a0 += hsum(g);
    q0 += hsum(g * (xin(k) - m) * rs);
  }
  ${workgroupSum("a0", "at", k.wg)}
  ${workgroupSum("q0", "qt", k.wg)}
  let a = at / p.c;
  let q = qt / p.c;
  for (var i = lid; i < CU; i += ${k.wg}u) {
    let k = base + i;
    let g = load_dOut(k) * load_w(i);
    let d = rs * (g - a - (xin(k) - m) * rs * q);
    dX[base + i] = d;
    ${k.twice ? "dX2[base + i] = d;" : ""}
  }`,
});

/**
 * `dw`: also write the block's partial weight and bias gradients; `words`: column words each
 * invocation of the second phase takes per row (4 on CPU adapters, 1 on GPUs).
 */
type FusedKey = Vec & { twice: boolean; dw: boolean; words: number };

// dX and the partial dW, dB of one block of BLOCK rows per workgroup (the one invocation per row
// layout). Phase 1: invocation `lid` reduces row r0 + lid to (mean_j g, mean_j g xh) in
// workgroup memory. Phase 2: the first P = 8 ceil(CU / (8 W)) invocations (at most BLOCK) take
// W = `words` column words each, u + t P (t < W) for u = lid, lid + W P, ..., and walk the
// block's rows in order: each row's statistics are read once for W words, dX is written and
// dy xh and dy summed: the same sums in the same order as `PARTIAL`, with dy and x loaded once for
// both. Neighbouring invocations take neighbouring words (contiguous loads and stores; GPUs
// coalesce them). On llvmpipe a workgroup-memory load costs about what a word's other work does,
// hence 4 words per load there (and 8 active lanes, one SIMD batch, for C = 128).
const FUSED = program({
  label: "layernorm_backward",
  inputs: { x: "V", res: "V", w: "V", mean: "f32", rstd: "f32", dOut: "V" },
  outputs: { dX: "V", dX2: "V", pw: "V", pb: "V" },
  uniforms: { rows: "u32", cu: "u32", c: "f32" },
  workgroup: BLOCK,
  per: "workgroup",
  index: "blk",
  flat: (k: FusedKey) => bwdFlat(k, ["x", "w", "dOut"]),
  // Per row of the block: vec4f(mean, rstd, mean_j g, mean_j g xh).
  head: (k) => `${bwdPrelude(k)}\nvar<workgroup> st: array<vec4f, ${BLOCK}>;`,
  body: fusedBody,
});

function fusedBody(k: FusedKey): string {
  const each = (f: (t: number) => string): string =>
    Array.from({ length: k.words }, (_, t) => f(t)).join("\n    ");
  // Word t of the invocation's group, when inside the row (word 0 always is).
  const guard = (t: number, s: string): string => t ? `if (u${t} < CU) { ${s} }` : `{ ${s} }`;
  const word = (t: number): string =>
    guard(
      t,
      `let k = rb + u${t};
      let dy = load_dOut(k);
      let xc = xin(k) - s.x;
      let d = s.y * (dy * w${t} - s.z - xc * s.y * s.w);
      dX[k] = d;${k.twice ? "\n      dX2[k] = d;" : ""}${
        k.dw ? `\n      sw${t} += dy * xc * s.y;\n      sb${t} += dy;` : ""
      }`,
    );
  const partial = (t: number): string =>
    guard(t, `pw[blk * CU + u${t}] = sw${t};\n    pb[blk * CU + u${t}] = sb${t};`);
  return `let CU = p.cu;
  let r0 = blk * ${BLOCK}u;
  let nr = min(${BLOCK}u, p.rows - r0);
  if (lid < nr) {
    let base = (r0 + lid) * CU;
    let m = mean[r0 + lid];
    let rs = rstd[r0 + lid];
    var a0 = 0.0;
    var q0 = 0.0;
    for (var i = 0u; i < CU; i++) {
      let k = base + i;
      let g = load_dOut(k) * load_w(i);
      a0 += hsum(g);
      q0 += hsum(g * (xin(k) - m) * rs);
    }
    st[lid] = vec4f(m, rs, a0 / p.c, q0 / p.c);
  }
  workgroupBarrier();
  let P = min(${BLOCK}u, (CU + ${8 * k.words - 1}u) / ${8 * k.words}u * 8u);
  if (lid >= P) { return; }
  for (var u0 = lid; u0 < CU; u0 += ${k.words}u * P) {
    ${each((t) => `let u${t} = u0 + ${t}u * P;`)}
    ${each((t) => `var w${t} = V(0.0);`)}
    ${each((t) => guard(t, `w${t} = load_w(u${t});`))}
    ${k.dw ? each((t) => `var sw${t} = V(0.0);\n    var sb${t} = V(0.0);`) : ""}
    for (var j = 0u; j < nr; j++) {
      let s = st[j];
      let rb = (r0 + j) * CU;
      ${each(word).replaceAll("\n    ", "\n      ")}
    }
    ${k.dw ? each(partial) : ""}
  }`;
}

// Pass 1: one invocation per (block of rows, column word) sums dy xh and dy over its rows.
const PARTIAL = program({
  label: "layernorm_backward_dw_partial",
  inputs: { x: "V", res: "V", mean: "f32", rstd: "f32", dOut: "V" },
  outputs: { pw: "V", pb: "V" },
  uniforms: { rows: "u32", cu: "u32" },
  workgroup: WG,
  flat: (k: Vec) => bwdFlat(k, ["x", "dOut"]),
  head: bwdPrelude,
  body: () =>
    `let CU = p.cu;
  let blk = i / CU;
  let u = i - blk * CU;
  let r1 = min(p.rows, (blk + 1u) * ${BLOCK}u);
  var sw = V(0.0);
  var sb = V(0.0);
  for (var r = blk * ${BLOCK}u; r < r1; r++) {
    let k = r * CU + u;
    let dy = load_dOut(k);
    sw += dy * (xin(k) - mean[r]) * rstd[r];
    sb += dy;
  }
  pw[i] = sw;
  pb[i] = sb;`,
});

// Pass 2: one invocation per column word adds the partials in block order.
const FINAL = program({
  label: "layernorm_backward_dw",
  inputs: { pw: "V", pb: "V" },
  outputs: { dW: "V", dB: "V" },
  uniforms: { blocks: "u32" },
  workgroup: LN_WG,
  index: "u",
  head: (k: { vec: boolean; acc: boolean }) => lnPrelude(k.vec),
  body: (k) =>
    `let CU = p.n;
  var sw = V(0.0);
  var sb = V(0.0);
  for (var k = 0u; k < p.blocks; k++) {
    sw += pw[k * CU + u];
    sb += pb[k * CU + u];
  }
  dW[u] = ${k.acc ? "dW[u] + sw" : "sw"};
  dB[u] = ${k.acc ? "dB[u] + sb" : "sb"};`,
});

/**
 * Arguments of `layerNormBackwardKernel`: the forward's `x` and `residual`, `w`, the saved `mean`
 * and `rstd`, sizes; each gradient output is optional.
 */
export interface LayerNormBackwardArgs<B>
  extends
    Required<Pick<LayerNormArgs<B>, "x" | "w" | "mean" | "rstd" | "rows" | "cols">>,
    Pick<LayerNormArgs<B>, "residual"> {
  /** Gradient of the output, (R, C). */
  dOut: B;
  /** Gradient of the input, (R, C) (overwritten), when wanted. */
  dX?: B;
  /**
   * A second copy of dX, (R, C), when wanted (the residual form's two inputs get equal gradients
   * that must not share storage, since leaf gradients accumulate in place).
   */
  dX2?: B;
  /** Gradient of the weight, (C) (overwritten), when wanted. */
  dW?: B;
  /** Gradient of the bias, (C) (overwritten), when wanted. */
  dB?: B;
  /** Add the weight and bias gradients into `dW` and `dB` instead of overwriting them. */
  accumulate?: boolean;
}

/**
 * LayerNorm gradients from the saved mean and rstd: the input gradient (rows, cols) and the weight
 * and bias gradients (cols), `dw = sum_rows dy * xh`, `db = sum_rows dy`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { layerNormBackwardKernel } from "./layernorm.ts";
 * const dW = new Float64Array(2), dB = new Float64Array(2), dOut = new Float64Array([0.5, 0.25]);
 * const x = new Float64Array([1, 3]), w = new Float64Array([1, 1]);
 * layerNormBackwardKernel.cpu({
 *   x, w, mean: new Float64Array([2]), rstd: new Float64Array([1]), dOut, dW, dB, rows: 1, cols: 2,
 * });
 * assert(dW[0] === -0.5 && dB[1] === 0.25); // xh = [-1, 1]
 * ```
 */
export const layerNormBackwardKernel: Kernel<
  LayerNormBackwardArgs<Buf>,
  LayerNormBackwardArgs<FloatArray>
> = {
  // One invocation per row (CPU adapters, GPUs' short rows): `FUSED` writes dX (and its copy
  // dX2) and the weight and bias gradients' partial sums per block of 64 rows, then `FINAL` adds
  // the partials in block order (none when R <= 64 and nothing accumulates). A workgroup per row
  // (GPUs' long rows), or no dX: `DX`, then `PARTIAL` and `FINAL`. No atomics.
  // Scratch: 8 C ceil(R/64) bytes.
  gpu(ctx, a) {
    if (a.rows === 0 || a.cols === 0) return;
    const cu = lnWords(a.cols);
    const n = a.rows * a.cols;
    const vec = a.cols % 4 === 0;
    const floats = { x: n, res: n, w: a.cols, dOut: n };
    const { x, residual: res, mean, rstd, dOut } = a;
    const residual = !!res;
    const wg = layerNormLayout(ctx, a.cols);
    const dw = !!(a.dW || a.dB);
    const blocks = Math.ceil(a.rows / BLOCK);
    const bytes = a.cols * 4;
    const dW = dw ? a.dW ?? ctx.scratch(bytes) : undefined;
    const dB = dw ? a.dB ?? ctx.scratch(bytes) : undefined;
    const one = blocks === 1 && !a.accumulate;
    const pw = dw ? (one ? dW : ctx.scratch(blocks * bytes)) : undefined;
    const pb = dw ? (one ? dB : ctx.scratch(blocks * bytes)) : undefined;
    if (a.dX && wg === 0) {
      FUSED.run(ctx, {
        key: { vec, residual, twice: !!a.dX2, dw, words: ctx.isCpuAdapter ? 4 : 1 },
        bind: { x, res, w: a.w, mean, rstd, dOut, dX: a.dX, dX2: a.dX2, pw, pb },
        floats,
        params: { rows: a.rows, cu, c: a.cols },
        count: blocks,
      });
    } else {
      if (a.dX) {
        DX.run(ctx, {
          key: { vec, residual, twice: !!a.dX2, wg },
          bind: { x, res, w: a.w, mean, rstd, dOut, dX: a.dX, dX2: a.dX2 },
          floats,
          params: { cu, c: a.cols },
          count: a.rows,
        });
      }
      if (!dw) return;
      PARTIAL.run(ctx, {
        key: { vec, residual },
        bind: { x, res, mean, rstd, dOut, pw, pb },
        floats,
        params: { rows: a.rows, cu },
        count: blocks * cu,
      });
    }
    if (!dw || one) return;
    const acc = !!a.accumulate;
    FINAL.run(ctx, {
      key: { vec, acc },
      bind: { pw: pw!, pb: pb!, dW: dW!, dB: dB! },
      params: { blocks },
      count: cu,
    });
  },
  cpu(a) {
    const c = a.cols, res = a.residual;
    const dw = new Float64Array(c), db = new Float64Array(c);
    const x = res ? a.x.map((v, k) => v + res[k]) : a.x;
    for (let r = 0; r < a.rows; r++) {
      const m = a.mean[r], rs = a.rstd[r];
      let sg = 0, sgx = 0;
      for (let j = 0; j < c; j++) {
        const k = r * c + j, dy = a.dOut[k], xh = (x[k] - m) * rs, g = dy * a.w[j];
        sg += g;
        sgx += g * xh;
        dw[j] += dy * xh;
        db[j] += dy;
      }
      if (!a.dX) continue;
      for (let j = 0; j < c; j++) {
        const k = r * c + j, xh = (x[k] - m) * rs;
        a.dX[k] = rs * (a.dOut[k] * a.w[j] - sg / c - (xh * sgx) / c);
        if (a.dX2) a.dX2[k] = a.dX[k];
      }
    }
    for (let j = 0; j < c; j++) {
      if (a.dW) a.dW[j] = a.accumulate ? a.dW[j] + dw[j] : dw[j];
      if (a.dB) a.dB[j] = a.accumulate ? a.dB[j] + db[j] : db[j];
    }
  },
};
