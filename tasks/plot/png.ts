/**
 * A minimal PNG encoder (8-bit RGB or RGBA, no interlace) so heatmaps become PNG files without a
 * browser, canvas or native module: scanlines with the "Up" filter, zlib from `node:zlib`.
 * Reference: PNG specification, 3rd edition (W3C), sections 5 (chunks), 9 (filters), 11 (IHDR).
 * @module
 */
import { deflateSync } from "node:zlib";

/** Bytes every PNG file starts with. */
export const PNG_SIGNATURE: Uint8Array = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]);

/** CRC-32 (polynomial 0xEDB88320) lookup table, one entry per byte value. */
const CRC_TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * Computes the CRC-32 used by PNG chunks (and zip, gzip).
 *
 * Pass a previous result as `crc` to continue over several buffers.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { crc32 } from "./png.ts";
 * strictEqual(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
 * strictEqual(crc32(new TextEncoder().encode("IEND")), 0xae426082);
 * ```
 * @param bytes the data
 * @param crc the running CRC of earlier data (default: start fresh)
 * @returns the unsigned 32-bit CRC
 */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** Options of {@linkcode encodePng}. */
export interface PngOptions {
  /** Samples per pixel: 3 (RGB) or 4 (RGBA). Default 3. */
  channels?: 3 | 4;
  /** zlib compression level 0..9. Default 6. */
  level?: number;
}

/**
 * Encodes raw 8-bit pixels as a PNG file.
 *
 * `pixels` holds `height` rows of `width * channels` bytes, top row first. Each scanline is
 * stored with the "Up" filter (difference to the row above), which shrinks flat heatmap cells to
 * almost nothing before deflate.
 *
 * @example
 * ```ts
 * import { strictEqual, deepStrictEqual } from "node:assert/strict";
 * import { encodePng, PNG_SIGNATURE } from "./png.ts";
 * const png = encodePng(new Uint8Array([255, 0, 0, 0, 0, 255]), { width: 2, height: 1 });
 * deepStrictEqual(png.subarray(0, 8), PNG_SIGNATURE);
 * strictEqual(new DataView(png.buffer).getUint32(16), 2); // IHDR width
 * ```
 * @param pixels row-major samples, `width * height * channels` bytes
 * @param size the image size and encoding options
 * @returns the PNG file bytes
 */
export function encodePng(
  pixels: Uint8Array,
  size: { width: number; height: number } & PngOptions,
): Uint8Array {
  const { width, height, channels = 3, level = 6 } = size;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`Cannot encode a PNG of ${width}x${height} pixels: sizes must be >= 1`);
  }
  const stride = width * channels;
  if (pixels.length !== stride * height) {
    throw new RangeError(
      `Cannot encode ${pixels.length} bytes as a ${width}x${height}x${channels} PNG: ` +
        `expected ${stride * height}`,
    );
  }
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const o = y * (stride + 1);
    const row = y * stride;
    raw[o] = 2; // filter type Up
    for (let x = 0; x < stride; x++) {
      raw[o + 1 + x] = pixels[row + x] - (y > 0 ? pixels[row - stride + x] : 0);
    }
  }
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr.set([8, channels === 4 ? 6 : 2, 0, 0, 0], 8); // depth, colour type, compression, filter, interlace
  const idat = new Uint8Array(deflateSync(raw, { level }));
  const chunks = [chunk("IHDR", ihdr), chunk("IDAT", idat), chunk("IEND", new Uint8Array(0))];
  const out = new Uint8Array(8 + chunks.reduce((s, c) => s + c.length, 0));
  out.set(PNG_SIGNATURE, 0);
  let at = 8;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** One chunk: length, type, data, CRC over type and data. */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  v.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}
