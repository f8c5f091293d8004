/**
 * Training curves as SVG: two panels, loss (log scale) against step above and learning rate
 * against step below, one line per run with a legend when there are several. A pure function of
 * the points, so the PNG (render.ts) and the tests see exactly the same picture.
 *
 * Geometry (figure units; one unit is one PNG pixel at scale 1): the figure is `CURVES_WIDTH`
 * wide; each panel's plot area is the rectangle `<rect class="plot-area" data-panel="loss|lr">`
 * with x from 70 to 620 and height 200 (loss at y 40..240, learning rate at y 320..520).
 * Axis ranges: x runs linearly from the smallest to the largest step of all runs (step - 1 to
 * step + 1 when there is only one step); the loss axis runs in log10 from the decade at or below
 * the smallest loss to the decade at or above the largest (one decade when both are equal); the
 * learning rate axis runs linearly from 0 to the largest rate (0 to 1 when all are 0). A point
 * `(s, v)` lands at `x = left + width * (s - s0) / (s1 - s0)` and
 * `y = top + height * (1 - (f(v) - f0) / (f1 - f0))`, with f = log10 for loss, identity for rate.
 * @module
 */
import { escapeXml, num, svgDocument, svgLine, svgText } from "./svg.ts";

/** One logged training step. */
export interface CurvePoint {
  /** The training step (x). */
  step: number;
  /** The training loss at that step; drawn only when finite and > 0 (log scale). */
  loss: number;
  /** The learning rate at that step; drawn only when finite. */
  lr: number;
}

/** One run's curve: a name for the legend and its points in step order. */
export interface CurveRun {
  /** Legend label. */
  name: string;
  /** The logged steps, in increasing step order. */
  points: CurvePoint[];
}

/** Figure width in figure units. */
const CURVES_WIDTH = 640;
const LEFT = 70, RIGHT = 620, PANEL_H = 200, TOPS = [40, 320] as const;
const LEGEND_TOP = 575, LEGEND_ROW = 18;
const BLACK = "#000000";
const COLORS = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

/** A tick label: plain for ordinary magnitudes, `2e-4` style for tiny or huge ones. */
function label(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e6) {
    const [m, e] = v.toExponential().split("e");
    return `${+(+m).toPrecision(3)}e${+e}`;
  }
  return String(+v.toPrecision(6));
}

/** Ticks at 1, 2 or 5 times a power of ten, about five of them within [lo, hi]. */
function niceTicks(lo: number, hi: number): number[] {
  const raw = (hi - lo) / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const out: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) {
    out.push(+(k * step).toPrecision(12));
  }
  return out;
}

/** One panel: frame, ticks, labels and the runs' polylines. */
function panel(
  runs: CurveRun[],
  which: "loss" | "lr",
  top: number,
  xr: [number, number],
): string[] {
  const w = RIGHT - LEFT, bottom = top + PANEL_H;
  const drawable = (v: number): boolean => Number.isFinite(v) && (which === "lr" || v > 0);
  const vals = runs.flatMap((r) => r.points.map((p) => p[which])).filter(drawable);
  let y0: number, y1: number, yTicks: number[];
  if (which === "loss") {
    y0 = vals.length ? Math.floor(Math.log10(Math.min(...vals))) : 0;
    y1 = vals.length ? Math.ceil(Math.log10(Math.max(...vals))) : 1;
    if (y1 <= y0) y1 = y0 + 1;
    yTicks = Array.from({ length: y1 - y0 + 1 }, (_, k) => y0 + k); // every decade
  } else {
    y0 = 0;
    y1 = vals.length ? Math.max(...vals) : 0;
    if (!(y1 > 0)) y1 = 1;
    yTicks = niceTicks(y0, y1);
  }
  const px = (s: number): number => LEFT + (w * (s - xr[0])) / (xr[1] - xr[0]);
  const py = (f: number): number => top + PANEL_H * (1 - (f - y0) / (y1 - y0));
  const title = which === "loss" ? "Training loss" : "Learning rate";
  const axis = which === "loss" ? "loss (log scale)" : "learning rate";
  const out = [
    svgText((LEFT + RIGHT) / 2, top - 14, title, 1.2, "middle", BLACK),
    `<rect class="plot-area" data-panel="${which}" x="${LEFT}" y="${top}" width="${w}" ` +
    `height="${PANEL_H}" fill="none" stroke="${BLACK}" stroke-width="1"/>`,
  ];
  for (const t of yTicks) {
    const y = py(t);
    out.push(
      svgLine(LEFT - 4, y, LEFT, y, BLACK, 1),
      svgLine(LEFT, y, RIGHT, y, "#dddddd", 0.5),
      svgText(LEFT - 6, y, label(which === "loss" ? 10 ** t : t), 0.9, "end", BLACK),
    );
  }
  for (const t of niceTicks(xr[0], xr[1])) {
    const x = px(t);
    out.push(
      svgLine(x, bottom, x, bottom + 4, BLACK, 1),
      svgText(x, bottom + 14, label(t), 0.9, "middle", BLACK),
    );
  }
  out.push(
    svgText((LEFT + RIGHT) / 2, bottom + 32, "step", 1, "middle", BLACK),
    svgText(16, top + PANEL_H / 2, axis, 1, "middle", BLACK, true),
  );
  runs.forEach((r, k) => {
    const pts = r.points.filter((p) => drawable(p[which])).map((p) =>
      `${num(px(p.step))},${num(py(which === "loss" ? Math.log10(p.loss) : p.lr))}`
    );
    out.push(
      `<polyline class="curve" data-panel="${which}" data-run="${escapeXml(r.name)}" ` +
        `points="${pts.join(" ")}" fill="none" stroke="${COLORS[k % COLORS.length]}" ` +
        `stroke-width="1.5" stroke-linejoin="round"/>`,
    );
  });
  return out;
}

/**
 * Draws runs' loss and learning-rate curves as an SVG document (geometry and axis ranges in the
 * module documentation). Each run is one `<polyline class="curve">` per panel, one point per
 * drawable row, in the run's order; several runs get a legend below the panels.
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { curvesToSvg } from "./curves.ts";
 * const svg = curvesToSvg([{ name: "abacus", points: [
 *   { step: 1, loss: 3, lr: 0 },
 *   { step: 2, loss: 0.5, lr: 1e-4 },
 * ] }]);
 * ok(svg.startsWith("<svg") && svg.includes('class="curve" data-panel="loss"'));
 * ```
 * @param runs the runs, each with points in step order; at least one point in all
 */
export function curvesToSvg(runs: CurveRun[]): string {
  const steps = runs.flatMap((r) => r.points.map((p) => p.step));
  if (steps.length === 0) throw new Error("No points to draw");
  let xr: [number, number] = [Math.min(...steps), Math.max(...steps)];
  if (xr[1] <= xr[0]) xr = [xr[0] - 1, xr[0] + 1];
  const out = [...panel(runs, "loss", TOPS[0], xr), ...panel(runs, "lr", TOPS[1], xr)];
  if (runs.length > 1) {
    runs.forEach((r, k) => {
      const y = LEGEND_TOP + k * LEGEND_ROW + 9;
      out.push(
        `<g class="legend">${svgLine(LEFT, y, LEFT + 24, y, COLORS[k % COLORS.length], 2)}` +
          `${svgText(LEFT + 30, y, r.name, 1, "start", BLACK)}</g>`,
      );
    });
  }
  const legend = runs.length > 1 ? runs.length * LEGEND_ROW + 10 : 0;
  return svgDocument(CURVES_WIDTH, LEGEND_TOP + legend, out);
}
