/**
 * Rotary embedding (rotate-half RoPE) for the attention kernels: CPU helpers for the references,
 * and a GPU pre-pass that writes rotated q and k once per step.
 * @module
 */
import type { Buf, FloatArray, KernelContext } from "./context.ts";
import { program } from "./program.ts";
import { type ShapeKey, shapeKey } from "./_attention_rows.ts";
import { type AttentionShape, f32, qkvColumn, ROTARY_BASE } from "./_attention_code.ts";

/**
 * Rotary angle frequencies w_d = base^(-2d/hd), d < hd/2, in doubles.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { rotaryFrequencies } from "./_attention_rotary.ts";
 * assert(rotaryFrequencies(4, 10000)[1] === 0.01);
 * ```
 * @param headDim per-head dimension (even)
 * @returns hd/2 frequencies
 */
export function rotaryFrequencies(headDim: number, base: number): Float64Array {
  const half = headDim / 2;
  const w = new Float64Array(half);
  for (let d = 0; d < half; d++) w[d] = Math.pow(base, (-2 * d) / headDim);
  return w;
}

/**
 * Rotates one row of hd values in place at a position (rotate-half RoPE), or undoes it.
 *
 * Undoing applies the transpose of the rotation, which maps gradients of rotated values back
 * to gradients of the inputs.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { rotateRow } from "./_attention_rotary.ts";
 * const x = [1, 0];
 * rotateRow(x, 0, 2, Math.PI / 2, new Float64Array([1]), false);
 * assert(Math.abs(x[1] - 1) < 1e-12 && Math.abs(x[0]) < 1e-12);
 * ```
 * @param at first index of the row
 * @param headDim row length (even)
 * @param freqs `rotaryFrequencies(headDim, base)`
 * @param inverse apply the transpose instead
 */
export function rotateRow(
  x: { [i: number]: number },
  at: number,
  headDim: number,
  pos: number,
  freqs: Float64Array,
  inverse: boolean,
): void {
  const half = headDim / 2;
  for (let d = 0; d < half; d++) {
    const c = Math.cos(pos * freqs[d]);
    const s = inverse ? -Math.sin(pos * freqs[d]) : Math.sin(pos * freqs[d]);
    const a = x[at + d], b = x[at + d + half];
    x[at + d] = a * c - b * s;
    x[at + d + half] = b * c + a * s;
  }
}

/**
 * Rotated copies of q and k, laid out (2, batch, heads, T, hd), in doubles (CPU references).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { qkRows } from "./_attention_rotary.ts";
 * const qkv = new Float64Array([1, 2, 3]); // batch 1, T 1, 1 head of dim 1: q=1, k=2, v=3
 * const r = qkRows(qkv, { batch: 1, seq: 1, heads: 1, headDim: 1, layout: "pytorch" });
 * assert(r[0] === 1 && r[1] === 2);
 * ```
 * @param qkv fused projection (batch, T, 3H)
 * @returns q rows then k rows, rotated when `a.rotary` is set
 */
export function qkRows(qkv: FloatArray, a: AttentionShape): Float64Array {
  const { batch, seq, heads, headDim: hd, layout } = a;
  const h3 = 3 * heads * hd;
  const out = new Float64Array(2 * batch * heads * seq * hd);
  const freqs = a.rotary ? rotaryFrequencies(hd, a.rotary.base ?? ROTARY_BASE) : null;
  const off = a.rotary?.offset ?? 0;
  for (let which = 0; which < 2; which++) {
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < heads; h++) {
        const col = qkvColumn(layout, heads, hd, which, h);
        for (let t = 0; t < seq; t++) {
          const o = (((which * batch + b) * heads + h) * seq + t) * hd;
          for (let d = 0; d < hd; d++) out[o + d] = qkv[(b * seq + t) * h3 + col + d];
          if (freqs) rotateRow(out, o, hd, t + off, freqs, false);
        }
      }
    }
  }
  return out;
}
// ---------------------------------------------------------------- rotary pre-pass

/**
 * WGSL that rotates q and k of every (batch, position, head) into a buffer laid out
 * (2, batch, heads, T, hd) (q then k), so attention kernels read rotated rows contiguously and
 * each sin/cos is computed once per (batch, position, frequency) rather than per score.
 */
const ROTARY = program({
  label: "attention.rotary",
  inputs: { qkv: "E" },
  outputs: { dst: "E" },
  uniforms: { offset: "u32" },
  workgroup: 64,
  index: "gi",
  head: (k: ShapeKey) => `alias E = ${(k.headDim / 2) % 4 === 0 ? "vec4f" : "f32"};`,
  body: (key) => {
    const { batch, seq, heads, headDim: hd, layout, base } = key;
    const half = hd / 2;
    const vec = half % 4 === 0;
    const pc = vec ? half / 4 : half; // pair chunks per position
    const k = f32((-2 / hd) * Math.log2(base));
    const col = (which: number) =>
      layout === "pytorch"
        ? `${which * heads * hd}u + h * ${hd}u`
        : `h * ${3 * hd}u + ${which * hd}u`;
    const sh = vec ? " >> 2u" : "";
    const dv = vec ? "vec4f(f32(d), f32(d + 1u), f32(d + 2u), f32(d + 3u))" : "f32(d)";
    return `let c = gi % ${pc}u;
  let bt = gi / ${pc}u;
  let t = bt % ${seq}u;
  let b = bt / ${seq}u;
  let d = c * ${vec ? 4 : 1}u;
  let an = f32(t + p.offset) * exp2(${dv} * ${k});
  let cs = cos(an);
  let sn = sin(an);
  for (var h = 0u; h < ${heads}u; h++) {
    for (var which = 0u; which < 2u; which++) {
      let src = bt * ${3 * heads * hd}u + select(${col(0)}, ${col(1)}, which == 1u) + d;
      let x1 = qkv[src${sh}];
      let x2 = qkv[(src + ${half}u)${sh}];
      let o = (((which * ${batch}u + b) * ${heads}u + h) * ${seq}u + t) * ${hd}u + d;
      dst[o${sh}] = x1 * cs - x2 * sn;
      dst[(o + ${half}u)${sh}] = x2 * cs + x1 * sn;
    }
  }`;
  },
});

/**
 * Records the rotary pre-pass: rotated q and k of `qkv` into a fresh scratch buffer laid out
 * (2, batch, heads, T, hd), recycled after the current submission.
 *
 * @example
 * ```ts ignore
 * const qk = rotateQk(ctx, qkv, { batch, seq, heads, headDim, layout, rotary: {} });
 * ```
 * @param qkv fused projection (batch, T, 3H)
 * @param a sizes, layout and rotary settings (`rotary` set)
 */
export function rotateQk(ctx: KernelContext, qkv: Buf, a: AttentionShape): GPUBuffer {
  const dst = ctx.scratch(2 * a.batch * a.heads * a.seq * a.headDim * 4);
  const half = a.headDim / 2, pc = half % 4 === 0 ? half / 4 : half;
  ROTARY.run(ctx, {
    key: shapeKey(a),
    bind: { qkv, dst },
    params: { offset: a.rotary?.offset ?? 0 },
    count: a.batch * a.seq * pc,
  });
  return dst;
}

/**
 * WGSL statements rotating (or applying the transpose of the rotation to) a row held as vec4
 * chunks `<name>_<c>` (declared with `var`, see `AttnCode`) in place at position `pos` (a WGSL
 * f32 expression), rotate-half style. Angles are computed as in the pre-pass, so forward and
 * backward agree bit for bit.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { rotateChunksCode } from "./_attention_rotary.ts";
 * assert(rotateChunksCode(4, "q", "f32(t)", 10000, false).includes("q_0[2]"));
 * ```
 * @param hd per-head dimension (even)
 * @param pos WGSL f32 position
 * @param inverse apply the transpose (for gradients)
 */
export function rotateChunksCode(
  hd: number,
  name: string,
  pos: string,
  base: number,
  inverse: boolean,
): string {
  const half = hd / 2;
  const k = f32((-2 / hd) * Math.log2(base));
  const el = (i: number) => `${name}_${i >> 2}[${i & 3}]`;
  let s = "";
  for (let d = 0; d < half; d++) {
    s += `{ let an = ${pos} * exp2(${f32(d)} * ${k}); let c = cos(an); let sn = ${
      inverse ? "-" : ""
    }sin(an);
  let x1 = ${el(d)}; let x2 = ${el(d + half)};
  ${el(d)} = x1 * c - x2 * sn; ${el(d + half)} = x2 * c + x1 * sn; }\n`;
  }
  return s;
}
