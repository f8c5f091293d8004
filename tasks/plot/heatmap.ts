/**
 * The programmatic face of plotting: one call turns result panels into SVG text and PNG bytes,
 * another writes them to disk. The eval and demo tasks call these; `deno task plot` wraps them
 * for the command line.
 * @module
 */
import { join } from "node:path";
import { layoutHeatmaps } from "./layout.ts";
import { svgToPng } from "./render.ts";
import { figureToSvg } from "./svg.ts";
import type { HeatmapOptions, HeatmapPanel } from "./types.ts";

/** The file formats `writePlots` can write. */
export type PlotFormat = "svg" | "png";

/**
 * Draws heatmap panels side by side as an SVG document and a PNG image.
 *
 * The PNG is the SVG rendered by resvg (see `svgToPng`), so both show the same cells, ticks,
 * labels, titles, training boxes and colour bar. It is RGBA, `options.scale` pixels per SVG unit.
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { plotHeatmaps } from "./heatmap.ts";
 * const cells = [];
 * for (let i = 1; i <= 3; i++) {
 *   for (let j = 1; j <= 3; j++) cells.push({ i, j, correct: 10 * i * j, total: 90 });
 * }
 * const { svg, png } = await plotHeatmaps([{ cells, title: "Abacus" }]);
 * ok(svg.includes("1st Number Length") && png[1] === 0x50); // "P" of the PNG signature
 * ```
 * @returns the SVG text and the PNG bytes
 */
export async function plotHeatmaps(
  panels: HeatmapPanel[],
  options: HeatmapOptions = {},
): Promise<{ svg: string; png: Uint8Array }> {
  const svg = figureToSvg(layoutHeatmaps(panels, options));
  return { svg, png: await svgToPng(svg, options.scale ?? 1) };
}

/** Options of {@linkcode writePlots}. */
export interface WritePlotsOptions extends HeatmapOptions {
  /** The folder to write into (created if missing). */
  dir: string;
  /** The file name without extension. Default "heatmap". */
  name?: string;
  /** Which files to write. Default both. */
  formats?: PlotFormat[];
}

/**
 * Draws heatmap panels and writes them as `<dir>/<name>.svg` and `<dir>/<name>.png`.
 *
 * Creates `dir` when needed and overwrites existing files of the same name. The PNG renderer
 * loads only when a PNG is asked for.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { writePlots } from "./heatmap.ts";
 * const dir = await Deno.makeTempDir();
 * const cells = [{ i: 1, j: 1, correct: 1, total: 1 }];
 * const paths = await writePlots([{ cells }], { dir, name: "demo", formats: ["png"] });
 * deepStrictEqual(paths, [`${dir}/demo.png`]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @param options where to write, the file name and formats, and the drawing options
 * @returns the paths written, in format order
 */
export async function writePlots(
  panels: HeatmapPanel[],
  options: WritePlotsOptions,
): Promise<string[]> {
  const { dir, name = "heatmap", formats = ["svg", "png"] } = options;
  const svg = figureToSvg(layoutHeatmaps(panels, options));
  await Deno.mkdir(dir, { recursive: true });
  const out: string[] = [];
  for (const f of formats) {
    const path = join(dir, `${name}.${f}`);
    if (f === "svg") await Deno.writeTextFile(path, svg);
    else await Deno.writeFile(path, await svgToPng(svg, options.scale ?? 1));
    out.push(path);
  }
  return out;
}
