/**
 * Where the attention kernels read their rows from: WGSL offsets of q, k and v rows, the binding
 * declarations, and the launch-side bindings (storage buffers, or flat textures on CPU adapters).
 * @module
 */
import type { Binding, Buf, KernelContext } from "./context.ts";
import { flatTexture } from "./_flat_texture.ts";
import { type AttentionShape, ROTARY_BASE, type RotaryOptions } from "./_attention_code.ts";
import { rotateQk } from "./_attention_rotary.ts";

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
 * import { codeKey } from "./_attention_rows.ts";
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
 * import { rowSources } from "./_attention_rows.ts";
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
 * import { declareBindings } from "./_attention_rows.ts";
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
