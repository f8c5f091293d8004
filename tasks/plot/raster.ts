/**
 * A tiny RGB rasteriser: filled rectangles, outlines, straight lines and bitmap-font text, enough
 * to draw a laid-out heatmap figure into pixels for the PNG encoder without a canvas or browser.
 * Coordinates are figure units; `figureToPng` multiplies them by an integer pixel scale.
 * @module
 */
import {
  GLYPH_ADVANCE,
  GLYPH_HEIGHT,
  GLYPH_ROWS,
  GLYPH_WIDTH,
  glyphRows,
  textWidth,
} from "./font.ts";
import { parseHex, type Rgb, ylGnBu } from "./colormap.ts";
import { encodePng } from "./png.ts";
import type { Figure, TextShape } from "./types.ts";

/**
 * An RGB image held in memory, drawn on with clipped integer primitives.
 *
 * Pixels outside the image are silently skipped, so shapes may overhang the edges.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { Raster } from "./raster.ts";
 * const r = new Raster(4, 3, [255, 255, 255]);
 * r.fillRect(1, 1, 2, 1, [255, 0, 0]);
 * deepStrictEqual(r.get(2, 1), [255, 0, 0]);
 * deepStrictEqual(r.get(0, 0), [255, 255, 255]);
 * ```
 */
export class Raster {
  /** Image width in pixels. */
  readonly width: number;
  /** Image height in pixels. */
  readonly height: number;
  #data: Uint8Array;

  /**
   * Creates an image filled with one colour.
   *
   * @param width pixels per row, >= 1
   * @param height rows, >= 1
   * @param background the initial colour of every pixel
   */
  constructor(width: number, height: number, background: Rgb = [255, 255, 255]) {
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
      throw new RangeError(
        `Cannot create a ${width}x${height} raster: sizes must be integers >= 1`,
      );
    }
    this.width = width;
    this.height = height;
    this.#data = new Uint8Array(width * height * 3);
    this.fillRect(0, 0, width, height, background);
  }

  /** The pixels, row-major RGB, top row first (a live view). */
  get pixels(): Uint8Array {
    return this.#data;
  }

  /**
   * Reads one pixel.
   *
   * @param x column
   * @param y row
   * @returns its colour
   */
  get(x: number, y: number): Rgb {
    const o = (y * this.width + x) * 3;
    return [this.#data[o], this.#data[o + 1], this.#data[o + 2]];
  }

  /**
   * Fills the pixels [x, x + w) x [y, y + h), rounding the corners to whole pixels.
   *
   * @param x left edge
   * @param y top edge
   * @param w width
   * @param h height
   * @param rgb the colour
   */
  fillRect(x: number, y: number, w: number, h: number, rgb: Rgb): void {
    const x0 = Math.max(0, Math.round(x)), x1 = Math.min(this.width, Math.round(x + w));
    const y0 = Math.max(0, Math.round(y)), y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) {
        const o = (yy * this.width + xx) * 3;
        this.#data[o] = rgb[0];
        this.#data[o + 1] = rgb[1];
        this.#data[o + 2] = rgb[2];
      }
    }
  }

  /**
   * Outlines a rectangle with a stroke `lw` pixels wide centred on its edges.
   *
   * @param x left edge
   * @param y top edge
   * @param w width
   * @param h height
   * @param rgb the colour
   * @param lw stroke width in pixels
   */
  strokeRect(x: number, y: number, w: number, h: number, rgb: Rgb, lw: number): void {
    const o = Math.floor(lw / 2);
    this.fillRect(x - o, y - o, w + lw, lw, rgb); // top
    this.fillRect(x - o, y + h - o, w + lw, lw, rgb); // bottom
    this.fillRect(x - o, y - o, lw, h + lw, rgb); // left
    this.fillRect(x + w - o, y - o, lw, h + lw, rgb); // right
  }

  /**
   * Draws a straight line with a square pen `lw` pixels wide.
   *
   * @param x1 start column
   * @param y1 start row
   * @param x2 end column
   * @param y2 end row
   * @param rgb the colour
   * @param lw pen width in pixels
   */
  line(x1: number, y1: number, x2: number, y2: number, rgb: Rgb, lw: number): void {
    const o = lw / 2;
    const n = Math.max(1, Math.ceil(Math.max(Math.abs(x2 - x1), Math.abs(y2 - y1))));
    for (let k = 0; k <= n; k++) {
      const t = k / n;
      this.fillRect(x1 + (x2 - x1) * t - o, y1 + (y2 - y1) * t - o, lw, lw, rgb);
    }
  }

  /**
   * Writes one line of text in the 5x7 bitmap font, each font pixel drawn as `scale` x `scale`.
   *
   * The text is centred vertically on `y`; `anchor` places `x` at its start, middle or end.
   * With `rotate` the text reads bottom to top and `x` is its vertical centre line.
   *
   * @param s the text
   * @param x anchor column
   * @param y centre row (with `rotate`: anchor row)
   * @param rgb the colour
   * @param opts integer font scale, anchor and rotation
   */
  text(
    s: string,
    x: number,
    y: number,
    rgb: Rgb,
    opts: { scale: number; anchor: TextShape["anchor"]; rotate?: boolean },
  ): void {
    const { scale, anchor, rotate = false } = opts;
    const w = textWidth(s, scale), h = GLYPH_HEIGHT * scale;
    const shift = anchor === "start" ? 0 : anchor === "middle" ? w / 2 : w;
    // (u, v): position along and down the unrotated text box, from its top-left corner.
    const ox = rotate ? Math.round(x - h / 2) : Math.round(x - shift);
    const oy = rotate ? Math.round(y + shift) : Math.round(y - h / 2);
    let u = 0;
    for (const ch of s) {
      const rows = glyphRows(ch);
      for (let r = 0; r < GLYPH_ROWS; r++) {
        for (let c = 0; c < GLYPH_WIDTH; c++) {
          if (!(rows[r] >> (GLYPH_WIDTH - 1 - c) & 1)) continue;
          const pu = u + c * scale, pv = r * scale;
          if (rotate) this.fillRect(ox + pv, oy - pu - scale, scale, scale, rgb);
          else this.fillRect(ox + pu, oy + pv, scale, scale, rgb);
        }
      }
      u += GLYPH_ADVANCE * scale;
    }
  }
}

/**
 * Draws a laid-out figure into a raster at an integer pixel scale.
 *
 * Every coordinate, stroke and font scale is multiplied by `scale`, so scale 2 gives a sharp
 * image twice the size (for print) with identical proportions.
 *
 * @example
 * ```ts
 * import { strictEqual, deepStrictEqual } from "node:assert/strict";
 * import { rasterize } from "./raster.ts";
 * const fig = { width: 10, height: 10, background: "#ffffff", shapes: [
 *   { kind: "rect" as const, x: 2, y: 2, w: 4, h: 4, fill: "#081d58" },
 * ] };
 * const r = rasterize(fig, 2);
 * strictEqual(r.width, 20);
 * deepStrictEqual(r.get(5, 5), [8, 29, 88]);
 * ```
 * @param fig the figure from `layoutHeatmaps`
 * @param scale integer pixels per figure unit, >= 1
 * @returns the drawn raster
 */
export function rasterize(fig: Figure, scale = 1): Raster {
  if (!(Number.isInteger(scale) && scale >= 1)) {
    throw new RangeError(`Cannot draw at scale ${scale}: it must be an integer >= 1`);
  }
  const k = scale;
  const r = new Raster(
    Math.ceil(fig.width * k),
    Math.ceil(fig.height * k),
    parseHex(fig.background),
  );
  for (const s of fig.shapes) {
    if (s.kind === "rect") r.fillRect(s.x * k, s.y * k, s.w * k, s.h * k, parseHex(s.fill));
    else if (s.kind === "box") {
      r.strokeRect(s.x * k, s.y * k, s.w * k, s.h * k, parseHex(s.stroke), s.width * k);
    } else if (s.kind === "line") {
      r.line(s.x1 * k, s.y1 * k, s.x2 * k, s.y2 * k, parseHex(s.stroke), s.width * k);
    } else if (s.kind === "text") {
      const opts = { scale: s.size * k, anchor: s.anchor, rotate: s.rotate };
      r.text(s.text, s.x * k, s.y * k, parseHex(s.fill), opts);
    } else {
      const h = Math.round(s.h * k);
      for (let row = 0; row < h; row++) {
        r.fillRect(s.x * k, s.y * k + row, s.w * k, 1, ylGnBu(1 - (row + 0.5) / h));
      }
    }
  }
  return r;
}

/**
 * Renders a laid-out figure as PNG bytes (8-bit RGB).
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { figureToPng } from "./raster.ts";
 * const png = figureToPng({ width: 3, height: 2, background: "#ffffff", shapes: [] }, 1);
 * strictEqual(new DataView(png.buffer).getUint32(20), 2); // IHDR height
 * ```
 * @param fig the figure from `layoutHeatmaps`
 * @param scale integer pixels per figure unit (default 1)
 * @returns the PNG file bytes
 */
export function figureToPng(fig: Figure, scale = 1): Uint8Array {
  const r = rasterize(fig, scale);
  return encodePng(r.pixels, { width: r.width, height: r.height });
}
