/**
 * Flat textures: a storage buffer's floats copied into an `rgba32float` 2D-array texture, texel t
 * holding floats 4t..4t+3, so a kernel can read vec4s through `textureLoad` instead of storage
 * buffer loads. On llvmpipe a read-only storage texture load costs ~5.5 ns per 8 lanes against
 * ~24 ns for a storage buffer `vec4f` (bench/NOTES.md), and the copy runs as a memcpy (~35 GB/s),
 * so memory-bound kernels that read their rows several times gain most. Real GPUs read buffers
 * as fast as textures, so launchers use this on CPU adapters only.
 * @module
 */
import { type Buf, bufParts, type KernelContext } from "./context.ts";

/** log2 of texels per texture row. */
const XS = 10;
/** log2 of rows per array layer. */
const YS = 12;
const COPY_DST = 0x02;

/** WGSL type of a flat texture binding (read-only storage texture). */
export const FLAT_TEXTURE_TYPE = "texture_storage_2d_array<rgba32float, read>";

/**
 * WGSL expression loading texel `t` (a u32 expression, evaluated several times: pass a name)
 * of the flat texture `name` as a `vec4f`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { flatFetch } from "./_flat_texture.ts";
 * assert(flatFetch("x", "t").startsWith("textureLoad(x, vec2u(t & 1023u"));
 * ```
 * @returns a WGSL `vec4f` expression
 */
export function flatFetch(name: string, t: string): string {
  return `textureLoad(${name}, vec2u(${t} & ${(1 << XS) - 1}u, (${t} >> ${XS}u) & ${
    (1 << YS) - 1
  }u), ${t} >> ${XS + YS}u)`;
}

/**
 * Texture extents `[width, height, layers]` holding `texels` texels in the flat layout. Heights
 * are powers of two, so the device's recycled scratch textures come in a few sizes whatever the
 * tensor shapes (evaluation meets many prompt lengths).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { flatExtents } from "./_flat_texture.ts";
 * assert(flatExtents(1500).join() === "1024,2,1");
 * assert(flatExtents(3000).join() === "1024,4,1");
 * assert(flatExtents(5000 * 1024).join() === "1024,4096,2");
 * ```
 * @param texels texel count (at least 1)
 */
export function flatExtents(texels: number): [number, number, number] {
  const rows = Math.ceil(texels / (1 << XS));
  const layers = Math.ceil(rows / (1 << YS));
  return [1 << XS, layers > 1 ? 1 << YS : 2 ** Math.ceil(Math.log2(rows)), layers];
}

/**
 * Whether flat textures pay off here: a CPU adapter with buffer-to-texture copies and scratch
 * textures that accept them, unless the `textures` tuning value is "0".
 *
 * @example
 * ```ts ignore
 * if (flatTexturesWanted(ctx)) { ... }
 * ```
 */
export function flatTexturesWanted(ctx: KernelContext): boolean {
  return ctx.isCpuAdapter && typeof ctx.copyBufferToTexture === "function" &&
    ctx.tuning.get("textures") !== "0";
}

/**
 * Copies the first `floats` floats of `src` into a scratch flat texture (recycled after the
 * current submission) and returns a view to bind, or null when that is not possible here: not a
 * CPU adapter, no copy, an offset that is not a multiple of 16 bytes, or a buffer too short to
 * copy whole texels.
 *
 * @example
 * ```ts ignore
 * const view = flatTexture(ctx, qkv, batch * seq * 3 * hidden);
 * ```
 */
export function flatTexture(ctx: KernelContext, src: Buf, floats: number): GPUTextureView | null {
  if (!flatTexturesWanted(ctx) || floats < 1) return null;
  const [buffer, offset] = bufParts(src);
  const avail = "buffer" in src && src.size !== undefined ? src.size : buffer.size - offset;
  const texels = Math.ceil(floats / 4);
  if (offset % 16 !== 0 || texels * 16 > avail) return null;
  const [w, h, layers] = flatExtents(texels);
  const tex = ctx.scratchTexture(w, h, layers);
  if ((tex.usage & COPY_DST) === 0) return null;
  const copy = ctx.copyBufferToTexture!.bind(ctx);
  const perLayer = w * h;
  const full = Math.floor(texels / perLayer);
  if (full > 0) {
    copy({ buffer, offset }, { bytesPerRow: w * 16, rowsPerImage: h }, tex, [w, h, full]);
  }
  const rest = texels - full * perLayer;
  const rows = Math.floor(rest / w), tail = rest - rows * w;
  let at = offset + full * perLayer * 16;
  if (rows > 0) {
    copy({ buffer, offset: at }, { bytesPerRow: w * 16, rowsPerImage: rows }, tex, [w, rows, 1], [
      0,
      0,
      full,
    ]);
    at += rows * w * 16;
  }
  if (tail > 0) {
    copy({ buffer, offset: at }, { bytesPerRow: w * 16, rowsPerImage: 1 }, tex, [tail, 1, 1], [
      0,
      rows,
      full,
    ]);
  }
  return arrayView(tex);
}

const views = new WeakMap<GPUTexture, GPUTextureView>();

/**
 * The `2d-array` view of a texture, made once per texture: recycled scratch textures then bind
 * through the same view object every step, which lets the device reuse bind groups.
 *
 * @example
 * ```ts ignore
 * const view = arrayView(ctx.scratchTexture(64, 64, 1));
 * ```
 */
export function arrayView(tex: GPUTexture): GPUTextureView {
  let v = views.get(tex);
  if (!v) views.set(tex, v = tex.createView({ dimension: "2d-array" }));
  return v;
}
