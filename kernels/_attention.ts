/**
 * Private pieces shared by the attention kernels (forward, backward, decoding): shapes and
 * layouts of the fused q/k/v projection, a small WGSL generator for rows of hd floats held as
 * vec4 chunks in registers, where rows are read from (the program layer binds them as buffers
 * or flat textures) and the launch geometry per adapter, and rotary embedding (CPU helpers for
 * the references, and a GPU pre-pass that writes rotated q and k once per step).
 * @module
 */
import type { Buf, FloatArray, KernelContext } from "./context.ts";
import { program } from "./program.ts";

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
 * Checks attention sizes (`seq`: the new positions when decoding).
 *
 * @example
 * ```ts
 * import { throws } from "node:assert/strict";
 * import { checkAttentionSizes } from "./_attention.ts";
 * checkAttentionSizes(2, 5, 2, 4, true);
 * throws(() => checkAttentionSizes(2, 5, 2, 3, true), /even head dimension/);
 * ```
 * @param rotary whether rotary embedding is applied (needs an even head dimension)
 * @throws Error naming the unusable size
 */
export function checkAttentionSizes(
  batch: number,
  seq: number,
  heads: number,
  headDim: number,
  rotary: boolean,
): void {
  const sizes: [string, number][] = [
    ["batch", batch],
    ["seq", seq],
    ["heads", heads],
    ["headDim", headDim],
  ];
  for (const [k, v] of sizes) {
    if (!Number.isInteger(v) || v < 1) {
      throw new Error(`Attention ${k} must be a positive integer, got ${v}`);
    }
  }
  if (rotary && headDim % 2 !== 0) {
    throw new Error(`Rotary embedding needs an even head dimension, got ${headDim}`);
  }
}

/**
 * Column of head `h`'s q (`which` 0), k (1) or v (2) within a `qkv` row.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { qkvColumn } from "./_attention.ts";
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
 * WGSL column of head `h` (a WGSL variable in scope) for q (`which` 0), k (1) or v (2) within a
 * `qkv` row: `qkvColumn` as code.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { qkvColumnCode } from "./_attention.ts";
 * assert(qkvColumnCode("pytorch", 2, 4, 1) === "8u + h * 4u");
 * ```
 */
export function qkvColumnCode(
  layout: AttentionLayout,
  heads: number,
  headDim: number,
  which: number,
): string {
  return layout === "pytorch"
    ? `${which * heads * headDim}u + h * ${headDim}u`
    : `h * ${3 * headDim}u + ${which * headDim}u`;
}

/**
 * Formats a number as a WGSL f32 literal.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { f32 } from "./_attention.ts";
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
 * import { AttnCode } from "./_attention.ts";
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

/** WGSL `[array, float offset]` of one row, given a WGSL position expression. */
type RowSource = (t: string) => [string, string];

/**
 * WGSL offset expressions of the q, k and v rows of head `h` in batch `b` (WGSL variables in
 * scope): from `qkv` directly, or q and k from the rotated buffer `qk` when rotary is on.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { rowSources } from "./_attention.ts";
 * const s = rowSources({ batch: 1, seq: 2, heads: 1, headDim: 4, layout: "pytorch" });
 * assert(s.k("j")[0] === "qkv");
 * ```
 */
export function rowSources(a: AttentionShape): { q: RowSource; k: RowSource; v: RowSource } {
  const { batch, seq, heads, headDim: hd, layout } = a;
  const h3 = 3 * heads * hd;
  const direct = (which: number): RowSource => (t) => [
    "qkv",
    `(b * ${seq}u + ${t}) * ${h3}u + ${qkvColumnCode(layout, heads, hd, which)}`,
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
 * import { attentionTiling } from "./_attention.ts";
 * assert(attentionTiling(true, 64, 16, 128).slots === 8); // forward, hd 32: q and acc rows
 * assert(attentionTiling(true, 64, 32, 128).slots === 4); // forward, hd 64
 * assert(attentionTiling(true, 19, 16, 128).slots === 3); // 3 blocks of 8 cover T = 19
 * assert(attentionTiling(false, 64, 16).wg === 64);
 * ```
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
 * Key/value rows the attention forward stages in workgroup memory per pass, or 0 to read them
 * from global memory in every lane. GPUs: 32 rows (each loaded by one lane, then read by all
 * `wg` lanes from workgroup memory), 16 when 32 rows of keys and values exceed the device's
 * workgroup storage. CPU adapters: 0 (a workgroup barrier is a coroutine switch on llvmpipe,
 * and its 8-lane workgroups gain little). `ctx.tuning.get("attention.tile")` overrides it
 * (tests use it to run either path on any adapter; at most `wg`).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { attentionKeyTile } from "./_attention.ts";
 * const gpu = (bytes: number) => ({ isCpuAdapter: false, tuning: new Map<string, string>(),
 *   device: { limits: { maxComputeWorkgroupStorageSize: bytes } } });
 * assert(attentionKeyTile(gpu(16384), 64, 64) === 32); // 32 rows x (k + v) x 64 floats = 16 KiB
 * assert(attentionKeyTile(gpu(8192), 64, 64) === 16);
 * assert(attentionKeyTile({ ...gpu(16384), isCpuAdapter: true }, 8, 64) === 0);
 * ```
 * @param wg lanes per workgroup
 * @param headDim floats per row
 * @returns rows per tile (0: no tile)
 */
export function attentionKeyTile(
  ctx: {
    isCpuAdapter: boolean;
    tuning: Map<string, string>;
    device: { limits: { maxComputeWorkgroupStorageSize: number } };
  },
  wg: number,
  headDim: number,
): number {
  const bytesPerRow = 2 * 16 * Math.ceil(headDim / 4); // a key and a value row as vec4f
  const limit = ctx.device.limits.maxComputeWorkgroupStorageSize;
  const forced = ctx.tuning.get("attention.tile");
  if (forced !== undefined) {
    const t = Math.min(Number(forced) || 0, wg);
    return t * bytesPerRow <= limit ? t : 0;
  }
  if (ctx.isCpuAdapter) return 0;
  for (const t of [32, 16]) if (t <= wg && t * bytesPerRow <= limit) return t;
  return 0;
}

/**
 * Reads a numeric tuning override from the context (0 when absent).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { tuningNumber } from "./_attention.ts";
 * assert(tuningNumber(new Map([["a", "3"]]), "a") === 3);
 * ```
 * @returns the number, or 0
 */
export function tuningNumber(tuning: Map<string, string>, key: string): number {
  const v = Number(tuning.get(key) ?? 0);
  return Number.isFinite(v) ? v : 0;
}

/** The values attention code depends on, flat (a program key): sizes, layout, rotary base. */
export type ShapeKey = Omit<AttentionShape, "rotary"> & {
  /** Rotary base, 0 without rotary. */
  base: number;
};

/**
 * An attention shape as a program key, and back (`shapeOf`).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { shapeKey, shapeOf } from "./_attention.ts";
 * const k = shapeKey({ batch: 1, seq: 2, heads: 1, headDim: 4, layout: "pytorch", rotary: {} });
 * assert(k.base === 10000 && shapeOf(k).rotary?.base === 10000);
 * ```
 */
export function shapeKey(a: AttentionShape): ShapeKey {
  const { batch, seq, heads, headDim, layout } = a;
  return { batch, seq, heads, headDim, layout, base: a.rotary ? a.rotary.base ?? ROTARY_BASE : 0 };
}

/**
 * The attention shape of a key made by `shapeKey` (rotary offset left out: it is a uniform).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { shapeOf } from "./_attention.ts";
 * const a = shapeOf({ batch: 1, seq: 2, heads: 1, headDim: 4, layout: "pytorch", base: 0 });
 * assert(a.rotary === undefined);
 * ```
 */
export function shapeOf(k: ShapeKey): AttentionShape {
  const { batch, seq, heads, headDim, layout } = k;
  return { batch, seq, heads, headDim, layout, rotary: k.base ? { base: k.base } : undefined };
}

/**
 * Rotary angle frequencies w_d = base^(-2d/hd), d < hd/2, in doubles (null without rotary).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { rotaryFrequencies } from "./_attention.ts";
 * assert(rotaryFrequencies(4, { base: 10000 })![1] === 0.01);
 * assert(rotaryFrequencies(4, undefined) === null);
 * ```
 * @param headDim per-head dimension (even)
 * @returns hd/2 frequencies
 */
export function rotaryFrequencies(
  headDim: number,
  rotary: RotaryOptions | undefined,
): Float64Array | null {
  if (!rotary) return null;
  const half = headDim / 2, base = rotary.base ?? ROTARY_BASE;
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
 * import { rotateRow } from "./_attention.ts";
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
 * import { qkRows } from "./_attention.ts";
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
  const freqs = rotaryFrequencies(hd, a.rotary), off = a.rotary?.offset ?? 0;
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
    const col = (which: number) => qkvColumnCode(layout, heads, hd, which);
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
 * import { rotateChunksCode } from "./_attention.ts";
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
