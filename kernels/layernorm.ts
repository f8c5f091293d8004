/**
 * LayerNorm over the last axis with a weight and a bias, and the fused residual form
 * out = LN(x + r) that a post-norm transformer applies after every sublayer (one pass instead of
 * an add then a norm). The forward saves each row's mean and reciprocal standard deviation for
 * the backward pass (`layernorm_backward.ts`).
 * Reference: Ba, Kiros and Hinton 2016, y = (x - mean) / sqrt(var + eps) * w + b (biased var).
 * @module
 */
import type { Buf, FloatArray, KernelContext } from "./context.ts";
import { type Kernel, kernel, program } from "./program.ts";

/** Invocations per workgroup of the row kernels (one invocation per row). */
export const LN_WG = 64;

/** The default eps, as in the reference implementation (BERT-style 1e-12). */
export const LN_EPS = 1e-12;

/**
 * The WGSL prelude shared by the LayerNorm kernels: `V` is vec4f when the row length is a
 * multiple of 4 (rows read 4 columns per load), else f32; `hsum` adds its components. Row
 * lengths travel in uniforms: baked loop counts get fully unrolled by llvmpipe's compiler
 * (seconds per pipeline at C = 128).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { lnPrelude } from "./layernorm.ts";
 * assert(lnPrelude(128).includes("vec4f"));
 * ```
 * @returns WGSL declaring `V` and `hsum`
 */
export function lnPrelude(cols: number): string {
  const vec = cols % 4 === 0;
  return /* wgsl */ `
alias V = ${vec ? "vec4f" : "f32"};
fn hsum(v: V) -> f32 { return ${vec ? "dot(v, vec4f(1.0))" : "v"}; }`;
}

/**
 * Row length in `V` words: C / 4 when C is a multiple of 4, else C.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { lnWords } from "./layernorm.ts";
 * assert(lnWords(128) === 32 && lnWords(7) === 7);
 * ```
 */
export function lnWords(cols: number): number {
  return cols % 4 === 0 ? cols / 4 : cols;
}

/** `wg`: invocations per row (a workgroup per row, GPUs); 0: one invocation per row. */
type FwdKey = { vec: boolean; residual: boolean; saveSum: boolean; stats: boolean; wg: number };

/**
 * How `layerNormForward` maps rows: 0 for one invocation per row (CPU adapters, and rows shorter
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
 * @param cols row length
 * @returns invocations per row, or 0 for one invocation per row
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

/**
 * WGSL statements that tree-sum the f32 `v` over a workgroup of `n` invocations (a power of two)
 * through `var<workgroup> sh: array<f32, n>` and bind the total to `let <into>` in every
 * invocation (shared by the LayerNorm kernels' workgroup-per-row layout).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { workgroupSum } from "./layernorm.ts";
 * assert(workgroupSum("s", "total", 64).includes("let total = sh[0];"));
 * ```
 * @returns WGSL statements
 */
export function workgroupSum(v: string, into: string, n: number): string {
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
  outputs: { out: "V", sum: "V", mean: "f32", rstd: "f32" },
  uniforms: { eps: "f32", cu: "u32", c: "f32" },
  workgroup: (k) => k.wg || LN_WG,
  per: (k) => k.wg ? "workgroup" : "invocation",
  index: "row",
  flat: (k) => k.vec ? (k.residual ? ["x", "res", "w", "b"] : ["x", "w", "b"]) : [],
  // With textures, reading the inputs again is cheaper than reading back the saved sum.
  head: (k) =>
    `${lnPrelude(k.vec ? 4 : 1)}
fn first(k: u32) -> V { return load_x(k)${k.residual ? " + load_res(k)" : ""}; }
fn again(k: u32) -> V { ${k.saveSum ? "if (!FLAT_TEX) { return sum[k]; }" : ""} return first(k); }
${k.wg ? `var<workgroup> sh: array<f32, ${k.wg}>;` : ""}`,
  body: (k) => k.wg ? wideBody(k) : rowBody(k),
});

/** A workgroup per row: each invocation strides the row, partial sums meet in workgroup memory. */
function wideBody(k: FwdKey): string {
  return `let CU = p.cu;
  let base = row * CU;
  var s = 0.0;
  for (var i = lid; i < CU; i += ${k.wg}u) {
    let v = first(base + i);
    ${k.saveSum ? "sum[base + i] = v;" : ""}
    s += hsum(v);
  }
  ${workgroupSum("s", "total", k.wg)}
  let m = total / p.c;
  var q = 0.0;
  for (var i = lid; i < CU; i += ${k.wg}u) {
    let d = again(base + i) - m;
    q += hsum(d * d);
  }
  ${workgroupSum("q", "squares", k.wg)}
  let rs = inverseSqrt(squares / p.c + p.eps);
  for (var i = lid; i < CU; i += ${k.wg}u) {
    out[base + i] = (again(base + i) - m) * rs * load_w(i) + load_b(i);
  }
  ${k.stats ? "if (lid == 0u) {\n    mean[row] = m;\n    rstd[row] = rs;\n  }" : ""}`;
}

/** One invocation per row, three passes over it. */
function rowBody(k: FwdKey): string {
  return `let CU = p.cu;
  let base = row * CU;
  var s = 0.0;
  for (var i = 0u; i < CU; i++) {
    let v = first(base + i);
    ${k.saveSum ? "sum[base + i] = v;" : ""}
    s += hsum(v);
  }
  let m = s / p.c;
  var q = 0.0;
  for (var i = 0u; i < CU; i++) {
    let d = again(base + i) - m;
    q += hsum(d * d);
  }
  let rs = inverseSqrt(q / p.c + p.eps);
  for (var i = 0u; i < CU; i++) {
    out[base + i] = (again(base + i) - m) * rs * load_w(i) + load_b(i);
  }
  ${k.stats ? "mean[row] = m;\n  rstd[row] = rs;" : ""}`;
}

/**
 * Arguments of `layerNormForward`: `B` is a GPU buffer for the launcher, a float array for the
 * reference.
 */
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
  /** Optional output, (R, C): x + residual, written when given (backward needs it). */
  sum?: B;
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
  if (a.sum && !a.residual) throw new Error("LayerNorm writes `sum` only with a residual");
}

/**
 * Runs LayerNorm over rows on the GPU, optionally of x + residual, optionally saving the sum and
 * each row's mean and rstd. Three passes over each row (mean, centred variance, output), by one
 * invocation per row, or on GPUs by a workgroup per row (`layerNormLayout`); C, R and eps are
 * uniforms.
 */
function layerNormForward(ctx: KernelContext, a: LayerNormArgs<Buf>): void {
  checkArgs(a);
  if (a.rows === 0 || a.cols === 0) return;
  const n = a.rows * a.cols;
  const { residual: res, sum, mean, rstd } = a;
  const wg = layerNormLayout(ctx, a.cols);
  const key = { vec: a.cols % 4 === 0, residual: !!res, saveSum: !!sum, stats: !!mean, wg };
  FORWARD.run(ctx, {
    key,
    bind: { x: a.x, res, w: a.w, b: a.b, out: a.out, sum, mean, rstd },
    floats: { x: n, res: n, w: a.cols, b: a.cols },
    params: { eps: a.eps ?? LN_EPS, cu: lnWords(a.cols), c: a.cols },
    count: a.rows,
  });
}

/** CPU reference of `layerNormForward`, in doubles. */
function layerNormForwardCpu(a: LayerNormArgs<FloatArray>): void {
  checkArgs(a);
  const c = a.cols, eps = a.eps ?? LN_EPS;
  const v = new Float64Array(c);
  for (let r = 0; r < a.rows; r++) {
    let s = 0;
    for (let j = 0; j < c; j++) {
      v[j] = a.x[r * c + j] + (a.residual ? a.residual[r * c + j] : 0);
      if (a.sum) a.sum[r * c + j] = v[j];
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
}

/**
 * LayerNorm of each row of `x` (or `x + residual`), (rows, cols):
 * `out = (x - mean) / sqrt(var + eps) * w + b`; optionally saves the sum, mean and rstd.
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
export const layerNormKernel: Kernel<LayerNormArgs<Buf>, LayerNormArgs<FloatArray>> = kernel(
  layerNormForward,
  layerNormForwardCpu,
);
