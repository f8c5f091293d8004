/**
 * LayerNorm backward: the input gradient per row, and the weight and bias gradients reduced over
 * rows deterministically without atomics (fixed blocks of rows give partial sums, then a second
 * pass adds the partials in block order), so gradients are bit-identical run after run.
 * Reference: with xh = (x - mean) rstd and g = dy w,
 * dx = rstd (g - mean_j(g) - xh mean_j(g xh)), dw = sum_rows dy xh, db = sum_rows dy.
 * @module
 */
import type { Buf, FloatArray, KernelContext } from "./context.ts";
import { layerNormLayout, LN_WG, lnPrelude, lnWords, workgroupSum } from "./layernorm.ts";
import { type Kernel, kernel, program } from "./program.ts";

const WG = 256;
/** Rows per partial sum of the weight and bias gradients (fixed: it sets the summation order). */
const BLOCK = 64;

type Vec = { vec: boolean };

/** `wg`: invocations per row (a workgroup per row, `layerNormLayout`); 0: one per row. */
type DxKey = Vec & { twice: boolean; wg: number };

const DX = program({
  label: "layernorm_backward_dx",
  inputs: { x: "V", w: "V", mean: "f32", rstd: "f32", dOut: "V" },
  outputs: { dX: "V", dX2: "V" },
  uniforms: { cu: "u32", c: "f32" },
  workgroup: (k: DxKey) => k.wg || LN_WG,
  per: (k) => k.wg ? "workgroup" : "invocation",
  index: "row",
  flat: (k) => k.vec ? ["x", "w", "dOut"] : [],
  head: (k) => lnPrelude(k.vec ? 4 : 1) + (k.wg ? `\nvar<workgroup> sh: array<f32, ${k.wg}>;` : ""),
  // With a workgroup per row, invocation `lid` takes words lid, lid + wg, ... of the row.
  body: (k) => {
    const [from, step] = k.wg ? ["lid", `${k.wg}u`] : ["0u", "1u"];
    const sums = k.wg
      ? `${workgroupSum("a0", "at", k.wg)}
  ${workgroupSum("q0", "qt", k.wg)}
  let a = at / p.c;
  let q = qt / p.c;`
      : "let a = a0 / p.c;\n  let q = q0 / p.c;";
    return `let CU = p.cu;
  let base = row * CU;
  let m = mean[row];
  let rs = rstd[row];
  var a0 = 0.0;
  var q0 = 0.0;
  for (var i = ${from}; i < CU; i += ${step}) {
    let k = base + i;
    let g = load_dOut(k) * load_w(i);
    a0 += hsum(g);
    q0 += hsum(g * (load_x(k) - m) * rs);
  }
  ${sums}
  for (var i = ${from}; i < CU; i += ${step}) {
    let k = base + i;
    let g = load_dOut(k) * load_w(i);
    let d = rs * (g - a - (load_x(k) - m) * rs * q);
    dX[base + i] = d;
    ${k.twice ? "dX2[base + i] = d;" : ""}
  }`;
  },
});

// Pass 1: one invocation per (block of rows, column word) sums dy xh and dy over its rows.
const PARTIAL = program({
  label: "layernorm_backward_dw_partial",
  inputs: { x: "V", mean: "f32", rstd: "f32", dOut: "V" },
  outputs: { pw: "V", pb: "V" },
  uniforms: { rows: "u32", cu: "u32" },
  workgroup: WG,
  flat: (k: Vec) => k.vec ? ["x", "dOut"] : [],
  head: (k) => lnPrelude(k.vec ? 4 : 1),
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
    sw += dy * (load_x(k) - mean[r]) * rstd[r];
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
  head: (k: Vec & { acc: boolean }) => lnPrelude(k.vec ? 4 : 1),
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
  /** Add the weight and bias gradients into `dW` and `dB` instead of overwriting them. */
  accumulate?: boolean;
  /** Rows R. */
  rows: number;
  /** Row length C. */
  cols: number;
}

/**
 * Runs the LayerNorm backward on the GPU. dX (and its copy dX2): one invocation per row, two passes
 * over it. dW and dB: per block of 64 rows and column a partial sum, then one invocation per column
 * adds the partials in block order (one pass when R <= 64); no atomics, so the result does not
 * depend on scheduling. Scratch: 8 C ceil(R/64) bytes.
 */
function layerNormBackward(ctx: KernelContext, a: LayerNormBackwardArgs<Buf>): void {
  if (a.rows === 0 || a.cols === 0) return;
  const cu = lnWords(a.cols);
  const n = a.rows * a.cols;
  const vec = a.cols % 4 === 0;
  const floats = { x: n, w: a.cols, dOut: n };
  const { x, mean, rstd, dOut } = a;
  let reuse;
  if (a.dX) {
    reuse = DX.run(ctx, {
      key: { vec, twice: !!a.dX2, wg: layerNormLayout(ctx, a.cols) },
      bind: { x, w: a.w, mean, rstd, dOut, dX: a.dX, dX2: a.dX2 },
      floats,
      params: { cu, c: a.cols },
      count: a.rows,
    });
  }
  if (!a.dW && !a.dB) return;
  const blocks = Math.ceil(a.rows / BLOCK);
  const bytes = a.cols * 4;
  const dW = a.dW ?? ctx.scratch(bytes), dB = a.dB ?? ctx.scratch(bytes);
  const one = blocks === 1 && !a.accumulate;
  const pw = one ? dW : ctx.scratch(blocks * bytes), pb = one ? dB : ctx.scratch(blocks * bytes);
  PARTIAL.run(ctx, {
    key: { vec },
    bind: { x, mean, rstd, dOut, pw, pb },
    floats,
    reuse,
    params: { rows: a.rows, cu },
    count: blocks * cu,
  });
  if (one) return;
  const acc = !!a.accumulate;
  FINAL.run(ctx, { key: { vec, acc }, bind: { pw, pb, dW, dB }, params: { blocks }, count: cu });
}

/** CPU reference of `layerNormBackward`, in doubles. */
function layerNormBackwardCpu(a: LayerNormBackwardArgs<FloatArray>): void {
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
  for (let j = 0; j < c; j++) {
    if (a.dW) a.dW[j] = a.accumulate ? a.dW[j] + dw[j] : dw[j];
    if (a.dB) a.dB[j] = a.accumulate ? a.dB[j] + db[j] : db[j];
  }
}

/**
 * LayerNorm gradients from the saved mean and rstd: the input gradient (rows, cols) and the weight
 * and bias gradients (cols), `dw = sum_rows dy * xh`, `db = sum_rows dy`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { layerNormBackwardKernel } from "./layernorm_backward.ts";
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
> = kernel(layerNormBackward, layerNormBackwardCpu);
