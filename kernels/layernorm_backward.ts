/**
 * LayerNorm backward: the input gradient per row, and the weight and bias gradients reduced over
 * rows deterministically without atomics (fixed blocks of rows give partial sums, then a second
 * pass adds the partials in block order), so gradients are bit-identical run after run.
 * Reference: with xh = (x - mean) rstd and g = dy w,
 * dx = rstd (g - mean_j(g) - xh mean_j(g xh)), dw = sum_rows dy xh, db = sum_rows dy.
 * @module
 */
import { type Buf, type FloatArray, grid1d, type KernelContext } from "./context.ts";
import { LN_WG, lnPrelude, lnWords } from "./layernorm.ts";
import { flatDecl, flatInputs, flatRead } from "./_flat_texture.ts";

const WG = 256;
/** Rows per partial sum of the weight and bias gradients (fixed: it sets the summation order). */
const BLOCK = 64;

function dxCode(cols: number, twice: boolean, tex: boolean): string {
  const x = (k: string) => flatRead("x", tex, k);
  const w = (k: string) => flatRead("w", tex, k);
  const dOut = (k: string) => flatRead("dOut", tex, k);
  return /* wgsl */ `${lnPrelude(cols)}
struct P { rows: u32, cu: u32, c: f32 }
${flatDecl(0, "x", "array<V>", tex)}
${flatDecl(1, "w", "array<V>", tex)}
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
${flatDecl(4, "dOut", "array<V>", tex)}
@group(0) @binding(5) var<storage, read_write> dX: array<V>;
@group(0) @binding(${twice ? 7 : 6}) var<uniform> p: P;
${twice ? "@group(0) @binding(6) var<storage, read_write> dX2: array<V>;" : ""}
@compute @workgroup_size(${LN_WG})
fn main(@builtin(global_invocation_id) gi: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let row = gi.x + gi.y * nw.x * ${LN_WG}u;
  if (row >= p.rows) { return; }
  let CU = p.cu;
  let base = row * CU;
  let m = mean[row];
  let rs = rstd[row];
  var a = 0.0;
  var q = 0.0;
  for (var i = 0u; i < CU; i++) {
    let k = base + i;
    let g = ${dOut("k")} * ${w("i")};
    a += hsum(g);
    q += hsum(g * (${x("k")} - m) * rs);
  }
  a /= p.c;
  q /= p.c;
  for (var i = 0u; i < CU; i++) {
    let k = base + i;
    let g = ${dOut("k")} * ${w("i")};
    let d = rs * (g - a - (${x("k")} - m) * rs * q);
    dX[base + i] = d;
    ${twice ? "dX2[base + i] = d;" : ""}
  }
}`;
}

// Pass 1: one invocation per (block of rows, column word) sums dy xh and dy over its rows.
function partialCode(cols: number, tex: boolean): string {
  return /* wgsl */ `${lnPrelude(cols)}
struct P { rows: u32, n: u32, cu: u32 }
${flatDecl(0, "x", "array<V>", tex)}
@group(0) @binding(1) var<storage, read> mean: array<f32>;
@group(0) @binding(2) var<storage, read> rstd: array<f32>;
${flatDecl(3, "dOut", "array<V>", tex)}
@group(0) @binding(4) var<storage, read_write> pw: array<V>;
@group(0) @binding(5) var<storage, read_write> pb: array<V>;
@group(0) @binding(6) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gi: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gi.x + gi.y * nw.x * ${WG}u;
  if (i >= p.n) { return; }
  let CU = p.cu;
  let blk = i / CU;
  let u = i - blk * CU;
  let r1 = min(p.rows, (blk + 1u) * ${BLOCK}u);
  var sw = V(0.0);
  var sb = V(0.0);
  for (var r = blk * ${BLOCK}u; r < r1; r++) {
    let k = r * CU + u;
    let dy = ${flatRead("dOut", tex, "k")};
    sw += dy * (${flatRead("x", tex, "k")} - mean[r]) * rstd[r];
    sb += dy;
  }
  pw[i] = sw;
  pb[i] = sb;
}`;
}

// Pass 2: one invocation per column word adds the partials in block order.
function finalCode(cols: number): string {
  return /* wgsl */ `${lnPrelude(cols)}
struct P { blocks: u32, cu: u32 }
@group(0) @binding(0) var<storage, read> pw: array<V>;
@group(0) @binding(1) var<storage, read> pb: array<V>;
@group(0) @binding(2) var<storage, read_write> dW: array<V>;
@group(0) @binding(3) var<storage, read_write> dB: array<V>;
@group(0) @binding(4) var<uniform> p: P;
@compute @workgroup_size(${LN_WG})
fn main(@builtin(global_invocation_id) gi: vec3u) {
  let u = gi.x;
  let CU = p.cu;
  if (u >= CU) { return; }
  var sw = V(0.0);
  var sb = V(0.0);
  for (var k = 0u; k < p.blocks; k++) {
    sw += pw[k * CU + u];
    sb += pb[k * CU + u];
  }
  dW[u] = sw;
  dB[u] = sb;
}`;
}

function dxParams(rows: number, cu: number, cols: number): Uint32Array {
  const p = new Uint32Array([rows, cu, 0]);
  new Float32Array(p.buffer).set([cols], 2);
  return p;
}

/** Arguments of `layerNormBackward`; each gradient output is optional. */
export interface LayerNormBackwardArgs<B> {
  /** The normalised input, (R, C) (for the residual form: the saved sum x + residual). */
  x: B;
  /** Weight, (C). */
  w: B;
  /** Saved row means, (R). */
  mean: B;
  /** Saved row 1 / sqrt(var + eps), (R). */
  rstd: B;
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
  /** Rows R. */
  rows: number;
  /** Row length C. */
  cols: number;
}

/**
 * Runs the LayerNorm backward on the GPU.
 *
 * dX (and its copy dX2): one invocation per row, two passes over it. dW and dB: per block of 64
 * rows and column a partial sum, then one invocation per column adds the partials in block order
 * (one pass when R <= 64); no atomics, so the result does not depend on scheduling.
 * Scratch: 8 C ceil(R/64) bytes.
 *
 * @example
 * ```ts ignore
 * layerNormBackward(ctx, { x, w, mean, rstd, dOut, dX, dW, dB, rows: 4096, cols: 128 });
 * ```
 * @param ctx kernel context
 * @param a buffers and sizes
 */
export function layerNormBackward(ctx: KernelContext, a: LayerNormBackwardArgs<Buf>): void {
  if (a.rows === 0 || a.cols === 0) return;
  const cu = lnWords(a.cols);
  const n = a.rows * a.cols;
  const { tex, bind } = flatInputs(ctx, a.cols % 4 === 0, [[a.x, n], [a.w, a.cols], [a.dOut, n]]);
  const [x, w, dOut] = bind;
  if (a.dX) {
    ctx.dispatch({
      code: dxCode(a.cols, !!a.dX2, tex),
      bindings: [x, w, a.mean, a.rstd, dOut, a.dX, ...(a.dX2 ? [a.dX2] : [])],
      params: dxParams(a.rows, cu, a.cols),
      workgroups: grid1d(Math.ceil(a.rows / LN_WG), ctx.maxWorkgroups),
      label: "layernorm_backward_dx",
    });
  }
  if (!a.dW && !a.dB) return;
  const blocks = Math.ceil(a.rows / BLOCK);
  const bytes = a.cols * 4;
  const dW = a.dW ?? ctx.scratch(bytes), dB = a.dB ?? ctx.scratch(bytes);
  const one = blocks === 1;
  const pw = one ? dW : ctx.scratch(blocks * bytes), pb = one ? dB : ctx.scratch(blocks * bytes);
  const words = blocks * cu;
  ctx.dispatch({
    code: partialCode(a.cols, tex),
    bindings: [x, a.mean, a.rstd, dOut, pw, pb],
    params: new Uint32Array([a.rows, words, cu]),
    workgroups: grid1d(Math.ceil(words / WG), ctx.maxWorkgroups),
    label: "layernorm_backward_dw_partial",
  });
  if (one) return;
  ctx.dispatch({
    code: finalCode(a.cols),
    bindings: [pw, pb, dW, dB],
    params: new Uint32Array([blocks, cu]),
    workgroups: [Math.ceil(cu / LN_WG)],
    label: "layernorm_backward_dw",
  });
}

/**
 * CPU reference of `layerNormBackward`, in doubles.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { layerNormBackwardCpu } from "./layernorm_backward.ts";
 * const dB = new Float64Array(2);
 * layerNormBackwardCpu({
 *   x: new Float64Array([1, 3]), w: new Float64Array([1, 1]), mean: new Float64Array([2]),
 *   rstd: new Float64Array([1]), dOut: new Float64Array([0.5, 0.25]), dB, rows: 1, cols: 2,
 * });
 * assert(dB[0] === 0.5 && dB[1] === 0.25);
 * ```
 * @param a arrays and sizes
 */
export function layerNormBackwardCpu(a: LayerNormBackwardArgs<FloatArray>): void {
  const c = a.cols;
  const dw = new Float64Array(c), db = new Float64Array(c);
  for (let r = 0; r < a.rows; r++) {
    const m = a.mean[r], rs = a.rstd[r];
    let sg = 0, sgx = 0;
    for (let j = 0; j < c; j++) {
      const k = r * c + j, dy = a.dOut[k], xh = (a.x[k] - m) * rs, g = dy * a.w[j];
      sg += g;
      sgx += g * xh;
      dw[j] += dy * xh;
      db[j] += dy;
    }
    if (!a.dX) continue;
    for (let j = 0; j < c; j++) {
      const k = r * c + j, xh = (a.x[k] - m) * rs;
      a.dX[k] = rs * (a.dOut[k] * a.w[j] - sg / c - (xh * sgx) / c);
      if (a.dX2) a.dX2[k] = a.dX[k];
    }
  }
  if (a.dW) a.dW.set(dw);
  if (a.dB) a.dB.set(db);
}
