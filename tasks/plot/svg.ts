/**
 * The SVG elements both figures (heatmaps and training curves) are written with. The SVG is also
 * the source of the PNG (see render.ts). Coordinates are figure units: one unit is one PNG pixel
 * at scale 1.
 * @module
 */
import { FONT_FAMILY, FONT_UNITS } from "./metrics.ts";

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
  anchor: "start" | "middle" | "end",
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
 * Text names DejaVu Sans, the font the layouts measure (metrics.ts) and the PNG renderer uses
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
 * @returns the SVG document text
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
