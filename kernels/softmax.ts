/**
 * Softmax over the last axis, and cross-entropy fused with log-softmax, with their backwards.
 * Both keep a running maximum and a rescaled running sum in one pass over the row (the online
 * normaliser). Softmax then writes in a second pass, so a row is read twice; backward reads `y`
 * and `dy` twice. Cross-entropy saves the row's log-sum-exp for backward and writes the row's
 * loss; the `mean` reduction sums the rows and counts the non-ignored ones in a second,
 * single-workgroup pass whose count stays on the GPU for the backward, which writes
 * (softmax - onehot) * upstream / count in one pass over the logits. Short rows: one invocation
 * per row; long rows: one workgroup per row with a fixed-order tree merge (deterministic).
 * Reference: y = exp(x - max x) / sum exp(x - max x); dx = y * (dy - sum(dy * y)).
 * Reference: loss_r = logsumexp(x_r) - x_r[t_r]; dloss_r/dx_r = softmax(x_r) - onehot(t_r).
 * Reference: online softmax normaliser, Milakov & Gimelshein 2018 (arXiv:1805.02867).
 * @module
 */
import type { Buf, FloatArray } from "./context.ts";
import { type Kernel, NEG_BIG, rowProgram } from "./program.ts";

/** Arguments of `softmaxKernel`: `B` is a buffer for the launcher, an array for the reference. */
export interface SoftmaxArgs<B> {
  /** Input, (rows, n). */
  x: B;
  /** Result, (rows, n). */
  y: B;
  rows: number;
  /** Row length. */
  n: number;
}

/** Arguments of `softmaxBackwardKernel`: the forward's result `y` and sizes, and the gradients. */
export interface SoftmaxBackwardArgs<B> extends Omit<SoftmaxArgs<B>, "x"> {
  /** Gradient of the output, (rows, n). */
  dy: B;
  /** Gradient of the input, (rows, n). */
  dx: B;
}

// WGSL row state of the online softmax normaliser over `x` (`m` running max, `s` sum of
// exp(x - m)).
const ONLINE_SOFTMAX = {
  fields: "m: f32, s: f32",
  init: `S(${NEG_BIG}, 0.0)`,
  accum: `let v = x[base + i]; let mn = max(st.m, v);
    st.s = st.s * exp(st.m - mn) + exp(v - mn); st.m = mn;`,
  combine: `let mn = max(a.m, b.m);
  return S(mn, a.s * exp(a.m - mn) + b.s * exp(b.m - mn));`,
};

const FORWARD = rowProgram({
  label: "softmax",
  inputs: { x: "f32" },
  outputs: { y: "f32" },
  state: () => ONLINE_SOFTMAX,
  prelude: () => "let inv = 1.0 / st.s;",
  each: () => "y[base + i] = exp(x[base + i] - st.m) * inv;",
});

const BACKWARD = rowProgram({
  label: "softmax_backward",
  inputs: { y: "f32", dy: "f32" },
  outputs: { dx: "f32" },
  state: () => ({
    fields: "d: f32",
    init: "S(0.0)",
    accum: "st.d += dy[base + i] * y[base + i];",
    combine: "return S(a.d + b.d);",
  }),
  each: () => "dx[base + i] = y[base + i] * (dy[base + i] - st.d);",
});

// The max m of x[base..base + n) and sum(exp(x - m)) over it (CPU references).
function maxAndSum(x: FloatArray, base: number, n: number): [number, number] {
  let m = -Infinity, s = 0;
  for (let i = 0; i < n; i++) m = Math.max(m, x[base + i]);
  for (let i = 0; i < n; i++) s += Math.exp(x[base + i] - m);
  return [m, s];
}

/**
 * Softmax of each row of `x` (rows, n) into `y`: `y = exp(x - max x) / sum exp(x - max x)`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { softmaxKernel } from "./softmax.ts";
 * const y = new Float64Array(2);
 * softmaxKernel.cpu({ x: new Float64Array([0, Math.log(3)]), y, rows: 1, n: 2 });
 * assert(Math.abs(y[1] - 0.75) < 1e-15);
 * ```
 */
export const softmaxKernel: Kernel<SoftmaxArgs<Buf>, SoftmaxArgs<FloatArray>> = {
  gpu(ctx, args) {
    const { rows, n } = args;
    if (rows === 0 || n === 0) return;
    FORWARD.run(ctx, { key: {}, bind: { x: args.x, y: args.y }, rows, n });
  },
  cpu(args) {
    const { x, y, rows, n } = args;
    for (let r = 0; r < rows; r++) {
      const base = r * n, [m, s] = maxAndSum(x, base, n);
      for (let i = 0; i < n; i++) y[base + i] = Math.exp(x[base + i] - m) / s;
    }
  },
};

/**
 * Softmax backward from the forward output: `dx = y * (dy - sum(dy * y))` per row, all (rows, n).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { softmaxBackwardKernel } from "./softmax.ts";
 * const dx = new Float64Array(2);
 * const y = new Float64Array([0.25, 0.75]), dy = new Float64Array([1, 0]);
 * softmaxBackwardKernel.cpu({ y, dy, dx, rows: 1, n: 2 });
 * assert(dx[0] === 0.1875); // 0.25 * (1 - 0.25)
 * ```
 */
export const softmaxBackwardKernel: Kernel<
  SoftmaxBackwardArgs<Buf>,
  SoftmaxBackwardArgs<FloatArray>
> = {
  gpu(ctx, args) {
    const { rows, n } = args;
    if (rows === 0 || n === 0) return;
    BACKWARD.run(ctx, { key: {}, bind: { y: args.y, dy: args.dy, dx: args.dx }, rows, n });
  },
  cpu(args) {
    const { y, dy, dx, rows, n } = args;
    for (let r = 0; r < rows; r++) {
      const base = r * n;
      let d = 0;
      for (let i = 0; i < n; i++) d += dy[base + i] * y[base + i];
      for (let i = 0; i < n; i++) dx[base + i] = y[base + i] * (dy[base + i] - d);
    }
  },
};

// ------------------------------------------------------------ cross-entropy

/** How per-row losses are combined: averaged over non-ignored rows, or returned per row. */
export type Reduction = "mean" | "none";

const NAN_BITS = 0x7fc00000;

const CE_ROWS = rowProgram({
  label: "cross_entropy",
  inputs: { x: "f32", tg: "i32" },
  outputs: { rl: "f32", lse: "f32" },
  uniforms: { ign: "i32", nan: "u32" },
  state: () => ONLINE_SOFTMAX,
  once: () =>
    `let l = st.m + log(st.s);
    lse[row] = l;
    let t = tg[row];
    var v = 0.0;
    if (t != p.ign) {
      if (t < 0 || t >= i32(N)) { v = bitcast<f32>(p.nan); } else { v = l - x[base + u32(t)]; }
    }
    rl[row] = v;`,
});

// One row of all the row losses: their sum and the count of non-ignored rows.
const CE_MEAN = rowProgram({
  label: "cross_entropy_mean",
  inputs: { rl: "f32", tg: "i32" },
  outputs: { loss: "f32", cnt: "f32" },
  uniforms: { ign: "i32" },
  state: () => ({
    fields: "s: f32, c: f32",
    init: "S(0.0, 0.0)",
    accum: "st.s += rl[i]; st.c += select(0.0, 1.0, tg[i] != p.ign);",
    combine: "return S(a.s + b.s, a.c + b.c);",
  }),
  once: () => "cnt[0] = st.c; loss[0] = select(0.0, st.s / st.c, st.c > 0.0);",
});

const CE_BACKWARD = rowProgram({
  label: "cross_entropy_backward",
  inputs: { x: "f32", tg: "i32", lse: "f32", dy: "f32", cnt: "f32" },
  outputs: { dx: "f32" },
  uniforms: { ign: "i32" },
  prelude: (k: { mean: boolean }) =>
    `let t = tg[row];
  let l = lse[row];
  let valid = t != p.ign;
  var coef = 0.0;
  if (valid) { coef = ${k.mean ? "dy[0] / cnt[0]" : "dy[row]"}; }`,
  each: () =>
    "dx[base + i] = select(0.0, (exp(x[base + i] - l) - " +
    "select(0.0, 1.0, i32(i) == t)) * coef, valid);",
});

/** Arguments of `crossEntropyKernel`: buffers for the launcher, arrays for the reference. */
export interface CrossEntropyArgs<B, I = B> {
  /** Scores, (rows, classes). */
  logits: B;
  /** Class of each row, (rows) i32; `ignoreIndex` marks rows that do not count. */
  targets: I;
  /** Loss: (1) for `mean`, (rows) for `none` (0 on ignored rows). */
  loss: B;
  /** Log-sum-exp of each row, (rows): written for the backward. */
  lse: B;
  /** `mean` only: number of non-ignored rows as f32, (1) (scratch when omitted). */
  count?: B;
  rows: number;
  classes: number;
  /** Target value of rows to ignore (default -100). */
  ignoreIndex?: number;
  /** `mean` (default) or `none`. */
  reduction?: Reduction;
}

/**
 * Arguments of `crossEntropyBackwardKernel`: the forward's but `loss` (`lse` and, for `mean`,
 * `count` as the forward wrote them), plus `dy` and `dlogits`.
 */
export interface CrossEntropyBackwardArgs<B, I = B> extends Omit<CrossEntropyArgs<B, I>, "loss"> {
  /** Gradient of the loss: (1) for `mean`, (rows) for `none`. */
  dy: B;
  /** Gradient of the logits, (rows, classes). */
  dlogits: B;
}

function checkTarget(t: number, r: number, classes: number): void {
  if (!(t >= 0 && t < classes)) {
    throw new Error(
      `Cannot take cross-entropy: target ${t} of row ${r} is outside [0, ${classes})`,
    );
  }
}

/**
 * Cross-entropy of `logits` (rows, classes) against `targets` (rows):
 * `loss_r = logsumexp(x_r) - x_r[t_r]`, averaged over the non-ignored rows (`mean`) or per row
 * (`none`); also saves each row's log-sum-exp for the backward.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { crossEntropyKernel } from "./softmax.ts";
 * const loss = new Float64Array(1), lse = new Float64Array(2), count = new Float64Array(1);
 * const logits = new Float64Array([0, 0, 5, 1]), targets = new Int32Array([1, -100]);
 * crossEntropyKernel.cpu({ logits, targets, loss, lse, count, rows: 2, classes: 2 });
 * assert(Math.abs(loss[0] - Math.log(2)) < 1e-15 && count[0] === 1); // row 2 ignored
 * ```
 */
export const crossEntropyKernel: Kernel<
  CrossEntropyArgs<Buf>,
  CrossEntropyArgs<FloatArray, Int32Array | Uint32Array>
> = {
  // A target outside `[0, classes)` that is not the ignore index gives a NaN loss. Two dispatches
  // for `mean`, one for `none`; no readback.
  gpu(ctx, args) {
    const { rows, classes, ignoreIndex: ign = -100, reduction = "mean" } = args;
    const mean = reduction === "mean";
    if (rows === 0) {
      if (mean) throw new Error("Cannot take the mean cross-entropy of 0 rows");
      return;
    }
    const rowLoss = mean ? ctx.scratch(rows * 4) : args.loss;
    const bind = { x: args.logits, tg: args.targets, rl: rowLoss, lse: args.lse };
    CE_ROWS.run(ctx, { key: {}, bind, rows, n: classes, params: { ign, nan: NAN_BITS } });
    if (!mean) return;
    const cnt = args.count ?? ctx.scratch(4);
    const sum = { rl: rowLoss, tg: args.targets, loss: args.loss, cnt };
    CE_MEAN.run(ctx, { key: {}, bind: sum, rows: 1, n: rows, params: { ign } });
  },
  // Throws on a target out of range.
  cpu(args) {
    const { logits, targets, loss, lse, count, rows, classes } = args;
    const { ignoreIndex = -100, reduction = "mean" } = args;
    if (reduction === "mean" && rows === 0) {
      throw new Error("Cannot take the mean cross-entropy of 0 rows");
    }
    let sum = 0, c = 0;
    for (let r = 0; r < rows; r++) {
      const base = r * classes;
      const [m, s] = maxAndSum(logits, base, classes);
      const l = lse[r] = m + Math.log(s);
      const t = targets[r];
      let v = 0;
      if (t !== ignoreIndex) {
        checkTarget(t, r, classes);
        v = l - logits[base + t];
        c++;
      }
      sum += v;
      if (reduction === "none") loss[r] = v;
    }
    if (reduction === "mean") {
      loss[0] = c > 0 ? sum / c : 0;
      if (count) count[0] = c;
    }
  },
};

/**
 * Gradient of the cross-entropy: `dlogits = (softmax(x_r) - onehot(t_r)) * dy / count` (rows,
 * classes), zero on ignored rows; `softmax` comes from the saved `lse`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { crossEntropyBackwardKernel } from "./softmax.ts";
 * const dlogits = new Float64Array(2), lse = new Float64Array([Math.log(2)]);
 * const logits = new Float64Array([0, 0]), targets = new Int32Array([1]);
 * const dy = new Float64Array([1]), count = new Float64Array([1]);
 * const sizes = { rows: 1, classes: 2 };
 * crossEntropyBackwardKernel.cpu({ logits, targets, lse, dy, count, dlogits, ...sizes });
 * assert(dlogits[0] === 0.5 && dlogits[1] === -0.5);
 * ```
 */
export const crossEntropyBackwardKernel: Kernel<
  CrossEntropyBackwardArgs<Buf>,
  CrossEntropyBackwardArgs<FloatArray, Int32Array | Uint32Array>
> = {
  gpu(ctx, args) {
    const { rows, classes, ignoreIndex = -100, reduction = "mean" } = args;
    const mean = reduction === "mean";
    if (mean && !args.count) throw new Error("Mean cross-entropy backward needs the count");
    const bind = {
      x: args.logits,
      tg: args.targets,
      lse: args.lse,
      dy: args.dy,
      cnt: mean ? args.count : undefined,
      dx: args.dlogits,
    };
    const params = { ign: ignoreIndex };
    CE_BACKWARD.run(ctx, { key: { mean }, bind, rows, n: classes, params });
  },
  cpu(args) {
    const { logits, targets, lse, dy, count, dlogits, rows, classes } = args;
    const { ignoreIndex = -100, reduction = "mean" } = args;
    if (reduction === "mean" && !count) {
      throw new Error("Mean cross-entropy backward needs the count");
    }
    for (let r = 0; r < rows; r++) {
      const base = r * classes;
      const t = targets[r];
      if (t === ignoreIndex) {
        dlogits.fill(0, base, base + classes);
        continue;
      }
      checkTarget(t, r, classes);
      const coef = reduction === "mean" ? dy[0] / count![0] : dy[r];
      for (let i = 0; i < classes; i++) {
        dlogits[base + i] = (Math.exp(logits[base + i] - lse[r]) - (i === t ? 1 : 0)) * coef;
      }
    }
  },
};
