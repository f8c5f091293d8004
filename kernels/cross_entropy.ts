/**
 * Cross-entropy fused with log-softmax: one pass per row computes the log-sum-exp (saved for
 * backward) and the row's loss; the `mean` reduction sums the rows and counts the non-ignored
 * ones in a second, single-workgroup pass whose count stays on the GPU for the backward.
 * Backward writes (softmax - onehot) * upstream / count in one pass over the logits.
 * Reference: loss_r = logsumexp(x_r) - x_r[t_r]; dloss_r/dx_r = softmax(x_r) - onehot(t_r).
 * @module
 */
import type { Buf, FloatArray, KernelContext } from "./context.ts";
import { rowProgram } from "./_map_rows.ts";
import { onlineSoftmaxState } from "./softmax.ts";
import type { Kernel } from "./program.ts";

/** How per-row losses are combined: averaged over non-ignored rows, or returned per row. */
export type Reduction = "mean" | "none";

const NAN_BITS = 0x7fc00000;

const ROWS = rowProgram({
  label: "cross_entropy",
  inputs: { x: "f32", tg: "i32" },
  outputs: { rl: "f32", lse: "f32" },
  uniforms: { ign: "i32", nan: "u32" },
  state: () => onlineSoftmaxState("x[base + i]"),
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
const MEAN = rowProgram({
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

const BACKWARD = rowProgram({
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

/** Arguments of `crossEntropyForward`: buffers for the launcher, arrays for the reference. */
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
 * Arguments of `crossEntropyBackward`: the forward's but `loss` (`lse` and, for `mean`, `count` as
 * the forward wrote them), plus `dy` and `dlogits`.
 */
export interface CrossEntropyBackwardArgs<B, I = B> extends Omit<CrossEntropyArgs<B, I>, "loss"> {
  /** Gradient of the loss: (1) for `mean`, (rows) for `none`. */
  dy: B;
  /** Gradient of the logits, (rows, classes). */
  dlogits: B;
}

// A target outside `[0, classes)` that is not the ignore index gives a NaN loss. Two dispatches
// for `mean`, one for `none`; no readback.
function crossEntropyForward(ctx: KernelContext, args: CrossEntropyArgs<Buf>): void {
  const { rows, classes, ignoreIndex = -100, reduction = "mean" } = args;
  if (classes < 1) throw new Error("Cannot take cross-entropy over 0 classes");
  const mean = reduction === "mean";
  if (rows === 0) {
    if (mean) throw new Error("Cannot take the mean cross-entropy of 0 rows");
    return;
  }
  const rowLoss = mean ? ctx.scratch(rows * 4) : args.loss;
  const bind = { x: args.logits, tg: args.targets, rl: rowLoss, lse: args.lse };
  const ign = ignoreIndex;
  ROWS.run(ctx, { key: {}, bind, rows, n: classes, params: { ign, nan: NAN_BITS } });
  if (!mean) return;
  const cnt = args.count ?? ctx.scratch(4);
  const sum = { rl: rowLoss, tg: args.targets, loss: args.loss, cnt };
  MEAN.run(ctx, { key: {}, bind: sum, rows: 1, n: rows, params: { ign } });
}

function crossEntropyBackward(
  ctx: KernelContext,
  args: CrossEntropyBackwardArgs<Buf>,
): void {
  const { rows, classes, ignoreIndex = -100, reduction = "mean" } = args;
  if (rows === 0) return;
  const mean = reduction === "mean";
  if (mean && !args.count) throw new Error("crossEntropyBackward of a mean needs the count");
  const bind = {
    x: args.logits,
    tg: args.targets,
    lse: args.lse,
    dy: args.dy,
    cnt: mean ? args.count : undefined,
    dx: args.dlogits,
  };
  const params = { ign: ignoreIndex };
  BACKWARD.run(ctx, { key: { mean }, bind, rows, n: classes, params });
}

function checkTarget(t: number, r: number, classes: number): void {
  if (!(t >= 0 && t < classes)) {
    throw new Error(
      `Cannot take cross-entropy: target ${t} of row ${r} is outside [0, ${classes})`,
    );
  }
}

/** CPU reference of `crossEntropyForward` (throws on a target out of range). */
function crossEntropyForwardCpu(
  args: CrossEntropyArgs<FloatArray, Int32Array | Uint32Array>,
): void {
  const { logits, targets, loss, lse, count, rows, classes } = args;
  const { ignoreIndex = -100, reduction = "mean" } = args;
  if (reduction === "mean" && rows === 0) {
    throw new Error("Cannot take the mean cross-entropy of 0 rows");
  }
  let sum = 0, c = 0;
  for (let r = 0; r < rows; r++) {
    const base = r * classes;
    let m = -Infinity, s = 0;
    for (let i = 0; i < classes; i++) m = Math.max(m, logits[base + i]);
    for (let i = 0; i < classes; i++) s += Math.exp(logits[base + i] - m);
    const l = m + Math.log(s);
    lse[r] = l;
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
}

/** CPU reference of `crossEntropyBackward`. */
function crossEntropyBackwardCpu(
  args: CrossEntropyBackwardArgs<FloatArray, Int32Array | Uint32Array>,
): void {
  const { logits, targets, lse, dy, count, dlogits, rows, classes } = args;
  const { ignoreIndex = -100, reduction = "mean" } = args;
  if (reduction === "mean" && !count) {
    throw new Error("crossEntropyBackward of a mean needs the count");
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
}

/**
 * Cross-entropy of `logits` (rows, classes) against `targets` (rows):
 * `loss_r = logsumexp(x_r) - x_r[t_r]`, averaged over the non-ignored rows (`mean`) or per row
 * (`none`); also saves each row's log-sum-exp for the backward.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { crossEntropyKernel } from "./cross_entropy.ts";
 * const loss = new Float64Array(1), lse = new Float64Array(2), count = new Float64Array(1);
 * const logits = new Float64Array([0, 0, 5, 1]), targets = new Int32Array([1, -100]);
 * crossEntropyKernel.cpu({ logits, targets, loss, lse, count, rows: 2, classes: 2 });
 * assert(Math.abs(loss[0] - Math.log(2)) < 1e-15 && count[0] === 1); // row 2 ignored
 * ```
 */
export const crossEntropyKernel: Kernel<
  CrossEntropyArgs<Buf>,
  CrossEntropyArgs<FloatArray, Int32Array | Uint32Array>
> = { gpu: crossEntropyForward, cpu: crossEntropyForwardCpu };

/**
 * Gradient of the cross-entropy: `dlogits = (softmax(x_r) - onehot(t_r)) * dy / count` (rows,
 * classes), zero on ignored rows; `softmax` comes from the saved `lse`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { crossEntropyBackwardKernel } from "./cross_entropy.ts";
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
> = { gpu: crossEntropyBackward, cpu: crossEntropyBackwardCpu };
