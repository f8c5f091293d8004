/**
 * Private pieces shared by the attention kernels (forward, backward, decoding): shapes and
 * layouts of the fused q/k/v projection and a small WGSL generator for rows of hd floats held as
 * vec4 chunks in registers. Rotary embedding: `_attention_rotary.ts`; where rows are read from
 * (buffers or flat textures) and the launch geometry: `_attention_rows.ts`.
 * @module
 */

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
 * @param which 0 = q, 1 = k, 2 = v
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
 * Formats a number as a WGSL f32 literal.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { f32 } from "./_attention_code.ts";
 * assert(f32(1) === "1.0");
 * ```
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
  /** Whether rows load through the program layer's `load_<array>(word)` functions. */
  readonly fns: boolean;

  /**
   * Makes the helper.
   *
   * @param via `load`: read row arrays through `load_<array>` (`program.ts` declares them,
   *   buffers or flat textures alike); `index`: index the storage arrays directly
   */
  constructor(hd: number, via: "load" | "index" = "index") {
    this.hd = hd;
    this.vec = hd % 4 === 0;
    this.nc = Math.ceil(hd / 4);
    this.elem = this.vec ? "vec4f" : "f32";
    this.fns = via === "load";
  }

  /**
   * Declares chunks `<name>_<c>` loaded from `arr` at float offset `off` (a WGSL u32 expression,
   * a multiple of 4 in vec4 mode), optionally multiplied by `scale`.
   *
   * @param scale optional WGSL factor expression
   * @param decl `let` or `var`
   */
  load(name: string, arr: string, off: string, scale = "", decl = "let"): string {
    const mul = scale ? ` * ${scale}` : "";
    let s = `let ${name}_o = ${this.vec ? `(${off}) >> 2u` : `${off}`};\n`;
    for (let c = 0; c < this.nc; c++) {
      const at = (k: string) => this.fns ? `load_${arr}(${k})` : `${arr}[${k}]`;
      if (this.vec) s += `${decl} ${name}_${c} = ${at(`${name}_o + ${c}u`)}${mul};\n`;
      else {
        const comps = [0, 1, 2, 3].map((k) =>
          4 * c + k < this.hd ? at(`${name}_o + ${4 * c + k}u`) : "0.0"
        );
        s += `${decl} ${name}_${c} = vec4f(${comps.join(", ")})${mul};\n`;
      }
    }
    return s;
  }

  /**
   * Stores chunks `<name>_<c>` (times an optional factor) into `arr` at float offset `off`.
   *
   * @param scale optional WGSL factor expression
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
   * @param f WGSL factor on the accumulator, or "" for none
   * @param g WGSL factor on the source
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

  /** Declares zeroed accumulator chunks `var <name>_<c>`. */
  zeros(name: string): string {
    let s = "";
    for (let c = 0; c < this.nc; c++) s += `var ${name}_${c} = vec4f(0.0);\n`;
    return s;
  }
}
