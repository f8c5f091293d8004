/**
 * The launch side of the attention kernels: where they read their rows from (WGSL offsets of q,
 * k and v rows), the shape as a program key, and the launch geometry per adapter (the program
 * layer binds the rows as storage buffers or flat textures).
 * @module
 */
import { type AttentionShape, ROTARY_BASE } from "./_attention_code.ts";

/** WGSL `[array, float offset]` of one row, given a WGSL position expression. */
export type RowSource = (t: string) => [string, string];

/**
 * WGSL offset expressions of the q, k and v rows of head `h` in batch `b` (WGSL variables in
 * scope): from `qkv` directly, or q and k from the rotated buffer `qk` when rotary is on.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { rowSources } from "./_attention_rows.ts";
 * const s = rowSources({ batch: 1, seq: 2, heads: 1, headDim: 4, layout: "pytorch" });
 * assert(s.k("j")[0] === "qkv");
 * ```
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
 * import { attentionTiling } from "./_attention_rows.ts";
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
 * import { attentionKeyTile } from "./_attention_rows.ts";
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
 * import { tuningNumber } from "./_attention_rows.ts";
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
 * import { shapeKey, shapeOf } from "./_attention_rows.ts";
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
 * import { shapeOf } from "./_attention_rows.ts";
 * const a = shapeOf({ batch: 1, seq: 2, heads: 1, headDim: 4, layout: "pytorch", base: 0 });
 * assert(a.rotary === undefined);
 * ```
 */
export function shapeOf(k: ShapeKey): AttentionShape {
  const { batch, seq, heads, headDim, layout } = k;
  return { batch, seq, heads, headDim, layout, rotary: k.base ? { base: k.base } : undefined };
}
