/**
 * Writes a laid-out figure as standalone SVG text, which is also the source of the PNG (see
 * render.ts). Heatmap cells are `<rect class="cell">` with their lengths and value as data
 * attributes and a tooltip, so the file is also a readable record of the results.
 * @module
 */
import { YLGNBU } from "./colormap.ts";
import { FONT_FAMILY, FONT_UNITS } from "./metrics.ts";
import type { Figure, Shape } from "./types.ts";

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

/** A number written compactly: integers as is, others with at most two decimals. */
function n(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** One shape as an SVG element. */
function element(s: Shape): string {
  switch (s.kind) {
    case "rect": {
      const geo = `x="${n(s.x)}" y="${n(s.y)}" width="${n(s.w)}" height="${n(s.h)}"`;
      if (!s.cell) return `<rect ${geo} fill="${s.fill}"/>`;
      const { i, j, percent } = s.cell;
      const value = percent === null ? "no result" : `${n(percent)}%`;
      const cls = percent === null ? "missing" : "cell";
      const data = `data-i="${i}" data-j="${j}"` +
        (percent === null ? "" : ` data-percent="${n(percent)}"`);
      return `<rect class="${cls}" ${data} ${geo} fill="${s.fill}">` +
        `<title>${i} x ${j}: ${value}</title></rect>`;
    }
    case "box":
      return `<rect class="${escapeXml(s.role)}-box" x="${n(s.x)}" y="${n(s.y)}" ` +
        `width="${n(s.w)}" height="${n(s.h)}" fill="none" stroke="${s.stroke}" ` +
        `stroke-width="${n(s.width)}"/>`;
    case "line":
      return `<line x1="${n(s.x1)}" y1="${n(s.y1)}" x2="${n(s.x2)}" y2="${n(s.y2)}" ` +
        `stroke="${s.stroke}" stroke-width="${n(s.width)}"/>`;
    case "text": {
      const rot = s.rotate ? ` transform="rotate(-90 ${n(s.x)} ${n(s.y)})"` : "";
      return `<text x="${n(s.x)}" y="${n(s.y)}" font-size="${n(s.size * FONT_UNITS)}" ` +
        `text-anchor="${s.anchor}" dominant-baseline="central" fill="${s.fill}"${rot}>` +
        `${escapeXml(s.text)}</text>`;
    }
    case "colorbar":
      return `<rect class="colorbar" x="${n(s.x)}" y="${n(s.y)}" width="${n(s.w)}" ` +
        `height="${n(s.h)}" fill="url(#ylgnbu)"/>`;
  }
}

/**
 * Renders a laid-out figure as an SVG document.
 *
 * One SVG unit is one PNG pixel at scale 1. Text names DejaVu Sans, the font the layout measured
 * and the PNG renderer uses (viewers without it fall back to Verdana, whose metrics are close, or
 * any sans-serif); the colour bar is a linear gradient through the YlGnBu anchors.
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { figureToSvg } from "./svg.ts";
 * const svg = figureToSvg({ width: 20, height: 10, background: "#ffffff", shapes: [
 *   { kind: "text", x: 1, y: 5, text: "x<y", size: 1, fill: "#000000", anchor: "start", rotate: false },
 * ] });
 * ok(svg.startsWith("<svg") && svg.includes("x&lt;y"));
 * ```
 * @param fig the figure from `layoutHeatmaps`
 * @returns the SVG document text
 */
export function figureToSvg(fig: Figure): string {
  const stops = YLGNBU.map((c, k) =>
    `<stop offset="${+(1 - k / (YLGNBU.length - 1)).toFixed(4)}" stop-color="${c}"/>`
  ).reverse().join("");
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${n(fig.width)}" height="${n(fig.height)}" ` +
    `viewBox="0 0 ${n(fig.width)} ${n(fig.height)}" ` +
    `font-family="'${FONT_FAMILY}', Verdana, sans-serif">`,
    `<defs><linearGradient id="ylgnbu" x1="0" y1="0" x2="0" y2="1">${stops}</linearGradient></defs>`,
    `<rect width="100%" height="100%" fill="${fig.background}"/>`,
    ...fig.shapes.map(element),
    "</svg>",
  ];
  return out.join("\n") + "\n";
}
