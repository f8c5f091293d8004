/**
 * The SVG elements both figures (heatmaps and training curves) are written with, and the text
 * metrics of the bundled font they name (DejaVu Sans, fonts/DejaVuSans.ttf), so a layout can size
 * cells, margins and spans for the text the PNG renderer (render.ts) will draw without loading the
 * font. Coordinates are figure units: one unit is one PNG pixel at scale 1.
 * @module
 */

/** The font family named in the SVG and loaded into the PNG renderer. */
export const FONT_FAMILY = "DejaVu Sans";

/** Font size, in figure units, of text size 1 (DejaVu Sans capitals are then about 7 tall). */
const FONT_UNITS = 10;

/** Font units per em of DejaVu Sans. */
const UNITS_PER_EM = 2048;

// The font's `hmtx` advance widths of printable ASCII, in rows of 16 characters: " " to "/",
// "0" to "?", "@" to "O", "P" to "_", "`" to "o", "p" to "~".
// deno-fmt-ignore
const ADVANCE: readonly number[] = [
  651, 821, 942, 1716, 1303, 1946, 1597, 563, 799, 799, 1024, 1716, 651, 739, 651, 690,
  1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 690, 690, 1716, 1716, 1716, 1087,
  2048, 1401, 1405, 1430, 1577, 1294, 1178, 1587, 1540, 604, 604, 1343, 1141, 1767, 1532, 1612,
  1235, 1612, 1423, 1300, 1251, 1499, 1401, 2025, 1403, 1251, 1403, 799, 690, 799, 1716, 1024,
  1024, 1255, 1300, 1126, 1300, 1260, 721, 1300, 1298, 569, 569, 1186, 569, 1995, 1298, 1253,
  1300, 1300, 842, 1067, 803, 1298, 1212, 1675, 1212, 1212, 1075, 1303, 690, 1303, 1716,
];

/**
 * Measures a line of text set in DejaVu Sans at font size `10 * size` units, rounded up to a whole
 * unit so the layout stays on integer coordinates. Kerning is ignored (a unit or two at most);
 * characters outside printable ASCII count as a full em, so text in them is never under-measured.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { textWidth } from "./svg.ts";
 * strictEqual(textWidth("100", 2), 39); // 3 digits of 0.636 em at 20 units
 * strictEqual(textWidth("", 3), 0);
 * ```
 * @returns the width in figure units
 */
export function textWidth(text: string, size: number): number {
  let units = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    units += code >= 32 && code <= 126 ? ADVANCE[code - 32] : UNITS_PER_EM;
  }
  return Math.ceil((units * size * FONT_UNITS) / UNITS_PER_EM);
}

/**
 * Escapes text for use in XML character data and attribute values.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { escapeXml } from "./svg.ts";
 * strictEqual(escapeXml(`a<b & "c"`), "a&lt;b &amp; &quot;c&quot;");
 * ```
 * @returns the text with `& < > " '` replaced by entities
 */
export function escapeXml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]!,
  );
}

/**
 * Writes a coordinate compactly: integers as they are, others with at most two decimals.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { num } from "./svg.ts";
 * strictEqual(num(2 / 3), "0.67");
 * ```
 */
export function num(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** Where a line of text is anchored: its start, middle or end lies on the given point. */
export type Anchor = "start" | "middle" | "end";

/**
 * Writes one line of text centred vertically on `y`, at font size `10 * size` (DejaVu Sans
 * capitals are then about `7 * size` tall); `rotate` turns it to read bottom to top around (x, y).
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { svgText } from "./svg.ts";
 * strictEqual(svgText(1, 2, "a<b", 2, "end", "#000000"),
 *   '<text x="1" y="2" font-size="20" text-anchor="end" dominant-baseline="central" ' +
 *   'fill="#000000">a&lt;b</text>');
 * ```
 */
export function svgText(
  x: number,
  y: number,
  text: string,
  size: number,
  anchor: Anchor,
  fill: string,
  rotate = false,
): string {
  const rot = rotate ? ` transform="rotate(-90 ${num(x)} ${num(y)})"` : "";
  return `<text x="${num(x)}" y="${num(y)}" font-size="${num(size * FONT_UNITS)}" ` +
    `text-anchor="${anchor}" dominant-baseline="central" fill="${fill}"${rot}>` +
    `${escapeXml(text)}</text>`;
}

/**
 * Writes a straight line `width` units thick.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { svgLine } from "./svg.ts";
 * strictEqual(svgLine(0, 1, 2, 1, "#000000", 1),
 *   '<line x1="0" y1="1" x2="2" y2="1" stroke="#000000" stroke-width="1"/>');
 * ```
 */
export function svgLine(
  x1: number,
  y1: number,
  x2: number,
  y2: number,
  stroke: string,
  width: number,
): string {
  return `<line x1="${num(x1)}" y1="${num(y1)}" x2="${num(x2)}" y2="${num(y2)}" ` +
    `stroke="${stroke}" stroke-width="${num(width)}"/>`;
}

/**
 * Wraps elements into a standalone SVG document on a white background, `width` by `height` units.
 *
 * Text names DejaVu Sans, the font `textWidth` measures and the PNG renderer uses
 * (viewers without it fall back to Verdana, whose metrics are close, or any sans-serif).
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { svgDocument, svgText } from "./svg.ts";
 * const svg = svgDocument(20, 10, [svgText(1, 5, "x<y", 1, "start", "#000000")]);
 * ok(svg.startsWith("<svg") && svg.includes("x&lt;y"));
 * ```
 * @param elements the elements, drawn in order
 * @param defs the content of a `<defs>` element (gradients), if any
 */
export function svgDocument(width: number, height: number, elements: string[], defs = ""): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${num(width)}" height="${num(height)}" ` +
    `viewBox="0 0 ${num(width)} ${num(height)}" ` +
    `font-family="'${FONT_FAMILY}', Verdana, sans-serif">`,
    ...(defs ? [`<defs>${defs}</defs>`] : []),
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    ...elements,
    "</svg>",
  ].join("\n") + "\n";
}
