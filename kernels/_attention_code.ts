/**
 * Private pieces shared by the attention kernels (forward, backward, decoding): shapes and
 * layouts of the fused q/k/v projection, the rotary embedding (a GPU pre-pass and CPU helpers),
 * and a small WGSL generator for rows of hd floats held as vec4 chunks in registers.
 * @module
 */
import { type Binding, type Buf, type FloatArray, grid1d, type KernelContext } from "./context.ts";
import { FLAT_TEXTURE_TYPE, flatFetch, flatTexture } from "./_flat_texture.ts";

/**
 * Column layout of the fused projection `qkv` (B, T, 3H), H = heads * headDim.
 *
 * `"pytorch"`: `nn.MultiheadAttention` in_proj rows: q = columns [0, H), k = [H, 2H),
 * v = [2H, 3H); head h at columns h*hd..(h+1)*hd within each.
 * `"interleaved"`: upstream's `SeqFirstSelfAttention`: head h owns columns [3h*hd, 3(h+1)*hd)
 * holding its q, k and v of hd columns each.
 */
export type AttentionLayout = "pytorch" | "interleaved";

/**
 * Rotary embedding settings (rotate-half style: dimension d pairs with d + hd/2).
 *
 * Reference: Su et al. 2021, RoFormer: x_rot[d] = x[d] cos(p w_d) - x[d + hd/2] sin(p w_d),
 * x_rot[d + hd/2] = x[d + hd/2] cos(p w_d) + x[d] sin(p w_d), w_d = base^(-2d/hd), p = position.
 */
export interface RotaryOptions {
  /** Frequency base; default 10000. */
  base?: number;
  /** Position of the first row (positions are offset..offset+T-1); default 0. */
  offset?: number;
}

/** Sizes and layout shared by every attention kernel. */
export interface AttentionShape {
  /** Batch size. */
  batch: number;
  /** Sequence length T. */
  seq: number;
  /** Number of heads. */
  heads: number;
  /** Per-head dimension hd (even when `rotary` is given). */
  headDim: number;
  /** Column layout of `qkv`. */
  layout: AttentionLayout;
  /** Rotary embedding of q and k when given. */
  rotary?: RotaryOptions;
}

/** Default rotary base (upstream's `Rotary`). */
export const ROTARY_BASE = 10000;

/** Masked-score sentinel: exp2(MASKED - m) is 0 for any real score m, never NaN. */
export const MASKED = "-1.0e30";

/**
 * Checks attention sizes and returns a reason when they are unusable.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { checkAttentionSizes } from "./_attention_code.ts";
 * assert(checkAttentionSizes(2, 5, 2, 3, true) !== null);
 * assert(checkAttentionSizes(2, 5, 2, 4, true) === null);
 * ```
 * @param batch batch size
 * @param seq sequence length
 * @param heads number of heads
 * @param headDim per-head dimension
 * @param rotary whether rotary embedding is applied (needs an even head dimension)
 * @returns an error message, or null when the sizes are fine
 */
export function checkAttentionSizes(
  batch: number,
  seq: number,
  heads: number,
  headDim: number,
  rotary: boolean,
): string | null {
  const sizes: [string, number][] = [
    ["batch", batch],
    ["seq", seq],
    ["heads", heads],
    ["headDim", headDim],
  ];
  for (const [k, v] of sizes) {
    if (!Number.isInteger(v) || v < 1) return `Attention ${k} must be a positive integer, got ${v}`;
  }
  if (rotary && headDim % 2 !== 0) {
    return `Rotary embedding needs an even head dimension, got ${headDim}`;
  }
  return null;
}

/**
 * Column of head `h`'s q (`which` 0), k (1) or v (2) within a `qkv` row.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { qkvColumn } from "./_attention_code.ts";
 * assert(qkvColumn("pytorch", 2, 4, 1, 1) === 12);
 * assert(qkvColumn("interleaved", 2, 4, 1, 1) === 16);
 * ```
 * @param layout column layout
 * @param heads number of heads
 * @param headDim per-head dimension
 * @param which 0 = q, 1 = k, 2 = v
 * @param h head
 * @returns the first column
 */
export function qkvColumn(
  layout: AttentionLayout,
  heads: number,
  headDim: number,
  which: number,
  h: number,
): number {
  return layout === "pytorch"
    ? which * heads * headDim + h * headDim
    : h * 3 * headDim + which * headDim;
}

/**
 * Rotary angle frequencies w_d = base^(-2d/hd), d < hd/2, in doubles.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { rotaryFrequencies } from "./_attention_code.ts";
 * assert(rotaryFrequencies(4, 10000)[1] === 0.01);
 * ```
 * @param headDim per-head dimension (even)
 * @param base frequency base
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
 * import { rotateRow } from "./_attention_code.ts";
 * const x = [1, 0];
 * rotateRow(x, 0, 2, Math.PI / 2, new Float64Array([1]), false);
 * assert(Math.abs(x[1] - 1) < 1e-12 && Math.abs(x[0]) < 1e-12);
 * ```
 * @param x values
 * @param at first index of the row
 * @param headDim row length (even)
 * @param pos position
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
 * import { qkRows } from "./_attention_code.ts";
 * const qkv = new Float64Array([1, 2, 3]); // batch 1, T 1, 1 head of dim 1: q=1, k=2, v=3
 * const r = qkRows(qkv, { batch: 1, seq: 1, heads: 1, headDim: 1, layout: "pytorch" });
 * assert(r[0] === 1 && r[1] === 2);
 * ```
 * @param qkv fused projection (batch, T, 3H)
 * @param a sizes, layout and rotary settings
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

/**
 * Formats a number as a WGSL f32 literal.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { f32 } from "./_attention_code.ts";
 * assert(f32(1) === "1.0");
 * ```
 * @param x value
 * @returns literal text
 */
export function f32(x: number): string {
  const s = String(Math.fround(x));
  return /[.e]/.test(s) ? s : s + ".0";
}

/**
 * Code-generation helper for one head dimension: a row of hd floats is held as vec4 chunks
 * `<name>_0 .. <name>_{nc-1}` (zero-padded past hd) and read from `array<vec4f>` when hd is a
 * multiple of 4, else from `array<f32>` component by component.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { AttnCode } from "./_attention_code.ts";
 * const g = new AttnCode(8);
 * assert(g.nc === 2 && g.dot("a", "b") === "dot(a_0, b_0) + dot(a_1, b_1)");
 * ```
 */
export class AttnCode {
  /** Per-head dimension. */
  readonly hd: number;
  /** Whether rows are read and written as vec4. */
  readonly vec: boolean;
  /** Number of vec4 chunks per row. */
  readonly nc: number;
  /** WGSL element type of row arrays. */
  readonly elem: string;
  /** Names of the arrays bound as flat textures (`_flat_texture.ts`; vec4 mode only). */
  readonly tex: ReadonlySet<string>;

  /**
   * Makes the helper.
   *
   * @param hd per-head dimension
   * @param tex names of arrays bound as flat textures (ignored unless hd is a multiple of 4)
   */
  constructor(hd: number, tex: ReadonlySet<string> = new Set()) {
    this.hd = hd;
    this.vec = hd % 4 === 0;
    this.nc = Math.ceil(hd / 4);
    this.elem = this.vec ? "vec4f" : "f32";
    this.tex = this.vec ? tex : new Set();
  }

  /**
   * WGSL type of a read-only row array's binding: a flat texture or a storage array.
   *
   * @param arr array name
   * @returns the type for `declareBindings`
   */
  type(arr: string): string {
    return this.tex.has(arr) ? FLAT_TEXTURE_TYPE : `array<${this.elem}>`;
  }

  /**
   * Declares chunks `<name>_<c>` loaded from `arr` at float offset `off` (a WGSL u32 expression,
   * a multiple of 4 in vec4 mode), optionally multiplied by `scale`.
   *
   * @param name variable prefix
   * @param arr array name
   * @param off float offset expression
   * @param scale optional WGSL factor expression
   * @param decl `let` or `var`
   * @returns WGSL statements
   */
  load(name: string, arr: string, off: string, scale = "", decl = "let"): string {
    const mul = scale ? ` * ${scale}` : "";
    let s = `let ${name}_o = ${this.vec ? `(${off}) >> 2u` : `${off}`};\n`;
    for (let c = 0; c < this.nc; c++) {
      if (this.tex.has(arr)) {
        s += `${decl} ${name}_${c} = ${flatFetch(arr, `(${name}_o + ${c}u)`)}${mul};\n`;
      } else if (this.vec) s += `${decl} ${name}_${c} = ${arr}[${name}_o + ${c}u]${mul};\n`;
      else {
        const comps = [0, 1, 2, 3].map((k) =>
          4 * c + k < this.hd ? `${arr}[${name}_o + ${4 * c + k}u]` : "0.0"
        );
        s += `${decl} ${name}_${c} = vec4f(${comps.join(", ")})${mul};\n`;
      }
    }
    return s;
  }

  /**
   * Stores chunks `<name>_<c>` (times an optional factor) into `arr` at float offset `off`.
   *
   * @param name variable prefix
   * @param arr array name
   * @param off float offset expression
   * @param scale optional WGSL factor expression
   * @returns WGSL statements
   */
  store(name: string, arr: string, off: string, scale = ""): string {
    const mul = scale ? ` * ${scale}` : "";
    const o = `${name}_so`;
    let s = `let ${o} = ${this.vec ? `(${off}) >> 2u` : `${off}`};\n`;
    for (let c = 0; c < this.nc; c++) {
      if (this.vec) s += `${arr}[${o} + ${c}u] = ${name}_${c}${mul};\n`;
      else {
        for (let k = 0; k < 4 && 4 * c + k < this.hd; k++) {
          s += `${arr}[${o} + ${4 * c + k}u] = ${name}_${c}[${k}]${mul};\n`;
        }
      }
    }
    return s;
  }

  /**
   * Returns the WGSL dot product of two chunked rows.
   *
   * @param a first prefix
   * @param b second prefix
   * @returns a WGSL f32 expression
   */
  dot(a: string, b: string): string {
    const t: string[] = [];
    for (let c = 0; c < this.nc; c++) t.push(`dot(${a}_${c}, ${b}_${c})`);
    return t.join(" + ");
  }

  /**
   * Returns statements `<dst>_c = <dst>_c * f + g * <src>_c` for every chunk (a plain
   * `+=` when `f` is empty).
   *
   * @param dst accumulator prefix
   * @param f WGSL factor on the accumulator, or "" for none
   * @param g WGSL factor on the source
   * @param src source prefix
   * @returns WGSL statements
   */
  axpy(dst: string, f: string, g: string, src: string): string {
    let s = "";
    for (let c = 0; c < this.nc; c++) {
      s += f
        ? `${dst}_${c} = ${dst}_${c} * ${f} + ${g} * ${src}_${c};\n`
        : `${dst}_${c} += ${g} * ${src}_${c};\n`;
    }
    return s;
  }

  /**
   * Declares zeroed accumulator chunks `var <name>_<c>`.
   *
   * @param name prefix
   * @returns WGSL statements
   */
  zeros(name: string): string {
    let s = "";
    for (let c = 0; c < this.nc; c++) s += `var ${name}_${c} = vec4f(0.0);\n`;
    return s;
  }

  /**
   * Statements rotating (or applying the transpose of the rotation to) the chunked row `<name>`
   * (declared with `var`) in place at position `pos` (a WGSL f32 expression), rotate-half
   * style. Angles are computed as in `rotaryCode`, so forward and backward agree bit for bit.
   *
   * @param name row prefix
   * @param pos WGSL f32 position
   * @param base rotary base
   * @param inverse apply the transpose (for gradients)
   * @returns WGSL statements
   */
  rotate(name: string, pos: string, base: number, inverse: boolean): string {
    const half = this.hd / 2;
    const k = f32((-2 / this.hd) * Math.log2(base));
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
}

/**
 * Launch geometry chosen per adapter: `wg` invocations per workgroup, each owning `slots` rows
 * (row = block start + slot * wg + lane), so a workgroup covers `wg * slots` rows.
 *
 * On a CPU adapter (llvmpipe: 8-wide SIMD, where every storage load, even one whose address
 * is the same in all lanes, is a loop over the lanes) a workgroup is one SIMD group of 8 lanes
 * and each lane keeps several rows in registers, so every key row loaded serves up to 8 * slots
 * queries (one workgroup per (batch, head) when T <= 8 * slots). Each slot's state and loop body
 * are unrolled in the shader, and llvmpipe's JIT time grows faster than linearly with that
 * (seconds per shader on a cold cache; Mesa then caches compiled shaders on disk), so
 * slots * `weight` stays within `budget`, where `weight` is the vec4 chunks of per-slot row
 * state (hd / 4 per row kept). Real GPUs get 64 lanes with one row each. `force` (from
 * `ctx.tuning`) overrides the slots.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { attentionTiling } from "./_attention_code.ts";
 * assert(attentionTiling(true, 64, 16, 128).slots === 8); // forward, hd 32: q and acc rows
 * assert(attentionTiling(true, 64, 32, 128).slots === 4); // forward, hd 64
 * assert(attentionTiling(true, 19, 16, 128).slots === 3); // 3 blocks of 8 cover T = 19
 * assert(attentionTiling(false, 64, 16).wg === 64);
 * ```
 * @param cpu whether the adapter is a CPU rasterizer
 * @param seq rows to cover (sequence length)
 * @param weight vec4 chunks of per-slot row state
 * @param budget cap on slots * weight
 * @param force slots from a tuning override, 0 for none
 * @returns `{ wg, slots }`
 */
export function attentionTiling(
  cpu: boolean,
  seq: number,
  weight: number,
  budget = 128,
  force = 0,
): { wg: number; slots: number } {
  const wg = cpu ? 8 : 64;
  let want = 1;
  if (force > 0) want = force;
  else if (cpu) {
    while (want < 8 && (want + 1) * weight <= budget) want++;
  }
  return { wg, slots: Math.max(1, Math.min(want, Math.ceil(seq / wg))) };
}

/**
 * Reads a numeric tuning override from the context (0 when absent).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { tuningNumber } from "./_attention_code.ts";
 * assert(tuningNumber(new Map([["a", "3"]]), "a") === 3);
 * ```
 * @param tuning the context's tuning map
 * @param key setting name
 * @returns the number, or 0
 */
export function tuningNumber(tuning: Map<string, string>, key: string): number {
  const v = Number(tuning.get(key) ?? 0);
  return Number.isFinite(v) ? v : 0;
}

// ---------------------------------------------------------------- rotary pre-pass

/**
 * WGSL that rotates q and k of every (batch, position, head) into a buffer laid out
 * (2, batch, heads, T, hd) (q then k), so attention kernels read rotated rows contiguously and
 * each sin/cos is computed once per (batch, position, frequency) rather than per score.
 */
function rotaryCode(a: AttentionShape): { code: string; n: number } {
  const { batch, seq, heads, headDim: hd, layout } = a;
  const base = a.rotary?.base ?? ROTARY_BASE;
  const half = hd / 2;
  const vec = half % 4 === 0;
  const pc = vec ? half / 4 : half; // pair chunks per position
  const h3 = 3 * heads * hd;
  const k = f32((-2 / hd) * Math.log2(base));
  const col = (which: number) =>
    layout === "pytorch"
      ? `${which * heads * hd}u + h * ${hd}u`
      : `h * ${3 * hd}u + ${which * hd}u`;
  const n = batch * seq * pc;
  const e = vec ? "vec4f" : "f32";
  const sh = vec ? " >> 2u" : "";
  const dv = vec ? "vec4f(f32(d), f32(d + 1u), f32(d + 2u), f32(d + 3u))" : "f32(d)";
  const code = /* wgsl */ `
struct P { offset: u32 }
@group(0) @binding(0) var<storage, read> qkv: array<${e}>;
@group(0) @binding(1) var<storage, read_write> dst: array<${e}>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let gi = g.x + g.y * nw.x * 64u;
  if (gi >= ${n}u) { return; }
  let c = gi % ${pc}u;
  let bt = gi / ${pc}u;
  let t = bt % ${seq}u;
  let b = bt / ${seq}u;
  let d = c * ${vec ? 4 : 1}u;
  let an = f32(t + p.offset) * exp2(${dv} * ${k});
  let cs = cos(an);
  let sn = sin(an);
  for (var h = 0u; h < ${heads}u; h++) {
    for (var which = 0u; which < 2u; which++) {
      let src = bt * ${h3}u + select(${col(0)}, ${col(1)}, which == 1u) + d;
      let x1 = qkv[src${sh}];
      let x2 = qkv[(src + ${half}u)${sh}];
      let o = (((which * ${batch}u + b) * ${heads}u + h) * ${seq}u + t) * ${hd}u + d;
      dst[o${sh}] = x1 * cs - x2 * sn;
      dst[(o + ${half}u)${sh}] = x2 * cs + x1 * sn;
    }
  }
}`;
  return { code, n };
}

/**
 * Records the rotary pre-pass: rotated q and k of `qkv` into a fresh scratch buffer laid out
 * (2, batch, heads, T, hd), recycled after the current submission.
 *
 * @example
 * ```ts ignore
 * const qk = rotateQk(ctx, qkv, { batch, seq, heads, headDim, layout, rotary: {} });
 * ```
 * @param ctx kernel context
 * @param qkv fused projection (batch, T, 3H)
 * @param a sizes, layout and rotary settings (`rotary` set)
 * @returns the scratch buffer
 */
export function rotateQk(ctx: KernelContext, qkv: Buf, a: AttentionShape): GPUBuffer {
  const { code, n } = rotaryCode(a);
  const dst = ctx.scratch(2 * a.batch * a.heads * a.seq * a.headDim * 4);
  ctx.dispatch({
    code,
    bindings: [qkv, dst],
    params: new Uint32Array([a.rotary?.offset ?? 0]),
    workgroups: grid1d(Math.ceil(n / 64), ctx.maxWorkgroups),
    label: "attention.rotary",
  });
  return dst;
}

/** What `rowBindings` returns: the bindings of the row arrays and which are flat textures. */
export interface RowBindings {
  /** `qkv`: its buffer, or a flat texture of it. */
  qkv: Binding;
  /** Rotated q and k (rotary only): the pre-pass's scratch, or a flat texture of it. */
  qk: Binding | null;
  /** The extra (batch, seq, heads * headDim) arrays, by name, as buffers or flat textures. */
  more: Record<string, Binding>;
  /** Names bound as flat textures (pass to `AttnCode`). */
  tex: Set<string>;
}

/**
 * Records the rotary pre-pass when `a.rotary` is set and, on CPU adapters (where texture loads
 * are ~4x cheaper than storage buffer loads; `_flat_texture.ts`), copies the row arrays the
 * kernels read in their inner loops into flat textures: `qkv` (or the rotated q/k and `qkv`
 * for v) and the `more` arrays of shape (batch, seq, heads * headDim).
 *
 * @example
 * ```ts ignore
 * const rows = rowBindings(ctx, a, { dout: a.dout });
 * ```
 * @param ctx kernel context
 * @param a sizes, layout, rotary settings and the `qkv` buffer
 * @param more extra row arrays by WGSL name
 * @returns bindings and the names bound as textures
 */
export function rowBindings(
  ctx: KernelContext,
  a: AttentionShape & { qkv: Buf },
  more: Record<string, Buf> = {},
): RowBindings {
  const { batch, seq, heads, headDim: hd } = a;
  const tex = new Set<string>();
  const wrap = (name: string, b: Buf, floats: number): Binding => {
    const view = hd % 4 === 0 ? flatTexture(ctx, b, floats) : null;
    if (view) tex.add(name);
    return view ?? b;
  };
  const rows = batch * seq * heads * hd;
  const out: RowBindings = {
    qkv: wrap("qkv", a.qkv, 3 * rows),
    qk: a.rotary ? wrap("qk", rotateQk(ctx, a.qkv, a), 2 * rows) : null,
    more: {},
    tex,
  };
  for (const [name, b] of Object.entries(more)) out.more[name] = wrap(name, b, rows);
  return out;
}

/**
 * Key of everything an attention shader's text depends on in its arguments: sizes, layout,
 * rotary base, which optional buffers are present, plus the launcher's `extra` choices.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { codeKey } from "./_attention_code.ts";
 * const a = { batch: 2, seq: 5, heads: 1, headDim: 4, layout: "pytorch" as const };
 * assert(codeKey(a, 8) !== codeKey({ ...a, rotary: {} }, 8));
 * ```
 * @param a the launcher's arguments
 * @param extra further values the text depends on (tiling, texture names...)
 * @returns the key
 */
export function codeKey(a: object, ...extra: unknown[]): string {
  let key = "";
  for (const [k, v] of Object.entries(a)) {
    if (v === undefined) continue;
    if (k === "rotary") key += `|rotary:${(v as RotaryOptions).base ?? ROTARY_BASE}`;
    else key += typeof v === "object" ? `|${k}` : `|${k}=${v}`;
  }
  return key + "|" + extra.map(String).join("|");
}

/** WGSL `[array, float offset]` of one row, given a WGSL position expression. */
export type RowSource = (t: string) => [string, string];

/**
 * WGSL offset expressions of the q, k and v rows of head `h` in batch `b` (WGSL variables in
 * scope): from `qkv` directly, or q and k from the rotated buffer `qk` when rotary is on.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { rowSources } from "./_attention_code.ts";
 * const s = rowSources({ batch: 1, seq: 2, heads: 1, headDim: 4, layout: "pytorch" });
 * assert(s.k("j")[0] === "qkv");
 * ```
 * @param a sizes, layout and rotary flag
 * @returns row sources for q, k and v
 */
export function rowSources(a: AttentionShape): { q: RowSource; k: RowSource; v: RowSource } {
  const { batch, seq, heads, headDim: hd, layout } = a;
  const h3 = 3 * heads * hd;
  const col = (which: number) =>
    layout === "pytorch"
      ? `${which * heads * hd}u + h * ${hd}u`
      : `h * ${3 * hd}u + ${which * hd}u`;
  const direct = (which: number): RowSource => (t) => [
    "qkv",
    `(b * ${seq}u + ${t}) * ${h3}u + ${col(which)}`,
  ];
  const rot = (which: number): RowSource => (t) => [
    "qk",
    `((${which * batch}u + b) * ${heads}u + h) * ${seq * hd}u + ${t} * ${hd}u`,
  ];
  return a.rotary
    ? { q: rot(0), k: rot(1), v: direct(2) }
    : { q: direct(0), k: direct(1), v: direct(2) };
}

/**
 * WGSL `@binding` declarations, numbered in order.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { declareBindings } from "./_attention_code.ts";
 * assert(declareBindings([["x", "array<f32>", false]]).includes("@binding(0)"));
 * ```
 * @param list `[name, type, writable]` triples
 * @returns WGSL declarations
 */
export function declareBindings(list: [string, string, boolean][]): string {
  return list.map(([name, type, rw], i) =>
    type.startsWith("texture_")
      ? `@group(0) @binding(${i}) var ${name}: ${type};`
      : `@group(0) @binding(${i}) var<storage, ${rw ? "read_write" : "read"}> ${name}: ${type};`
  ).join("\n");
}
