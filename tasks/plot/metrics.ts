/**
 * Text metrics of the bundled font (DejaVu Sans, fonts/DejaVuSans.ttf), so the layout can size
 * cells, margins and spans for the text that the PNG renderer will draw, without loading the font.
 * The advance widths below are the font's `hmtx` values for printable ASCII (2048 units per em).
 * @module
 */

/** The font family named in the SVG and loaded into the PNG renderer. */
export const FONT_FAMILY = "DejaVu Sans";

/** Font size, in figure units, of text size 1 (DejaVu Sans capitals are then about 7 tall). */
export const FONT_UNITS = 10;

/** Font units per em of DejaVu Sans. */
const UNITS_PER_EM = 2048;

// Rows of 16 characters: " " to "/", "0" to "?", "@" to "O", "P" to "_", "`" to "o", "p" to "~".
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
 * Measures a line of text set in DejaVu Sans at `size * FONT_UNITS` units, rounded up to a whole
 * unit so the layout stays on integer coordinates. Kerning is ignored (a unit or two at most);
 * characters outside printable ASCII count as a full em, so text in them is never under-measured.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { textWidth } from "./metrics.ts";
 * strictEqual(textWidth("100", 2), 39); // 3 digits of 0.636 em at 20 units
 * strictEqual(textWidth("", 3), 0);
 * ```
 * @param text the text (one line)
 * @param size the text size (font size in tens of units)
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
