/**
 * The YlGnBu colour scale (yellow, green, blue) that upstream's seaborn heatmaps use, so abacus
 * plots read the same: light yellow at 0%, dark navy at 100%, linear in sRGB between the nine
 * ColorBrewer anchors, as matplotlib's "YlGnBu" colormap does.
 * Reference: ColorBrewer 2.0, sequential scheme YlGnBu, 9 classes (Cynthia Brewer).
 * @module
 */

/** An sRGB colour with 8-bit channels. */
export type Rgb = [number, number, number];

/** The nine YlGnBu anchors, from lightest (t = 0) to darkest (t = 1). */
export const YLGNBU: readonly string[] = [
  "#ffffd9",
  "#edf8b1",
  "#c7e9b4",
  "#7fcdbb",
  "#41b6c4",
  "#1d91c0",
  "#225ea8",
  "#253494",
  "#081d58",
];

/**
 * Writes a colour as `#rrggbb`.
 *
 * Channels are rounded and clamped to 0..255.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { toHex } from "./colormap.ts";
 * strictEqual(toHex([8, 29, 88]), "#081d58");
 * ```
 * @returns the colour as `#rrggbb`
 */
export function toHex(rgb: Rgb): string {
  return "#" +
    rgb.map((c) => Math.max(0, Math.min(255, Math.round(c))).toString(16).padStart(2, "0"))
      .join("");
}

const ANCHORS = YLGNBU.map((hex) => [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16)));

/**
 * Maps a position on the scale to its YlGnBu colour.
 *
 * `t` is clamped to 0..1; a heatmap passes `percent / 100`.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { ylGnBu } from "./colormap.ts";
 * deepStrictEqual(ylGnBu(1), [8, 29, 88]);
 * deepStrictEqual(ylGnBu(0), [255, 255, 217]);
 * deepStrictEqual(ylGnBu(0.5), [65, 182, 196]); // the middle anchor
 * ```
 * @param t the position, 0 (lightest) to 1 (darkest)
 * @returns the interpolated colour, channels rounded to integers
 */
export function ylGnBu(t: number): Rgb {
  const x = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0)) * (ANCHORS.length - 1);
  const k = Math.min(Math.floor(x), ANCHORS.length - 2);
  const f = x - k;
  const a = ANCHORS[k], b = ANCHORS[k + 1];
  return [0, 1, 2].map((c) => Math.round(a[c] + (b[c] - a[c]) * f)) as Rgb;
}

/**
 * Picks dark or white text for legibility on a background, as seaborn does for annotations.
 *
 * Uses the relative luminance of the sRGB colour; above 0.408 the text is dark.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { textColourOn } from "./colormap.ts";
 * strictEqual(textColourOn([8, 29, 88]), "#ffffff");
 * strictEqual(textColourOn([255, 255, 217]), "#262626");
 * ```
 * @returns `#ffffff` on dark backgrounds, `#262626` on light ones
 */
export function textColourOn(bg: Rgb): string {
  const lin = bg.map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  const lum = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
  return lum > 0.408 ? "#262626" : "#ffffff";
}
