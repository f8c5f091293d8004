/**
 * Filling the matmul texture variant's operand textures (`matmul_texture.ts`): the operand
 * descriptions, layouts and costs, and the fill itself, a buffer-to-texture copy where the rows
 * already have the texel layout (a memcpy on llvmpipe), else a pack kernel.
 * @module
 */
import { arrayView } from "./_flat_texture.ts";
import { type Buf, type KernelContext, roundUp } from "./context.ts";
import { program } from "./program.ts";
import type { MatmulPlan, TextureTile } from "./matmul_plan.ts";

/**
 * An optional capability of a kernel context: a buffer-to-texture copy recorded in submission
 * order. When the context has it and its scratch textures allow `COPY_DST`, operands whose rows
 * already have the texel layout are copied (a memcpy on llvmpipe) instead of packed by a kernel.
 */
export interface TextureCopier {
  /** Records `copyBufferToTexture(src at its offset, layout, dst from the origin, size)`. */
  copyBufferToTexture(
    src: Buf,
    layout: { bytesPerRow: number; rowsPerImage: number },
    dst: GPUTexture,
    size: [number, number, number],
  ): void;
}

const COPY_DST = 0x02;

// Packs E(u, v), at src[z * ls + u * us + v * vs], into texels (x, u, z) = E(u, 4x .. 4x+3),
// zero where u >= U or v >= V (zeros past K keep the sums exact; past M or N they are harmless).
const PACK_WG = [16, 4] as const;

const PACK = program({
  label: "matmul.pack",
  inputs: { src: "S" },
  outputs: { dst: "texture_storage_2d_array<rgba32float, write>" },
  uniforms: { uu: "u32", vv: "u32", us: "u32", vs: "u32", ls: "u32", w: "u32", h: "u32" },
  workgroup: PACK_WG,
  per: "none",
  head: (k: { vec: boolean }) => `alias S = ${k.vec ? "vec4f" : "f32"};`,
  // Rows contiguous along v, 16-byte aligned, V a multiple of 4: one vec4 load per texel.
  body: (k) =>
    k.vec
      ? `if (gid.x >= p.w || gid.y >= p.h) { return; }
  let i = (gid.z * p.ls + min(gid.y, p.uu - 1u) * p.us) / 4u + min(gid.x, p.vv / 4u - 1u);
  let keep = gid.y < p.uu && gid.x < p.vv / 4u;
  textureStore(dst, vec2u(gid.x, gid.y), gid.z, select(vec4f(0.0), src[i], keep));`
      : `if (gid.x >= p.w || gid.y >= p.h) { return; }
  let v = gid.x * 4u + vec4u(0u, 1u, 2u, 3u);
  let i = gid.z * p.ls + min(gid.y, p.uu - 1u) * p.us + min(v, vec4u(p.vv - 1u)) * p.vs;
  let x = vec4f(src[i.x], src[i.y], src[i.z], src[i.w]);
  let keep = (v < vec4u(p.vv)) & vec4<bool>(gid.y < p.uu);
  textureStore(dst, vec2u(gid.x, gid.y), gid.z, select(vec4f(0.0), x, keep));`,
});

/**
 * Byte offset of a binding (0 for a whole buffer).
 *
 * @example
 * ```ts ignore
 * const aligned = offsetOf(buf) % 16 === 0;
 * ```
 * @param b a buffer or range
 */
export const offsetOf = (b: unknown): number =>
  typeof b === "object" && b !== null && "buffer" in b ? (b as GPUBufferBinding).offset ?? 0 : 0;

/** One operand's texture: texels along `alongK` or along its rows (m or n). */
export interface Operand {
  src: Buf;
  /** Rows (M or N), padded to the tile in the texture. */
  rows: number;
  k: number;
  /** Element strides: between rows, between k, between layers. */
  rs: number;
  ks: number;
  ls: number;
  layers: number;
  tile: number;
}

/**
 * Texture extents [width, height] of an operand in a layout (rows padded to the tile, k to 4).
 *
 * @example
 * ```ts ignore
 * const [w, h] = extents({ rows: 100, k: 30, tile: 16 }, true); // [8, 112]
 * ```
 * @param alongK texels along k (else along the rows)
 * @returns width and height in texels
 */
export function extents(
  o: { rows: number; k: number; tile: number },
  alongK: boolean,
): [number, number] {
  const r = roundUp(o.rows, o.tile), k = roundUp(o.k, 4);
  return alongK ? [k / 4, r] : [r / 4, k];
}

/**
 * Whether an operand's storage already is the texel layout, so a copy can fill the texture.
 *
 * @param alongK texels along k (else along the rows)
 */
function copyable(o: Operand, alongK: boolean): boolean {
  // Texel rows: along k, each row r holds K contiguous k; along r, each k holds R contiguous r.
  const [len, count, contiguous] = alongK ? [o.k, o.rows, o.ks] : [o.rows, o.k, o.rs];
  const pitch = alongK ? o.rs : o.ks;
  return contiguous === 1 && pitch === len && (len * 4) % 256 === 0 &&
    (alongK || o.k % 4 === 0) && // rows k past K would not be zero
    (o.layers === 1 || o.ls === len * count) && offsetOf(o.src) % 16 === 0;
}

/**
 * Estimated CPU nanoseconds to fill an operand's texture (measured on llvmpipe).
 *
 * @example
 * ```ts ignore
 * const ns = fillCost(a, true, copierOf(ctx) !== null);
 * ```
 * @param alongK texels along k (else along the rows)
 */
export function fillCost(o: Operand, alongK: boolean, canCopy: boolean): number {
  const n = o.rows * o.k * o.layers;
  if (canCopy && copyable(o, alongK)) return 0.5 * n;
  return (alongK ? o.ks : o.rs) === 1 ? 4 * n : 5.5 * n;
}

/**
 * Fills an operand's scratch texture (copy or pack dispatch) and returns its view.
 *
 * @example
 * ```ts ignore
 * const ta = fill(ctx, a, form.aK, copierOf(ctx));
 * ```
 * @param alongK texels along k (else along the rows)
 * @param copier the context's copy capability, or null
 */
export function fill(
  ctx: KernelContext,
  o: Operand,
  alongK: boolean,
  copier: TextureCopier | null,
): GPUTextureView {
  const [w, h] = extents(o, alongK);
  const tex = ctx.scratchTexture(w, h, o.layers);
  const view = arrayView(tex);
  if (copier && (tex.usage & COPY_DST) !== 0 && copyable(o, alongK)) {
    const [len, count] = alongK ? [o.k, o.rows] : [o.rows, o.k];
    copier.copyBufferToTexture(o.src, { bytesPerRow: len * 4, rowsPerImage: count }, tex, [
      len / 4,
      count,
      o.layers,
    ]);
    return view;
  }
  // E(u, v): along k, u = row r and v = k; along r, u = k and v = r.
  const [uu, vv, us, vs] = alongK ? [o.rows, o.k, o.rs, o.ks] : [o.k, o.rows, o.ks, o.rs];
  const vec = vs === 1 && us % 4 === 0 && vv % 4 === 0 &&
    (o.layers === 1 || o.ls % 4 === 0) && offsetOf(o.src) % 16 === 0;
  PACK.run(ctx, {
    key: { vec },
    bind: { src: o.src, dst: view },
    params: { uu, vv, us, vs, ls: o.ls, w, h },
    workgroups: [Math.ceil(w / PACK_WG[0]), Math.ceil(h / PACK_WG[1]), o.layers],
  });
  return view;
}

/**
 * The A and B operands of a plan, as texture fills see them.
 *
 * @example
 * ```ts ignore
 * const [a, b] = operands(plan, { tm: 16, tn: 16 });
 * ```
 * @returns A (rows m) and B (rows n)
 */
export function operands(p: MatmulPlan<Buf>, tile: TextureTile): [Operand, Operand] {
  return [
    // A(m, k): stored (M, K) at m * K + k, or (K, M) at k * M + m when transposed.
    {
      src: p.a,
      rows: p.m,
      k: p.k,
      rs: p.transA ? 1 : p.k,
      ks: p.transA ? p.m : 1,
      ls: p.strideA,
      layers: p.strideA === 0 ? 1 : p.batch,
      tile: tile.tm,
    },
    // B(k, n): stored (K, N) at k * N + n, or (N, K) at n * K + k when transposed.
    {
      src: p.b,
      rows: p.n,
      k: p.k,
      rs: p.transB ? p.k : 1,
      ks: p.transB ? 1 : p.n,
      ls: p.strideB,
      layers: p.strideB === 0 ? 1 : p.batch,
      tile: tile.tn,
    },
  ];
}

/**
 * The context's buffer-to-texture copy capability, when it has one.
 *
 * @example
 * ```ts ignore
 * const copier = copierOf(ctx);
 * ```
 * @returns the context as a `TextureCopier`, or null
 */
export function copierOf(ctx: KernelContext): TextureCopier | null {
  const c = ctx as KernelContext & Partial<TextureCopier>;
  return typeof c.copyBufferToTexture === "function" ? c as TextureCopier : null;
}
