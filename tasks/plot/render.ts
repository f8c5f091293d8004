/**
 * Renders SVG text to PNG bytes with resvg (the Rust SVG renderer, compiled to WebAssembly), so
 * the PNG is the SVG's own picture, antialiased, with real text. Text is set in the bundled
 * DejaVu Sans (fonts/DejaVuSans.ttf, licence in fonts/LICENSE); no system font is ever read.
 * The WebAssembly module and the font load once, on the first render (only when a PNG is asked
 * for). Also writes a figure's files.
 * @module
 */
import { join } from "node:path";
import { initWasm, Resvg } from "npm:@resvg/resvg-wasm@2.6.2";
import { writeFileAtomic } from "../../core/checkpoint.ts";
import { FONT_FAMILY } from "./svg.ts";

/** The file formats a figure is written in. */
export type PlotFormat = "svg" | "png";

/** Reads a file by URL (`file:` too: Deno's fetch reads them). */
async function readUrl(url: URL): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`Cannot fetch ${url.href}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** The first render's set-up, run once (again only after a failure): the font's bytes. */
let ready: Promise<Uint8Array> | undefined;

/** Initialises resvg's WebAssembly (shipped in its npm package) and reads the font, once. */
function setUp(): Promise<Uint8Array> {
  ready ??= (async () => {
    const wasmUrl = new URL(import.meta.resolve("npm:@resvg/resvg-wasm@2.6.2/index_bg.wasm"));
    const fontUrl = new URL("./fonts/DejaVuSans.ttf", import.meta.url); // also when run remotely
    const [wasm, font] = await Promise.all([readUrl(wasmUrl), readUrl(fontUrl)]);
    await initWasm(wasm);
    return font;
  })().catch((e) => {
    ready = undefined;
    throw e;
  });
  return ready;
}

// Renders an SVG document as a PNG (8-bit RGBA) of `width * scale` by `height * scale` pixels
// (rounded); text in any font family is drawn in DejaVu Sans, the only font it knows.
async function svgToPng(svg: string, scale = 1): Promise<Uint8Array> {
  if (!(scale > 0 && Number.isFinite(scale))) {
    throw new RangeError(`Cannot render at scale ${scale}: it must be a number > 0`);
  }
  const font = await setUp();
  const resvg = new Resvg(svg, {
    fitTo: { mode: "zoom", value: scale },
    font: {
      fontBuffers: [font],
      defaultFontFamily: FONT_FAMILY,
      sansSerifFamily: FONT_FAMILY,
      monospaceFamily: FONT_FAMILY,
    },
  });
  const image = resvg.render();
  const png = image.asPng();
  image.free(); // now rather than at garbage collection (resvg's finalizers free after a throw)
  resvg.free();
  return png;
}

/** Where and how {@linkcode writeFigure} writes a figure. */
export interface FigureFiles {
  /** The folder to write into (created when missing). */
  dir: string;
  /** The file name without extension. */
  name: string;
  /** Which files to write. Default both. */
  formats?: PlotFormat[];
  /** PNG pixels per SVG unit (the SVG is unaffected). Default 1. */
  scale?: number;
}

/**
 * Writes an SVG figure as `<dir>/<name>.svg` and/or `<dir>/<name>.png` (rendered from the SVG,
 * `scale` pixels per unit), creating `dir` when needed and replacing files of the same name
 * (each written whole, then renamed into place).
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { writeFigure } from "./render.ts";
 * const dir = await Deno.makeTempDir();
 * const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="3" height="2"/>';
 * deepStrictEqual(await writeFigure(svg, { dir, name: "f", formats: ["svg"] }), [`${dir}/f.svg`]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @returns the paths written, in format order
 */
export async function writeFigure(svg: string, files: FigureFiles): Promise<string[]> {
  const { dir, name, formats = ["svg", "png"], scale = 1 } = files;
  await Deno.mkdir(dir, { recursive: true });
  const out: string[] = [];
  for (const f of formats) {
    const path = join(dir, `${name}.${f}`);
    await writeFileAtomic(path, f === "svg" ? svg : await svgToPng(svg, scale));
    out.push(path);
  }
  return out;
}
