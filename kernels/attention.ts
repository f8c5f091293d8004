/**
 * Causal multi-head self-attention on a fused q/k/v projection, flash-attention style: one
 * workgroup per (batch, head, query block) (on CPU adapters with 128 or more (batch, head) pairs,
 * one pair per SIMD lane instead, `attentionAcross`), scores never leave registers, the softmax
 * is computed online, and only the row log-sum-exp is saved for backward. Optional per-head
 * additive bias (FIRE) and rotary embedding (RoPE).
 * Backward: the probabilities are recomputed from q.k and the saved row log-sum-exp, one kernel
 * accumulates dq per query block and another dk, dv per key block, so each gradient row has
 * exactly one writer and sums run in a fixed order: deterministic, with no atomics.
 * Decoding with a key/value cache: the new positions' keys (rotated at their absolute
 * positions) and values are appended to the cache, then each new query attends to every cached
 * key up to its own position. The cache length changes every step, so it is a uniform
 * parameter (or a per-row buffer), never baked into the shader.
 * @module
 */
import { type Buf, type FloatArray, grid1d, type KernelContext } from "./context.ts";
import { type Kernel, program } from "./program.ts";

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
const ROTARY_BASE = 10000;

/** Masked-score sentinel: exp2(MASKED - m) is 0 for any real score m, never NaN. */
const MASKED = "-1.0e30";

// Throws on unusable attention sizes (`seq`: the new positions when decoding; rotary embedding
// needs an even head dimension).
function checkAttentionSizes(
  a: Pick<AttentionShape, "batch" | "heads" | "headDim" | "rotary">,
  seq: number,
): void {
  const { batch, heads, headDim } = a;
  for (const [k, v] of Object.entries({ batch, seq, heads, headDim })) {
    if (!Number.isInteger(v) || v < 1) {
      throw new Error(`Attention ${k} must be a positive integer, got ${v}`);
    }
  }
  if (a.rotary && headDim % 2 !== 0) {
    throw new Error(`Rotary embedding needs an even head dimension, got ${headDim}`);
  }
}

// Column of head `h`'s q (`which` 0), k (1) or v (2) within a `qkv` row, and the same as WGSL
// (`qkvColumnCode`, `h` a WGSL variable in scope).
function qkvColumn(
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

function qkvColumnCode(
  layout: AttentionLayout,
  heads: number,
  headDim: number,
  which: number,
): string {
  return layout === "pytorch"
    ? `${which * heads * headDim}u + h * ${headDim}u`
    : `h * ${3 * headDim}u + ${which * headDim}u`;
}

// A number as a WGSL f32 literal.
function f32(x: number): string {
  const s = String(Math.fround(x));
  return /[.e]/.test(s) ? s : s + ".0";
}

// The WGSL head lines of every attention program: the row type, the score scale in log2 units
// and log2(e).
function rowHead(hd: number): string {
  return `alias ROW = ${hd % 4 === 0 ? "vec4f" : "f32"};
const SCALE = ${f32(Math.LOG2E / Math.sqrt(hd))};
const LOG2E = ${f32(Math.LOG2E)};`;
}

// Code-generation helper for one head dimension: a row of hd floats is held as vec4 chunks
// `<name>_0 .. <name>_{nc-1}` (zero-padded past hd) and read from `array<vec4f>` when hd is a
// multiple of 4, else from `array<f32>` component by component.
class AttnCode {
  /** Whether rows are read and written as vec4. */
  readonly vec: boolean;
  /** Number of vec4 chunks per row. */
  readonly nc: number;

  /**
   * @param via `load`: read row arrays through `load_<array>` (`program.ts` declares them,
   *   buffers or flat textures alike); `index`: index the storage arrays directly
   */
  constructor(readonly hd: number, readonly via: "load" | "index" = "index") {
    this.vec = hd % 4 === 0;
    this.nc = Math.ceil(hd / 4);
  }

  /**
   * Declares chunks `<name>_<c>` loaded from `arr` at float offset `off` (a WGSL u32 expression,
   * a multiple of 4 in vec4 mode), times the WGSL factor `scale` when given.
   */
  load(name: string, arr: string, off: string, scale = ""): string {
    const mul = scale ? ` * ${scale}` : "";
    let s = `let ${name}_o = ${this.vec ? `(${off}) >> 2u` : `${off}`};\n`;
    for (let c = 0; c < this.nc; c++) {
      const at = (k: string) => this.via === "load" ? `load_${arr}(${k})` : `${arr}[${k}]`;
      if (this.vec) s += `let ${name}_${c} = ${at(`${name}_o + ${c}u`)}${mul};\n`;
      else {
        const comps = [0, 1, 2, 3].map((k) =>
          4 * c + k < this.hd ? at(`${name}_o + ${4 * c + k}u`) : "0.0"
        );
        s += `let ${name}_${c} = vec4f(${comps.join(", ")})${mul};\n`;
      }
    }
    return s;
  }

  /** Stores chunks `<name>_<c>` (times the WGSL factor `scale`) into `arr` at float offset `off`. */
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

  /** The WGSL dot product (an f32 expression) of two chunked rows. */
  dot(a: string, b: string): string {
    const t: string[] = [];
    for (let c = 0; c < this.nc; c++) t.push(`dot(${a}_${c}, ${b}_${c})`);
    return t.join(" + ");
  }

  /**
   * Statements `<dst>_c = <dst>_c * f + g * <src>_c` for every chunk (a plain `+=` when `f` is
   * ""), `f` and `g` WGSL factors.
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

// WGSL `[array, float offset]` of one row, given a WGSL position expression.
type RowSource = (t: string) => [string, string];

// WGSL offset expressions of the q, k and v rows of head `h` in batch `b` (WGSL variables in
// scope): from `qkv` directly, or q and k from the rotated buffer `qk` when rotary is on.
function rowSources(a: ShapeKey): { q: RowSource; k: RowSource; v: RowSource } {
  const { batch, seq, heads, headDim: hd } = a;
  const direct = (which: number): RowSource => (t) => ["qkv", qkvRow(a, which, t)];
  const rot = (which: number): RowSource => (t) => [
    "qk",
    `((${which * batch}u + b) * ${heads}u + h) * ${seq * hd}u + ${t} * ${hd}u`,
  ];
  return a.base
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
 * import { attentionTiling } from "./attention.ts";
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

// Across-pairs launch geometry: 8 lanes and `slots` rows per block (the same rows in every lane),
// 4 unless the per-row state (`weight` vec4 chunks) passes 32 chunks, then fewer; at most the
// sequence; `force` overrides. On the tiny peer step (hd 32, T 19, llvmpipe) 4 rows beat 2, 3, 5,
// 6 and 8 in all three kernels (bench/NOTES.md).
function acrossTiling(seq: number, weight: number, force: number): { wg: number; slots: number } {
  const want = force > 0 ? force : Math.max(1, Math.min(4, Math.floor(128 / weight)));
  return { wg: ACROSS_WG, slots: Math.max(1, Math.min(want, seq)) };
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
 * import { attentionKeyTile } from "./attention.ts";
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
 * Whether the CPU-adapter kernels put (batch, head) pairs across the 8 lanes of a workgroup
 * (each lane one pair, its rows in a loop) instead of rows of one pair. Across pairs, every key
 * or query row a lane loads is its own (llvmpipe gathers 8 useful rows per load instead of one
 * row 8 times), and the rows of a block are the same in every lane, so the causal mask skips
 * whole key rows instead of masking lanes. It needs enough pairs to keep the CPU threads busy:
 * at least 16 workgroups (128 pairs). `ctx.tuning.get("attention.across")` forces it on ("1")
 * or off ("0") on any adapter (tests run both).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { attentionAcross } from "./attention.ts";
 * const ctx = (cpu: boolean, t?: string) => ({
 *   isCpuAdapter: cpu,
 *   tuning: new Map(t ? [["attention.across", t]] : []),
 * });
 * assert(attentionAcross(ctx(true), 64, 4)); // the tiny config: 256 pairs
 * assert(!attentionAcross(ctx(true), 1, 4)); // decoding-sized batches keep rows across lanes
 * assert(!attentionAcross(ctx(false), 64, 4)); // GPUs: one row per lane, 64 lanes
 * assert(attentionAcross(ctx(false, "1"), 1, 1));
 * ```
 * @returns true for pairs across lanes
 */
export function attentionAcross(
  ctx: { isCpuAdapter: boolean; tuning: Map<string, string> },
  batch: number,
  heads: number,
): boolean {
  const forced = ctx.tuning.get("attention.across");
  if (forced !== undefined) return forced === "1";
  return ctx.isCpuAdapter && batch * heads >= 128;
}

/** Lanes per workgroup of the across-pairs kernels (one llvmpipe SIMD group). */
const ACROSS_WG = 8;

// WGSL opening of an across-pairs kernel: lane `lane` owns pair bh (clamped for loads, `valid`
// only for a real pair) of batch row b (from `bBase` with `nb` < batch) and head h; with
// `offset`, the rotary position offset as OFFSET (backward kernels).
function acrossStart(a: ShapeKey, nb: number, offset: boolean): string {
  const pairs = nb * a.heads;
  return `  let lane = lid;
  let bh = w * ${ACROSS_WG}u + lane;
  let bhc = min(bh, ${pairs - 1}u);
  let h = bhc % ${a.heads}u;
  let b = bhc / ${a.heads}u${nb < a.batch ? " + p.bBase" : ""};
  let valid = bh < ${pairs}u && b < ${a.batch}u;
${a.base && offset ? "  let OFFSET = p.offset;\n" : ""}`;
}

// The values attention code depends on, flat (a program key): sizes, layout, rotary base.
type ShapeKey = Omit<AttentionShape, "rotary"> & {
  /** Rotary base, 0 without rotary. */
  base: number;
};

// The row inputs a program may read from flat textures: none unless rows are vec4, and the
// rotated `qk` only with rotary.
function flatRows<N extends string>(k: ShapeKey, names: N[]): N[] {
  return k.headDim % 4 === 0 ? names.filter((n) => n !== "qk" || k.base) : [];
}

// An attention shape as a program key (the rotary offset is a uniform).
function shapeKey(a: AttentionShape): ShapeKey {
  const { batch, seq, heads, headDim, layout } = a;
  return { batch, seq, heads, headDim, layout, base: a.rotary ? a.rotary.base ?? ROTARY_BASE : 0 };
}

// Rotary angle frequencies w_d = base^(-2d/hd), d < hd/2, in doubles (null without rotary).
function rotaryFrequencies(
  headDim: number,
  rotary: RotaryOptions | undefined,
): Float64Array | null {
  if (!rotary) return null;
  const half = headDim / 2, base = rotary.base ?? ROTARY_BASE;
  const w = new Float64Array(half);
  for (let d = 0; d < half; d++) w[d] = Math.pow(base, (-2 * d) / headDim);
  return w;
}

// Rotates one row of hd values at `at` in place at a position (rotate-half RoPE), or with
// `inverse` applies the transpose, which maps gradients of rotated values back to the inputs'.
function rotateRow(
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

// Calls `f` for every q and k row with its offset `o` in the (2, batch, heads, T, hd) layout of
// `qkRows`, its offset `at` in `qkv` and its rotary position (CPU references).
function eachQkRow(a: AttentionShape, f: (o: number, at: number, pos: number) => void): void {
  const { batch, seq, heads, headDim: hd, layout } = a;
  for (let which = 0; which < 2; which++) {
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < heads; h++) {
        const col = qkvColumn(layout, heads, hd, which, h);
        for (let t = 0; t < seq; t++) {
          const o = (((which * batch + b) * heads + h) * seq + t) * hd;
          f(o, (b * seq + t) * 3 * heads * hd + col, t + (a.rotary?.offset ?? 0));
        }
      }
    }
  }
}

// Rotated copies of q and k laid out (2, batch, heads, T, hd), in doubles (CPU references).
function qkRows(qkv: FloatArray, a: AttentionShape): Float64Array {
  const hd = a.headDim, out = new Float64Array(2 * a.batch * a.heads * a.seq * hd);
  const freqs = rotaryFrequencies(hd, a.rotary);
  eachQkRow(a, (o, at, pos) => {
    for (let d = 0; d < hd; d++) out[o + d] = qkv[at + d];
    if (freqs) rotateRow(out, o, hd, pos, freqs, false);
  });
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

// Records the rotary pre-pass: rotated q and k of `qkv` into a scratch buffer laid out
// (2, batch, heads, T, hd), recycled after the current submission.
function rotateQk(ctx: KernelContext, qkv: Buf, a: AttentionShape): GPUBuffer {
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

// WGSL statements rotating (or, `inverse`, applying the transpose to) a row held as vec4 chunks
// `<name>_<c>` (declared with `var`) in place at position `pos` (a WGSL f32 expression). Angles
// are computed as in the pre-pass, so forward and backward agree bit for bit.
function rotateChunksCode(
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

// ------------------------------------------------------------ forward

/** Arguments of `attentionKernel`: `B` is `Buf` on the GPU, a float array on the CPU. */
export interface AttentionArgs<B> extends AttentionShape {
  /** Fused projection, (batch, seq, 3 * heads * headDim), in `layout`. */
  qkv: B;
  /** Output, (batch, seq, heads * headDim); head h at columns h*headDim. */
  out: B;
  /** Optional saved row log-sum-exp of the scaled, biased, masked scores, (batch, heads, seq). */
  lse?: B;
  /** Optional additive score bias per head (FIRE), (heads, seq, seq): bias[h, query, key]. */
  bias?: B;
}

type ForwardKey = ShapeKey & {
  bias: boolean;
  lse: boolean;
  wg: number;
  slots: number;
  /** (batch, head) pairs across the lanes, `slots` rows per block (`attentionAcross`). */
  across: boolean;
  /** Key/value rows staged in workgroup memory per pass (0: read from global memory). */
  tile: number;
};

function forwardBody(k: ForwardKey): string {
  const { seq, heads, headDim: hd, wg, slots } = k;
  const g = new AttnCode(hd, "load");
  const src = rowSources(k);
  const qb = wg * slots;
  const nqb = Math.ceil(seq / qb);
  const hasBias = k.bias, hasLse = k.lse, across = k.across;

  // Per slot r: query i<r> (clamped to iq<r> for loads), its scaled q row, running max m,
  // normaliser l and accumulator a (scores in log2 units, so exp2 is used throughout).
  let init = "";
  for (let r = 0; r < slots; r++) {
    const [arr, off] = src.q(`iq${r}`);
    const row = across ? `q0 + ${r}u` : `q0 + ${r * wg}u + lane`;
    init += `let i${r} = ${row};\nlet iq${r} = min(i${r}, ${seq - 1}u);\n`;
    init += g.load(`q${r}`, arr, off, "SCALE");
    init += `var m${r} = ${MASKED};\nvar l${r} = 0.0;\n` + g.zeros(`a${r}`);
    if (hasBias) init += `let br${r} = (h * ${seq}u + iq${r}) * ${seq}u;\n`;
  }

  // One loop over keys 0..block end; slot r sees keys below its rows' end only. The condition
  // is the same in every lane, and llvmpipe skips a branch no lane takes, so the causal block
  // skip costs a compare, and the code stays linear in the slots (JIT time grows quickly with
  // code size). Key 0 comes first, so every running max is finite after one step and masked
  // keys add exp2(-1e30 - m) = 0.
  const [ka, ko] = src.k("j"), [va, vo] = src.v("j");
  let body = g.load("k", ka, ko) + g.load("v", va, vo);
  for (let r = 0; r < slots; r++) {
    // Across pairs, the rows are the same in every lane: keys past a row are skipped, not masked.
    const dot = `${g.dot(`q${r}`, "k")}${hasBias ? ` + bias[br${r} + j] * LOG2E` : ""}`;
    body += `if (${across ? `j <= i${r}` : `j < q0 + ${(r + 1) * wg}u`}) {
  let s = ${across ? dot : `select(${dot}, ${MASKED}, j > i${r})`};
  let mn = max(m${r}, s);
  let corr = exp2(m${r} - mn);
  let pr = exp2(s - mn);
  l${r} = l${r} * corr + pr;
  ${g.axpy(`a${r}`, "corr", "pr", "v")}  m${r} = mn;
}\n`;
  }
  const end = `min(q0 + ${across ? slots : slots * wg}u, ${seq}u)`;
  let loops = `for (var j = 0u; j < ${end}; j++) {\n${body}}\n`;
  if (k.tile > 0) {
    // GPUs: the key and value rows go through workgroup memory, `tile` rows at a time (loaded
    // by as many lanes, one row each), so each row is read from global memory once per
    // workgroup rather than once per lane. The loop bounds are the same in every lane.
    const nc = g.nc, t = k.tile;
    let fill = g.load("kt", ka, ko) + g.load("vt", va, vo);
    for (let c = 0; c < nc; c++) {
      fill += `sk[lane * ${nc}u + ${c}u] = kt_${c};\nsv[lane * ${nc}u + ${c}u] = vt_${c};\n`;
    }
    let read = "";
    for (let c = 0; c < nc; c++) {
      read += `let k_${c} = sk[jj * ${nc}u + ${c}u];\nlet v_${c} = sv[jj * ${nc}u + ${c}u];\n`;
    }
    const rest = body.slice(body.indexOf(g.load("v", va, vo)) + g.load("v", va, vo).length);
    loops = `let jend = ${end};
for (var j0 = 0u; j0 < jend; j0 += ${t}u) {
  if (lane < ${t}u) {
    let j = min(j0 + lane, ${seq - 1}u);
${fill}  }
  workgroupBarrier();
  for (var jj = 0u; jj < min(${t}u, jend - j0); jj++) {
    let j = j0 + jj;
${read}${rest}  }
  workgroupBarrier();
}
`;
  }

  let fin = "";
  for (let r = 0; r < slots; r++) {
    fin += `if (${across ? "valid && " : ""}i${r} < ${seq}u) {
  let inv = 1.0 / l${r};
  ${g.store(`a${r}`, "out", `(b * ${seq}u + i${r}) * ${heads * hd}u + h * ${hd}u`, "inv")}${
      hasLse ? `  lse[(b * ${heads}u + h) * ${seq}u + i${r}] = (m${r} + log2(l${r})) * LN2;\n` : ""
    }}\n`;
  }

  if (across) {
    return `${acrossStart(k, k.batch, false)}for (var q0 = 0u; q0 < ${seq}u; q0 += ${slots}u) {
${init}
${loops}
${fin}}`;
  }
  return `let lane = lid;
  let bh = w / ${nqb}u;
  let h = bh % ${heads}u;
  let b = bh / ${heads}u;
  let q0 = (w % ${nqb}u) * ${qb}u;
${init}
${loops}
${fin}`;
}

const FORWARD = program({
  label: "attention.forward",
  inputs: { qkv: "ROW", qk: "ROW", bias: "f32" },
  outputs: { out: "ROW", lse: "f32" },
  workgroup: (k: ForwardKey) => k.wg,
  per: "workgroup",
  index: "w",
  flat: (k) => flatRows(k, ["qkv", "qk"]),
  head: (k) =>
    `${rowHead(k.headDim)}
const LN2 = ${f32(Math.LN2)};${
      k.tile
        ? `\nvar<workgroup> sk: array<vec4f, ${k.tile * Math.ceil(k.headDim / 4)}>;
var<workgroup> sv: array<vec4f, ${k.tile * Math.ceil(k.headDim / 4)}>;`
        : ""
    }`,
  body: forwardBody,
});

/**
 * Causal multi-head self-attention on a fused `qkv` (batch, seq, 3 * heads * headDim):
 * `out = softmax(q k^T / sqrt(hd) + bias, causal) v` (batch, seq, heads * headDim), optional RoPE
 * on q and k; saves each row's log-sum-exp in `lse` when given.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { attentionKernel } from "./attention.ts";
 * // batch 1, T 2, 1 head of dim 1: q = k = 0, so query 1 averages v = [1, 3]
 * const qkv = new Float64Array([0, 0, 1, 0, 0, 3]), out = new Float64Array(2);
 * attentionKernel.cpu({ qkv, out, batch: 1, seq: 2, heads: 1, headDim: 1, layout: "pytorch" });
 * assert(out[0] === 1 && out[1] === 2);
 * ```
 */
export const attentionKernel: Kernel<AttentionArgs<Buf>, AttentionArgs<FloatArray>> = {
  // No (B, heads, T, T) tensor is written. On GPUs the key and value rows are staged in workgroup
  // memory a tile at a time (`attentionKeyTile`). Saving the row log-sum-exp rather than the
  // probabilities is T times smaller, and backward recomputes each probability with one dot product
  // while it reads the key rows anyway. With `rotary`, a pre-pass writes rotated q and k to scratch
  // (sin/cos once per row and frequency). Sizes are baked into the shader (one pipeline per shape);
  // the rotary offset is a parameter.
  // Reference: Vaswani et al. 2017 (attention); Dao et al. 2022, FlashAttention (online softmax).
  gpu(ctx, a) {
    checkAttentionSizes(a, a.seq);
    const force = Number(ctx.tuning.get("attention.slots")) || 0;
    const chunks = Math.ceil(a.headDim / 4);
    const across = attentionAcross(ctx, a.batch, a.heads);
    const { wg, slots } = across
      ? acrossTiling(a.seq, 2 * chunks, force)
      : attentionTiling(ctx.isCpuAdapter, a.seq, 2 * chunks, 128, force);
    const tile = across ? 0 : attentionKeyTile(ctx, wg, a.headDim);
    const nqb = Math.ceil(a.seq / (wg * slots));
    const rows = a.batch * a.seq * a.heads * a.headDim;
    const qk = a.rotary ? rotateQk(ctx, a.qkv, a) : undefined;
    FORWARD.run(ctx, {
      key: { ...shapeKey(a), bias: !!a.bias, lse: !!a.lse, wg, slots, tile, across },
      bind: { qkv: a.qkv, qk, bias: a.bias, out: a.out, lse: a.lse },
      floats: { qkv: 3 * rows, qk: 2 * rows },
      count: across ? Math.ceil((a.batch * a.heads) / ACROSS_WG) : a.batch * a.heads * nqb,
    });
  },
  cpu(a) {
    checkAttentionSizes(a, a.seq);
    const { batch, seq, heads, headDim: hd, layout } = a;
    const h3 = 3 * heads * hd, H = heads * hd;
    const qk = qkRows(a.qkv, a); // (2, batch, heads, T, hd)
    const scale = 1 / Math.sqrt(hd);
    const s = new Float64Array(seq);
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < heads; h++) {
        const vc = qkvColumn(layout, heads, hd, 2, h);
        const qo = (b * heads + h) * seq * hd, ko = ((batch + b) * heads + h) * seq * hd;
        for (let i = 0; i < seq; i++) {
          let m = -Infinity;
          for (let j = 0; j <= i; j++) {
            let dot = 0;
            for (let d = 0; d < hd; d++) dot += qk[qo + i * hd + d] * qk[ko + j * hd + d];
            s[j] = dot * scale + (a.bias ? a.bias[(h * seq + i) * seq + j] : 0);
            m = Math.max(m, s[j]);
          }
          let l = 0;
          for (let j = 0; j <= i; j++) l += s[j] = Math.exp(s[j] - m);
          for (let d = 0; d < hd; d++) {
            let acc = 0;
            for (let j = 0; j <= i; j++) acc += s[j] * a.qkv[(b * seq + j) * h3 + vc + d];
            a.out[(b * seq + i) * H + h * hd + d] = acc / l;
          }
          if (a.lse) a.lse[(b * heads + h) * seq + i] = m + Math.log(l);
        }
      }
    }
  },
};

// ------------------------------------------------------------ backward

/**
 * Arguments of `attentionBackwardKernel`: the forward's arguments as it ran (`out` its output,
 * `lse` its saved row log-sum-exp, now required), plus the gradients.
 */
export interface AttentionBackwardArgs<B> extends AttentionArgs<B> {
  lse: B;
  /** Gradient of the output, (batch, seq, heads * headDim). */
  dout: B;
  /** Gradient of `qkv` (written, same layout), (batch, seq, 3 * heads * headDim). */
  dqkv: B;
  /** Gradient of the bias (written, summed over the batch), (heads, seq, seq). */
  dbias?: B;
}

/** WGSL offset of head h's row t of a (batch, seq, heads * hd) tensor. */
function headRow(a: ShapeKey, t: string): string {
  return `(b * ${a.seq}u + ${t}) * ${a.heads * a.headDim}u + h * ${a.headDim}u`;
}

/** WGSL offset of head h's q/k/v row t inside `qkv`-shaped storage. */
function qkvRow(a: ShapeKey, which: number, t: string): string {
  const col = qkvColumnCode(a.layout, a.heads, a.headDim, which);
  return `(b * ${a.seq}u + ${t}) * ${3 * a.heads * a.headDim}u + ${col}`;
}

/** What the backward programs' text depends on. */
type BackwardKey = ShapeKey & {
  /** Whether there is a bias (and, for the query pass, a bias gradient `ds` to write). */
  bias: boolean;
  /** Query pass only: whether it writes ds for the bias gradient. */
  ds: boolean;
  /** Invocations per workgroup. */
  wg: number;
  /** Rows per invocation. */
  slots: number;
  /** Batch rows per dispatch (the query pass with a bias gradient runs in chunks). */
  nb: number;
  /** (batch, head) pairs across the lanes, `slots` rows per block (`attentionAcross`). */
  across: boolean;
};

const HEAD = (k: BackwardKey) =>
  /* wgsl */ `${rowHead(k.headDim)}
const INV_SQRT = ${f32(1 / Math.sqrt(k.headDim))};`;

const START = (a: ShapeKey, nblk: number, qb: number, nb: number) => /* wgsl */ `
  let lane = lid;
  let bh = w / ${nblk}u;
  let h = bh % ${a.heads}u;
  let b = bh / ${a.heads}u${nb < a.batch ? " + p.bBase" : ""};
  if (b >= ${a.batch}u) { return; }
  let r0 = (w % ${nblk}u) * ${qb}u;
${a.base ? "let OFFSET = p.offset;\n" : ""}`;

function queryBody(a: BackwardKey): string {
  const { seq, heads, headDim: hd, wg, slots, nb } = a;
  const g = new AttnCode(hd, "load");
  const src = rowSources(a);
  const qb = wg * slots, nblk = Math.ceil(seq / qb);
  const hasBias = a.bias, wantDb = a.ds, across = a.across;

  let init = "";
  for (let r = 0; r < slots; r++) {
    const [qa, qo] = src.q(`iq${r}`);
    const row = across ? `r0 + ${r}u` : `r0 + ${r * wg}u + lane`;
    init += `let i${r} = ${row};\nlet iq${r} = min(i${r}, ${seq - 1}u);\n`;
    init += g.load(`q${r}`, qa, qo, "SCALE");
    init += g.load(`g${r}`, "dout", headRow(a, `iq${r}`));
    init += g.load(`o${r}`, "o", headRow(a, `iq${r}`));
    init += `let d${r} = ${g.dot(`g${r}`, `o${r}`)};\n`;
    init += `let ls${r} = lse[(b * ${heads}u + h) * ${seq}u + iq${r}] * LOG2E;\n`;
    init += g.zeros(`dq${r}`);
    if (hasBias) init += `let br${r} = (h * ${seq}u + iq${r}) * ${seq}u;\n`;
    if (wantDb) {
      const bl = nb < a.batch ? "(b - p.bBase)" : "b";
      init += `let dsr${r} = ((${bl} * ${heads}u + h) * ${seq}u + iq${r}) * ${seq}u;\n`;
    }
  }
  // One loop over keys; slot r only sees keys below its rows' end (a branch every lane takes
  // the same way, skipped by llvmpipe when false).
  const [ka, ko] = src.k("j"), [va, vo] = src.v("j");
  let body = g.load("k", ka, ko) + g.load("v", va, vo);
  for (let r = 0; r < slots; r++) {
    // Across pairs, the rows are the same in every lane: keys past a row are skipped, not masked.
    const e = `exp2(s - ls${r})`;
    body += `if (${across ? `j <= i${r}` : `j < r0 + ${(r + 1) * wg}u`}) {
  let s = ${g.dot(`q${r}`, "k")}${hasBias ? ` + bias[br${r} + j] * LOG2E` : ""};
  let pr = ${across ? e : `select(${e}, 0.0, j > i${r})`};
  let dsv = pr * (${g.dot(`g${r}`, "v")} - d${r});
  ${g.axpy(`dq${r}`, "", "dsv", "k")}${
      wantDb
        ? `  if (${across ? "valid && " : ""}i${r} < ${seq}u) { ds[dsr${r} + j] = dsv; }\n`
        : ""
    }}\n`;
  }
  const loops = `for (var j = 0u; j < min(r0 + ${
    across ? slots : qb
  }u, ${seq}u); j++) {\n${body}}\n`;
  let fin = "";
  for (let r = 0; r < slots; r++) {
    fin += `if (${across ? "valid && " : ""}i${r} < ${seq}u) {\n`;
    if (a.base) fin += rotateChunksCode(hd, `dq${r}`, `f32(i${r} + OFFSET)`, a.base, true);
    fin += g.store(`dq${r}`, "dqkv", qkvRow(a, 0, `i${r}`), "INV_SQRT");
    fin += `ld[(b * ${heads}u + h) * ${seq}u + i${r}] = vec4f(ls${r}, d${r}, 0.0, 0.0);\n}\n`;
  }
  if (across) {
    return `${acrossStart(a, nb, true)}for (var r0 = 0u; r0 < ${seq}u; r0 += ${slots}u) {
${init}${loops}${fin}}`;
  }
  return `${START(a, nblk, qb, nb)}${init}${loops}${fin}`;
}

function keyBody(a: BackwardKey): string {
  const { seq, heads, headDim: hd, wg, slots } = a;
  const g = new AttnCode(hd, "load");
  const src = rowSources(a);
  const kb = wg * slots, nblk = Math.ceil(seq / kb);
  const hasBias = a.bias, across = a.across;

  let init = "";
  for (let r = 0; r < slots; r++) {
    const [ka, ko] = src.k(`jq${r}`), [va, vo] = src.v(`jq${r}`);
    const row = across ? `r0 + ${r}u` : `r0 + ${r * wg}u + lane`;
    init += `let j${r} = ${row};\nlet jq${r} = min(j${r}, ${seq - 1}u);\n`;
    init += g.load(`k${r}`, ka, ko) + g.load(`v${r}`, va, vo);
    init += g.zeros(`dk${r}`) + g.zeros(`dv${r}`);
  }
  // One loop over queries r0..T-1; slot r only sees queries from its first key on.
  const [qa, qo] = src.q("i");
  let body = g.load("q", qa, qo, "SCALE") + g.load("g", "dout", headRow(a, "i"));
  // The query pass's row statistics: (lse in log2 units, dO.O), one vec4 load per query.
  body += `let ld = load_ld((b * ${heads}u + h) * ${seq}u + i);\nlet ls = ld.x;\nlet di = ld.y;\n`;
  if (hasBias) body += `let bi = (h * ${seq}u + i) * ${seq}u;\n`;
  for (let r = 0; r < slots; r++) {
    // Across pairs, the rows are the same in every lane: queries before a key are skipped.
    body += `if (${across ? `i >= j${r}` : `i >= r0 + ${r * wg}u`}) {
  let s = ${g.dot("q", `k${r}`)}${hasBias ? ` + bias[bi + jq${r}] * LOG2E` : ""};
  let pr = ${across ? "exp2(s - ls)" : `select(exp2(s - ls), 0.0, j${r} > i)`};
  let dsv = pr * (${g.dot("g", `v${r}`)} - di);
  ${g.axpy(`dv${r}`, "", "pr", "g")}${g.axpy(`dk${r}`, "", "dsv", "q")}}\n`;
  }
  const loops = `for (var i = r0; i < ${seq}u; i++) {\n${body}}\n`;
  let fin = "";
  for (let r = 0; r < slots; r++) {
    fin += `if (${across ? "valid && " : ""}j${r} < ${seq}u) {\n`;
    if (a.base) fin += rotateChunksCode(hd, `dk${r}`, `f32(j${r} + OFFSET)`, a.base, true);
    // q rows carried the factor log2(e)/sqrt(hd); dk needs 1/sqrt(hd).
    fin += g.store(`dk${r}`, "dqkv", qkvRow(a, 1, `j${r}`), f32(Math.LN2));
    fin += g.store(`dv${r}`, "dqkv", qkvRow(a, 2, `j${r}`));
    fin += "}\n";
  }
  if (across) {
    return `${acrossStart(a, a.batch, true)}for (var r0 = 0u; r0 < ${seq}u; r0 += ${slots}u) {
${init}${loops}${fin}}`;
  }
  return `${START(a, nblk, kb, a.batch)}${init}${loops}${fin}`;
}

/**
 * The query pass: per query row, dq (and the row's dO.O, and ds for the bias gradient), one
 * workgroup per block of query rows of one (batch row, head).
 */
const QUERY = program({
  label: "attention.backward.query",
  inputs: { qkv: "ROW", qk: "ROW", o: "ROW", dout: "ROW", lse: "f32", bias: "f32" },
  outputs: { dqkv: "ROW", ld: "vec4f", ds: "f32" },
  uniforms: { offset: "u32", bBase: "u32" },
  workgroup: (k: BackwardKey) => k.wg,
  per: "workgroup",
  index: "w",
  flat: (k) => flatRows(k, ["qkv", "qk", "o", "dout"]),
  head: HEAD,
  body: queryBody,
});

/** The key pass: per key row, dk and dv, one workgroup per block of key rows. */
const KEY = program({
  label: "attention.backward.key",
  inputs: { qkv: "ROW", qk: "ROW", dout: "ROW", ld: "vec4f", bias: "f32" },
  outputs: { dqkv: "ROW" },
  uniforms: { offset: "u32" },
  workgroup: (k: BackwardKey) => k.wg,
  per: "workgroup",
  index: "w",
  flat: (k) => [...flatRows(k, ["qkv", "qk", "dout"]), "ld"],
  head: HEAD,
  body: keyBody,
});

/**
 * The bias gradient: sums ds over a chunk of `nb` batch rows (`p.rows` of them valid) into
 * dbias, or adds to it (`acc`); one invocation per (head, query, key) entry.
 */
const BIAS_REDUCE = program({
  label: "attention.backward.bias",
  inputs: { ds: "f32" },
  outputs: { dbias: "f32" },
  uniforms: { rows: "u32" },
  workgroup: 64,
  index: "e",
  body: (k: { seq: number; nb: number; acc: boolean }) =>
    `let j = e % ${k.seq}u;
  let i = (e / ${k.seq}u) % ${k.seq}u;
  var acc = 0.0;
  if (j <= i) {
    for (var b = 0u; b < min(p.rows, ${k.nb}u); b++) { acc += ds[b * p.n + e]; }
  }
  dbias[e] = ${k.acc ? "dbias[e] + acc" : "acc"};`,
});

/** Most bytes of per-batch ds scratch one chunk of the bias gradient uses. */
const DS_BYTES = 64 << 20;

/**
 * Gradient of causal self-attention: `dqkv` (batch, seq, 3 * heads * headDim, same layout) from
 * the forward's `qkv`, `out`, `lse` and `dout`, and the bias gradient summed over the batch.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { attentionBackwardKernel, attentionKernel } from "./attention.ts";
 * // T 1: out = v, so dv = dout and dq = dk = 0
 * const sizes = { batch: 1, seq: 1, heads: 1, headDim: 1, layout: "pytorch" as const };
 * const qkv = new Float64Array([0.5, -1, 2]), out = new Float64Array(1), lse = new Float64Array(1);
 * attentionKernel.cpu({ ...sizes, qkv, out, lse });
 * const dqkv = new Float64Array(3);
 * attentionBackwardKernel.cpu({ ...sizes, qkv, out, lse, dout: new Float64Array([3]), dqkv });
 * assert(dqkv[0] === 0 && dqkv[1] === 0 && dqkv[2] === 3);
 * ```
 */
export const attentionBackwardKernel: Kernel<
  AttentionBackwardArgs<Buf>,
  AttentionBackwardArgs<FloatArray>
> = {
  // Dispatches: the rotary pre-pass (with `rotary`), the query kernel (dq, and D_i = dO_i.O_i),
  // the key kernel (dk, dv), and with `dbias` a fixed-order reduction over the batch of the
  // per-batch ds (B, heads, T, T) that the query kernel wrote (in chunks of batch rows when that
  // scratch would pass 64 MiB, or the `attention.dsBatch` tuning value).
  // Reference: Dao et al. 2022, FlashAttention, Algorithm 4 (backward with recomputation):
  // ds_ij = p_ij (dO_i.v_j - dO_i.O_i).
  gpu(ctx, a) {
    checkAttentionSizes(a, a.seq);
    if (a.dbias && !a.bias) throw new Error("Attention backward got dbias without bias");
    const { batch, seq, heads } = a;
    const cpu = ctx.isCpuAdapter;
    const chunks = Math.ceil(a.headDim / 4);
    const qf = Number(ctx.tuning.get("attention.bwdQuerySlots")) || 0;
    const kf = Number(ctx.tuning.get("attention.bwdKeySlots")) || 0;
    const across = attentionAcross(ctx, batch, heads);
    const qt = across
      ? acrossTiling(seq, 3 * chunks, qf)
      : attentionTiling(cpu, seq, 3 * chunks, 100, qf);
    const kt = across
      ? acrossTiling(seq, 4 * chunks, kf)
      : attentionTiling(cpu, seq, 4 * chunks, 128, kf);
    const rows = batch * seq * heads * a.headDim;
    const qk = a.rotary ? rotateQk(ctx, a.qkv, a) : undefined;
    const floats = {
      qkv: 3 * rows,
      qk: 2 * rows,
      o: rows,
      dout: rows,
      ld: 4 * batch * heads * seq,
    };
    const ld = ctx.scratch(batch * heads * seq * 16);
    const offset = a.rotary?.offset ?? 0;
    const shape = shapeKey(a), bias = !!a.bias;
    const { qkv, lse, dout, dqkv } = a;
    const qblocks = Math.ceil(seq / (qt.wg * qt.slots));
    // The bias gradient sums ds over the batch: the query kernel writes ds of a chunk of `nb` batch
    // rows to scratch, a reduction adds them in order; chunks keep the scratch bounded.
    const per = heads * seq * seq * 4;
    const limit = Math.min(DS_BYTES, ctx.device.limits.maxStorageBufferBindingSize);
    const force = Number(ctx.tuning.get("attention.dsBatch")) || 0;
    const nb = !a.dbias
      ? batch
      : Math.max(1, Math.min(batch, force > 0 ? force : Math.floor(limit / per)));
    const ds = a.dbias ? ctx.scratch(nb * per) : undefined;
    for (let b0 = 0; b0 < batch; b0 += nb) {
      QUERY.run(ctx, {
        key: { ...shape, bias, ds: !!ds, ...qt, nb, across },
        bind: { qkv, qk, o: a.out, dout, lse, bias: a.bias, dqkv, ld, ds },
        floats,
        params: { offset, bBase: b0 },
        count: across ? Math.ceil((nb * heads) / ACROSS_WG) : nb * heads * qblocks,
      });
      if (ds) {
        BIAS_REDUCE.run(ctx, {
          key: { seq, nb, acc: b0 > 0 },
          bind: { ds, dbias: a.dbias },
          params: { rows: batch - b0 },
          count: per / 4,
        });
      }
    }
    KEY.run(ctx, {
      key: { ...shape, bias, ds: false, ...kt, nb: batch, across },
      bind: { qkv, qk, dout, ld, bias: a.bias, dqkv },
      floats,
      params: { offset },
      count: across
        ? Math.ceil((batch * heads) / ACROSS_WG)
        : batch * heads * Math.ceil(seq / (kt.wg * kt.slots)),
    });
  },
  // From the saved `out` and `lse` exactly as the GPU kernels do: p_ij = exp(s_ij - lse_i).
  cpu(a) {
    checkAttentionSizes(a, a.seq);
    const { batch, seq, heads, headDim: hd, layout } = a;
    const h3 = 3 * heads * hd, H = heads * hd;
    const qk = qkRows(a.qkv, a); // (2, batch, heads, T, hd)
    const dqk = new Float64Array(qk.length);
    const scale = 1 / Math.sqrt(hd);
    a.dqkv.fill(0);
    if (a.dbias) a.dbias.fill(0);
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < heads; h++) {
        const vc = qkvColumn(layout, heads, hd, 2, h);
        const qo = (b * heads + h) * seq * hd, ko = ((batch + b) * heads + h) * seq * hd;
        for (let i = 0; i < seq; i++) {
          const gi = (b * seq + i) * H + h * hd;
          let di = 0;
          for (let d = 0; d < hd; d++) di += a.dout[gi + d] * a.out[gi + d];
          const lse = a.lse[(b * heads + h) * seq + i];
          for (let j = 0; j <= i; j++) {
            let s = 0, dp = 0;
            for (let d = 0; d < hd; d++) {
              s += qk[qo + i * hd + d] * qk[ko + j * hd + d];
              dp += a.dout[gi + d] * a.qkv[(b * seq + j) * h3 + vc + d];
            }
            s = s * scale + (a.bias ? a.bias[(h * seq + i) * seq + j] : 0);
            const p = Math.exp(s - lse);
            const ds = p * (dp - di);
            for (let d = 0; d < hd; d++) {
              dqk[qo + i * hd + d] += ds * qk[ko + j * hd + d] * scale;
              dqk[ko + j * hd + d] += ds * qk[qo + i * hd + d] * scale;
              a.dqkv[(b * seq + j) * h3 + vc + d] += p * a.dout[gi + d];
            }
            if (a.dbias) a.dbias[(h * seq + i) * seq + j] += ds;
          }
        }
      }
    }
    const freqs = rotaryFrequencies(hd, a.rotary);
    eachQkRow(a, (o, at, pos) => {
      if (freqs) rotateRow(dqk, o, hd, pos, freqs, true);
      for (let d = 0; d < hd; d++) a.dqkv[at + d] = dqk[o + d];
    });
  },
};

// ------------------------------------------------------------ decoding

/**
 * Arguments of `attentionDecodeKernel` (`I`: the storage of the per-row lengths); `batch`,
 * `heads`, `headDim`, `layout` and `rotary` as in `AttentionShape`, the rotary positions of the
 * new rows counting on from the cached length (the cache holds rotated keys).
 */
export interface AttentionDecodeArgs<B, I = B> extends Omit<AttentionShape, "seq"> {
  /** Fused projection of the new positions, (batch, steps, 3 * heads * headDim), in `layout`. */
  qkv: B;
  /** Rotated keys, (batch, heads, capacity, headDim); rows at the new positions are written. */
  kCache: B;
  /** Values, (batch, heads, capacity, headDim); rows at the new positions are written. */
  vCache: B;
  /** Output, (batch, steps, heads * headDim). */
  out: B;
  /**
   * Optional additive bias, (heads, steps, biasStride), or (batch, heads, steps, biasStride)
   * with `biasPerRow`: entry [.., t, j] is added to the score of new query t against cache
   * position j (FIRE's rows for the new positions).
   */
  bias?: B;
  /** Row length of `bias` (a parameter: it may grow every step); default `capacity`. */
  biasStride?: number;
  /** Whether `bias` has a leading batch dimension. */
  biasPerRow?: boolean;
  /** Optional per-row cached lengths, (batch) u32; overrides `cacheLen` row by row. */
  lengths?: I;
  /** Number of positions already cached in every row (when `lengths` is absent). */
  cacheLen: number;
  /** New positions per row. */
  steps: number;
  /** Cache rows per (batch, head). */
  capacity: number;
}

/** WGSL defining `L`, row b's cached length. */
function lengthCode(k: DecodeKey): string {
  return k.lengths ? "let L = lengths[b];" : "let L = p.cacheLen;";
}

/**
 * What the decoding programs' text depends on: the shape with `seq` the new positions per row,
 * the cache rows, and which optional bindings are bound.
 */
type DecodeKey = ShapeKey & {
  capacity: number;
  lengths: boolean;
  bias: boolean;
  biasPerRow: boolean;
  /** Invocations per workgroup (attend). */
  wg: number;
};

const DECODE_UNIFORMS = { cacheLen: "u32", offset: "u32", biasStride: "u32" } as const;

/** Appends the new positions' (rotated) keys and values to the caches. */
const APPEND = program({
  label: "attention.decode.append",
  inputs: { qkv: "f32", lengths: "u32" },
  outputs: { kc: "f32", vc: "f32" },
  uniforms: DECODE_UNIFORMS,
  workgroup: 64,
  index: "e",
  body: (key: DecodeKey) => {
    const { seq: steps, heads, headDim: hd, capacity, layout } = key;
    const half = hd / 2;
    const k = key.base ? f32((-2 / hd) * Math.log2(key.base)) : "";
    const col = (which: number) => qkvColumnCode(layout, heads, hd, which);
    return `let d = e % ${hd}u;
  let h = (e / ${hd}u) % ${heads}u;
  let bt = e / ${hd * heads}u;
  let t = bt % ${steps}u;
  let b = bt / ${steps}u;
  ${lengthCode(key)}
  let pos = L + t;
  if (pos >= ${capacity}u) { return; }
  let row = bt * ${3 * heads * hd}u;
  var kv = qkv[row + ${col(1)} + d];
  ${
      key.base
        ? `let dd = d % ${half}u;
  let an = f32(pos + p.offset) * exp2(f32(dd) * ${k});
  let other = qkv[row + ${col(1)} + select(d - ${half}u, d + ${half}u, d < ${half}u)];
  kv = kv * cos(an) + select(other, -other, d < ${half}u) * sin(an);`
        : ""
    }
  let o = ((b * ${heads}u + h) * ${capacity}u + pos) * ${hd}u + d;
  kc[o] = kv;
  vc[o] = qkv[row + ${col(2)} + d];`;
  },
});

function attendBody(a: DecodeKey): string {
  const { batch, seq: steps, heads, headDim: hd, capacity, layout, wg } = a;
  const g = new AttnCode(hd);
  const nc = g.nc;
  const hasBias = a.bias;
  const h3 = 3 * heads * hd;
  const qcol = layout === "pytorch" ? `h * ${hd}u` : `h * ${3 * hd}u`;
  const biasRow = a.biasPerRow
    ? `((b * ${heads}u + h) * ${steps}u + t) * p.biasStride`
    : `(h * ${steps}u + t) * p.biasStride`;
  // q is read component by component (qkv may not be vec4-aligned for this head's offset).
  let qload = "";
  for (let c = 0; c < nc; c++) {
    const comps = [0, 1, 2, 3].map((k) => 4 * c + k < hd ? `qkv[qo + ${4 * c + k}u]` : "0.0");
    qload += `var q_${c} = vec4f(${comps.join(", ")});\n`;
  }
  let rot = "";
  if (a.base) rot = rotateChunksCode(g.hd, "q", "f32(pos + p.offset)", a.base, false);
  let scaleQ = "";
  for (let c = 0; c < nc; c++) scaleQ += `q_${c} *= SCALE;\n`;
  let share = "";
  for (let c = 0; c < nc; c++) share += `sh_acc[lane * ${nc}u + ${c}u] = a_${c};\n`;
  return `  let w = wid.x + wid.y * nwg.x;
  let valid = w < ${batch * heads}u;
  let ww = min(w, ${batch * heads - 1}u);
  let lane = lid;
  let h = ww % ${heads}u;
  let b = ww / ${heads}u;
  ${lengthCode(a)}
  for (var t = 0u; t < ${steps}u; t++) {
    let pos = L + t;
    let nk = min(pos + 1u, ${capacity}u);
    let qo = (b * ${steps}u + t) * ${h3}u + ${qcol};
    ${qload}${rot}${scaleQ}
    var m = ${MASKED};
    var l = 0.0;
    ${g.zeros("a")}
    for (var j = lane; j < nk; j += ${wg}u) {
      let ko = (b * ${heads}u + h) * ${capacity}u + j;
      ${g.load("k", "kc", `ko * ${hd}u`)}${g.load("v", "vc", `ko * ${hd}u`)}
      let s = ${g.dot("q", "k")}${hasBias ? ` + bias[${biasRow} + j] * LOG2E` : ""};
      let mn = max(m, s);
      let corr = exp2(m - mn);
      let pr = exp2(s - mn);
      l = l * corr + pr;
      ${g.axpy("a", "corr", "pr", "v")}
      m = mn;
    }
    sh_m[lane] = m;
    sh_l[lane] = l;
    ${share}
    workgroupBarrier();
    var mx = sh_m[0];
    for (var x = 1u; x < ${wg}u; x++) { mx = max(mx, sh_m[x]); }
    var den = 0.0;
    for (var x = 0u; x < ${wg}u; x++) { den += sh_l[x] * exp2(sh_m[x] - mx); }
    for (var c = lane; c < ${nc}u; c += ${wg}u) {
      var acc = vec4f(0.0);
      for (var x = 0u; x < ${wg}u; x++) { acc += sh_acc[x * ${nc}u + c] * exp2(sh_m[x] - mx); }
      acc = acc / den;
      let oo = (b * ${steps}u + t) * ${heads * hd}u + h * ${hd}u + c * 4u;
      for (var k = 0u; k < 4u; k++) {
        if (valid && c * 4u + k < ${hd}u) { out[oo + k] = acc[k]; }
      }
    }
    workgroupBarrier();
  }`;
}

/**
 * Attends each new query over its row's cache: one workgroup per (batch row, head), lanes
 * striding the cache and merging their online-softmax states through workgroup memory.
 */
const ATTEND = program({
  label: "attention.decode.attend",
  inputs: { qkv: "f32", kc: "ROW", vc: "ROW", bias: "f32", lengths: "u32" },
  outputs: { out: "f32" },
  uniforms: DECODE_UNIFORMS,
  workgroup: (k: DecodeKey) => k.wg,
  per: "none",
  head: (k) => {
    const nc = Math.ceil(k.headDim / 4);
    return `${rowHead(k.headDim)}
var<workgroup> sh_m: array<f32, ${k.wg}>;
var<workgroup> sh_l: array<f32, ${k.wg}>;
var<workgroup> sh_acc: array<vec4f, ${k.wg * nc}>;`;
  },
  body: attendBody,
});

function check(a: AttentionDecodeArgs<unknown, unknown>): void {
  checkAttentionSizes(a, a.steps);
  if (!a.lengths && a.cacheLen + a.steps > a.capacity) {
    throw new Error(
      `Attention cache overflow: ${a.cacheLen} cached + ${a.steps} new > capacity ${a.capacity}`,
    );
  }
}

/**
 * Attention of `steps` new positions against a key/value cache (batch, heads, capacity, headDim):
 * writes the new keys and values at the cached length, then each new query attends causally to
 * the cache and the new positions up to itself; `out` is (batch, steps, heads * headDim).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { attentionDecodeKernel } from "./attention.ts";
 * // one head of dim 1, a cached key/value (q.k = 0 everywhere): the new query averages v
 * const kCache = new Float64Array([0, 0]), vCache = new Float64Array([1, 0]);
 * const out = new Float64Array(1);
 * attentionDecodeKernel.cpu({ qkv: new Float64Array([1, 0, 3]), kCache, vCache, out,
 *   cacheLen: 1, batch: 1, steps: 1, heads: 1, headDim: 1, capacity: 2, layout: "pytorch" });
 * assert(vCache[1] === 3 && out[0] === 2);
 * ```
 */
export const attentionDecodeKernel: Kernel<
  AttentionDecodeArgs<Buf>,
  AttentionDecodeArgs<FloatArray, ArrayLike<number>>
> = {
  // Two dispatches (append, attend). A whole prompt can be prefilled with `steps` = its length and
  // `cacheLen` = 0; equals full causal attention position by position.
  gpu(ctx, a) {
    check(a);
    const params = {
      cacheLen: a.cacheLen,
      offset: a.rotary?.offset ?? 0,
      biasStride: a.biasStride ?? a.capacity,
    };
    const wg = ctx.isCpuAdapter ? 8 : 32;
    const key: DecodeKey = {
      ...shapeKey({ ...a, seq: a.steps }),
      capacity: a.capacity,
      lengths: !!a.lengths,
      bias: !!a.bias,
      biasPerRow: !!a.biasPerRow,
      wg,
    };
    const { qkv, lengths, kCache: kc, vCache: vc } = a;
    const n = a.batch * a.steps * a.heads * a.headDim;
    APPEND.run(ctx, { key, bind: { qkv, lengths, kc, vc }, params, count: n });
    ATTEND.run(ctx, {
      key,
      bind: { qkv, kc, vc, bias: a.bias, lengths, out: a.out },
      params,
      workgroups: grid1d(a.batch * a.heads, ctx.maxWorkgroups),
    });
  },
  cpu(a) {
    check(a);
    const { batch, steps, heads, headDim: hd, capacity, layout } = a;
    const h3 = 3 * heads * hd, H = heads * hd;
    const freqs = rotaryFrequencies(hd, a.rotary);
    const off = a.rotary?.offset ?? 0;
    const scale = 1 / Math.sqrt(hd);
    const row = new Float64Array(hd);
    for (let b = 0; b < batch; b++) {
      const L = a.lengths ? a.lengths[b] : a.cacheLen;
      for (let t = 0; t < steps && L + t < capacity; t++) {
        for (let h = 0; h < heads; h++) {
          const src = (b * steps + t) * h3;
          for (let d = 0; d < hd; d++) row[d] = a.qkv[src + qkvColumn(layout, heads, hd, 1, h) + d];
          if (freqs) rotateRow(row, 0, hd, L + t + off, freqs, false);
          const o = ((b * heads + h) * capacity + L + t) * hd;
          for (let d = 0; d < hd; d++) {
            a.kCache[o + d] = row[d];
            a.vCache[o + d] = a.qkv[src + qkvColumn(layout, heads, hd, 2, h) + d];
          }
        }
      }
      for (let t = 0; t < steps; t++) {
        const pos = L + t, nk = Math.min(pos + 1, capacity);
        for (let h = 0; h < heads; h++) {
          const src = (b * steps + t) * h3 + qkvColumn(layout, heads, hd, 0, h);
          for (let d = 0; d < hd; d++) row[d] = a.qkv[src + d];
          if (freqs) rotateRow(row, 0, hd, pos + off, freqs, false);
          const s = new Float64Array(nk);
          let m = -Infinity;
          const stride = a.biasStride ?? capacity;
          const brow = a.biasPerRow
            ? ((b * heads + h) * steps + t) * stride
            : (h * steps + t) * stride;
          for (let j = 0; j < nk; j++) {
            const ko = ((b * heads + h) * capacity + j) * hd;
            let dot = 0;
            for (let d = 0; d < hd; d++) dot += row[d] * a.kCache[ko + d];
            s[j] = dot * scale + (a.bias ? a.bias[brow + j] : 0);
            m = Math.max(m, s[j]);
          }
          let l = 0;
          for (let j = 0; j < nk; j++) l += s[j] = Math.exp(s[j] - m);
          for (let d = 0; d < hd; d++) {
            let acc = 0;
            for (let j = 0; j < nk; j++) {
              acc += s[j] * a.vCache[((b * heads + h) * capacity + j) * hd + d];
            }
            a.out[(b * steps + t) * H + h * hd + d] = acc / l;
          }
        }
      }
    }
  },
};
