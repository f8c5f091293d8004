/**
 * `deno task plot <results...> [flags]`: draws evaluation grids as heatmaps (SVG and PNG, no
 * browser), several runs side by side, in upstream's style; given training metrics
 * (`metrics.jsonl` or a run folder), it draws loss and learning-rate curves instead. Reads only
 * the paths it is given, so it also runs as a remote script:
 * `deno run -A file:///path/to/abacus/tasks/plot.ts ...`.
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { curvesToSvg } from "./plot/curves.ts";
import { readCurveRun, readPanel } from "./plot/input.ts";
import { heatmapSvg } from "./plot/heatmap.ts";
import { type PlotFormat, writeFigure } from "./plot/render.ts";
import { GRID_KINDS, type GridKind, type TrainRange } from "./plot/types.ts";

export { heatmapSvg } from "./plot/heatmap.ts";
export { type FigureFiles, type PlotFormat, writeFigure } from "./plot/render.ts";
export { readCurveRun, readPanel } from "./plot/input.ts";
export { type CurvePoint, type CurveRun, curvesToSvg } from "./plot/curves.ts";
export type { Cell, GridKind, HeatmapPanel, TrainRange } from "./plot/types.ts";

const USAGE = `Usage: deno task plot <results>... [flags]

Each <results> is one panel (drawn left to right):
  FILE.json  {"grid": "addition", "name": "abacus", "train_range": [[1, 20], [1, 20]],
              "cells": [{"i": 1, "j": 1, "correct": 97, "total": 100}, ...]}
             (grid, name, train_range optional; i = 1st operand length, on y)
  FOLDER     every cell_<i>_<j>.json beneath it, each {"i", "j", "correct", "total"}
             (shard subfolders merge; a cell twice with different counts is an error)

Training curves instead (loss, log scale, and learning rate against step; one line per run):
  FILE.jsonl a training metrics file, one {"step", "loss", "lr", ...} object per line
  RUN        a run folder: its pretrain/**/metrics.jsonl segments, merged in step order
  Written as <run names>_curves.svg/.png; --out, --name, --format, --scale apply as below and
  --title names each run in the legend. Metrics and results cannot be mixed in one call.

Flags:
  --out DIR            output folder (default: the first input's folder, or the folder itself)
  --name NAME          output file name without extension (default: <run names>_heatmap)
  --title TEXT         panel title; repeat for each panel in order (default: the run name)
  --kind KIND          addition|multiplication|sorting|or (default: the files' "grid", else addition)
  --train-max I,J      red box around lengths 1..I x 1..J; "none" draws no box
  --format svg,png     files to write (default: both)
  --merge              merge all inputs into one panel (shards given as separate files)
  --annotate on|off    cell percentages (default: on for grids up to 30x30)
  --scale N            PNG pixels per SVG unit (default 1)
  -h, --help           this text`;

/** The flags: `--title` repeats, of the others the last one counts. */
const FLAGS = {
  out: { type: "string" },
  name: { type: "string" },
  title: { type: "string", multiple: true },
  kind: { type: "string" },
  "train-max": { type: "string" },
  format: { type: "string" },
  annotate: { type: "string" },
  scale: { type: "string" },
  merge: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Tells whether a plot input is training metrics: a path ending in `.jsonl` (existing or not, so
 * a missing one is reported as a metrics file) or a folder with a `pretrain` subfolder.
 */
async function isMetricsInput(path: string): Promise<boolean> {
  if (path.endsWith(".jsonl")) return true;
  return (await Deno.stat(join(path, "pretrain")).catch(() => null))?.isDirectory ?? false;
}

/** `--train-max I,J` as a training range, null for "none", undefined when absent. */
function trainMax(v: string | undefined): TrainRange | null | undefined {
  if (v === undefined) return undefined;
  if (v === "none") return null;
  const m = /^(\d+),(\d+)$/.exec(v);
  if (!m) throw new Error(`Cannot parse --train-max ${v}: expected I,J (e.g. 20,20) or none`);
  return [[1, +m[1]], [1, +m[2]]];
}

/**
 * Runs the plot task on command-line arguments.
 *
 * Reads each input (or all of them with `--merge`) into a panel, applies the flags and writes
 * the figure; prints the written paths. Any error prints one line on stderr.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { main } from "./plot.ts";
 * const dir = await Deno.makeTempDir();
 * const file = `${dir}/abacus.json`;
 * await Deno.writeTextFile(file, '{"cells": [{"i": 1, "j": 1, "correct": 9, "total": 10}]}');
 * strictEqual(await main([file, "--format", "svg"]), 0);
 * strictEqual((await Deno.stat(`${dir}/abacus_heatmap.svg`)).isFile, true);
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @returns the exit code: 0 on success, 1 on bad input
 */
export async function main(args: string[]): Promise<number> {
  try {
    let parsed;
    try {
      parsed = parseArgs({ args, options: FLAGS, allowPositionals: true });
    } catch (e) {
      const { message, code } = e as Error & { code?: string };
      const why = code === "ERR_PARSE_ARGS_UNKNOWN_OPTION"
        ? `Unknown flag ${/'([^']*)'/.exec(message)?.[1]}`
        : message.split("\n")[0];
      throw new Error(`${why}: see deno task plot --help`);
    }
    const { values: flags, positionals: inputs } = parsed;
    if (flags.help) {
      console.log(USAGE);
      return 0;
    }
    if (inputs.length === 0) throw new Error("No results given: see deno task plot --help");
    const { kind, annotate } = flags;
    if (kind !== undefined && !GRID_KINDS.includes(kind as GridKind)) {
      throw new Error(`Unknown --kind ${kind}: choose one of ${GRID_KINDS.join(", ")}`);
    }
    const formats = (flags.format ?? "svg,png").split(",").map((f) => f.trim());
    const bad = formats.find((f) => f !== "svg" && f !== "png");
    if (bad !== undefined) throw new Error(`Unknown --format ${bad}: choose svg, png or svg,png`);
    if (annotate !== undefined && annotate !== "on" && annotate !== "off") {
      throw new Error(`Cannot parse --annotate ${annotate}: expected on or off`);
    }
    const scale = Number(flags.scale ?? 1);
    if (!Number.isInteger(scale) || scale < 1 || scale > 8) {
      throw new Error(`Cannot parse --scale ${flags.scale}: expected an integer 1..8`);
    }
    const metrics = await Promise.all(inputs.map(isMetricsInput));
    const curves = metrics[0]; // training curves instead of heatmaps
    if (metrics.some((m) => m !== curves)) {
      throw new Error("Cannot mix training metrics and evaluation results in one plot");
    }
    const groups = curves || !flags.merge ? inputs.map((p) => [p]) : [inputs];
    const titles = flags.title ?? [];
    if (titles.length > groups.length) {
      const what = curves ? "run(s)" : "panel(s)";
      throw new Error(`Got ${titles.length} --title flags for ${groups.length} ${what}`);
    }
    let names: string[], svg: string;
    if (curves) {
      const runs = await Array.fromAsync(inputs, (p) => readCurveRun(p)); // one at a time
      names = runs.map((r) => r.name);
      svg = curvesToSvg(runs.map((r, k) => ({ ...r, name: titles[k] ?? r.name })));
    } else {
      const box = trainMax(flags["train-max"]);
      const loaded = await Array.fromAsync(groups, (g) => readPanel(g));
      names = loaded.map((p) => p.name);
      svg = heatmapSvg(
        loaded.map((p, k) => ({
          cells: p.cells,
          title: titles[k] ?? p.name,
          kind: (kind as GridKind | undefined) ?? p.kind ?? "addition",
          trainRange: box === undefined ? p.trainRange : box,
        })),
        annotate === undefined ? undefined : annotate === "on",
      );
    }
    const first = inputs[0];
    const isDir = (await Deno.stat(first)).isDirectory;
    const dir = resolve(flags.out ?? (isDir ? first : dirname(first)));
    const name = flags.name ??
      names.join("_").replace(/[^\w.-]+/g, "-") + (curves ? "_curves" : "_heatmap");
    const written = await writeFigure(svg, { dir, name, formats: formats as PlotFormat[], scale });
    for (const w of written) console.log(w);
    return 0;
  } catch (e) {
    console.error((e as Error).message.split("\n")[0]);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
