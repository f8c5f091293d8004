/**
 * Lays out one or more heatmap panels side by side with a shared colour bar, following upstream's
 * seaborn plots: first operand length on y (row 1 at the top), second on x, YlGnBu over 0..100%,
 * a red box around the training range, annotations on small grids. Emits a display list (see
 * types.ts) in integer units, measuring text in the bundled font (metrics.ts); svg.ts writes it
 * as SVG, which render.ts turns into the PNG.
 * @module
 */
import { textWidth } from "./metrics.ts";
import { type Grid, meanOf, niceStep, tickValues, toGrid } from "./grid.ts";
import { textColourOn, toHex, ylGnBu } from "./colormap.ts";
import {
  type Figure,
  type HeatmapOptions,
  type HeatmapPanel,
  KIND_STYLE,
  type Shape,
  type TextShape,
} from "./types.ts";

const PAD = 16; // figure margin
const GAP = 40; // between panels, and before the colour bar
const TICK = 5; // tick mark length
const LABEL_GAP = 6; // between a tick mark and its label
const TICK_SIZE = 2; // font scale of tick labels and axis labels
const TITLE_SIZE = 3;
const BAR_W = 24;
const INK = "#262626";
const MISSING = "#d9d9d9";
const TRAIN_BOX = "#ff0000";
const BOX_WIDTH = 3;
/** The tallest annotated cell: a square that fits "100" at annotation size 2. */
const MAX_CELL_H = textWidth("100", 2) + 10;

/** Per-panel sizes computed before placement. */
interface Plan {
  grid: Grid;
  panel: HeatmapPanel;
  title: string;
  annotate: boolean;
  annSize: number; // font scale of annotations
  decimals: number;
  cellW: number;
  cellH: number;
  step: number;
  yTickW: number;
  span: number; // horizontal extent of the grid column (grid, title or x label)
}

/** Chooses cell size, annotation and ticks for one panel. */
function plan(panel: HeatmapPanel, opts: HeatmapOptions): Plan {
  const grid = toGrid(panel);
  const style = KIND_STYLE[panel.kind ?? "addition"];
  const side = Math.max(grid.rows, grid.cols);
  const annotate = opts.annotate ?? (grid.rows <= 30 && grid.cols <= 30);
  const sample = (100).toFixed(style.decimals);
  let cellW: number, cellH: number, annSize = 1;
  if (annotate) {
    annSize = side * (textWidth(sample, 2) + 10) <= 1400 ? 2 : 1;
    cellW = textWidth(sample, annSize) + 4 * annSize + 2;
    cellH = Math.min(cellW, MAX_CELL_H);
  } else {
    cellW = cellH = Math.max(3, Math.min(24, Math.floor(800 / side)));
  }
  const widest = Math.max(
    textWidth(String(grid.i0 + grid.rows - 1), TICK_SIZE),
    textWidth(String(grid.j0 + grid.cols - 1), TICK_SIZE),
  );
  const need = Math.max((widest + 12) / cellW, (7 * TICK_SIZE + 6) / cellH);
  const step = opts.tickStep ?? niceStep(Math.ceil(need));
  let title = panel.title ?? "";
  if (opts.showMean ?? panel.kind === "sorting") {
    const m = `mean ${meanOf(grid).toFixed(1)}%`;
    title = title ? `${title} (${m})` : m[0].toUpperCase() + m.slice(1);
  }
  const yTickW = TICK + LABEL_GAP + textWidth(String(grid.i0 + grid.rows - 1), TICK_SIZE);
  const span = Math.max(
    grid.cols * cellW,
    textWidth(title, TITLE_SIZE),
    textWidth(style.x, TICK_SIZE),
  );
  return {
    grid,
    panel,
    title,
    annotate,
    annSize,
    decimals: style.decimals,
    cellW,
    cellH,
    step,
    yTickW,
    span,
  };
}

/**
 * Lays out heatmap panels side by side, with one shared colour bar on the right.
 *
 * Each panel's grid spans its cells' minimum to maximum `i` (rows, increasing downward) and `j`
 * (columns). Cells are coloured by `100 * correct / total` on YlGnBu; cells without results are
 * grey. Grids up to 30x30 get annotations (`.0f`, sorting `.1f`) and a tick on every length;
 * larger ones get ticks every 2, 5, 10, ... as space allows. Units are PNG pixels at scale 1.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { layoutHeatmaps } from "./layout.ts";
 * const cells = [{ i: 1, j: 1, correct: 100, total: 100 }, { i: 2, j: 2, correct: 3, total: 4 }];
 * const fig = layoutHeatmaps([{ cells, title: "Abacus", trainRange: [[1, 1], [1, 1]] }]);
 * strictEqual(fig.shapes.filter((s) => s.kind === "rect" && s.cell).length, 4);
 * strictEqual(fig.shapes.filter((s) => s.kind === "box").length, 1);
 * ```
 * @param options annotation, tick and title options shared by all panels
 */
export function layoutHeatmaps(panels: HeatmapPanel[], options: HeatmapOptions = {}): Figure {
  if (panels.length === 0) throw new Error("Cannot plot a figure without panels");
  const plans = panels.map((p) => plan(p, options));
  const labelH = 7 * TICK_SIZE;
  const titleH = 7 * TITLE_SIZE + 14;
  const vspan = Math.max(
    ...plans.map((p) =>
      Math.max(
        p.grid.rows * p.cellH,
        textWidth(KIND_STYLE[p.panel.kind ?? "addition"].y, TICK_SIZE),
      )
    ),
  );
  const top = PAD + titleH;
  const bottom = TICK + LABEL_GAP + labelH + 12 + labelH;
  const shapes: Shape[] = [];
  let x = PAD;
  for (const p of plans) {
    const style = KIND_STYLE[p.panel.kind ?? "addition"];
    const { grid, cellW, cellH } = p;
    const gw = grid.cols * cellW, gh = grid.rows * cellH;
    const left = x + labelH + 10 + p.yTickW;
    const gx = left + Math.floor((p.span - gw) / 2);
    const gy = top + Math.floor((vspan - gh) / 2);
    const mid = left + p.span / 2;
    if (p.title) shapes.push(text(mid, PAD + (7 * TITLE_SIZE) / 2, p.title, TITLE_SIZE, "middle"));
    for (let r = 0; r < grid.rows; r++) {
      for (let c = 0; c < grid.cols; c++) {
        const v = grid.percent[r * grid.cols + c];
        const rgb = v === null ? null : ylGnBu(v / 100);
        const cx = gx + c * cellW, cy = gy + r * cellH;
        const cell = { i: grid.i0 + r, j: grid.j0 + c, percent: v };
        shapes.push({
          kind: "rect",
          x: cx,
          y: cy,
          w: cellW,
          h: cellH,
          fill: rgb ? toHex(rgb) : MISSING,
          cell,
        });
        if (p.annotate && rgb && v !== null) {
          const t = text(
            cx + cellW / 2,
            cy + cellH / 2,
            v.toFixed(p.decimals),
            p.annSize,
            "middle",
          );
          shapes.push({ ...t, fill: textColourOn(rgb) });
        }
      }
    }
    for (const v of tickValues(grid.j0, grid.cols, p.step)) {
      const tx = gx + (v - grid.j0) * cellW + cellW / 2;
      shapes.push(line(tx, gy + gh, tx, gy + gh + TICK));
      shapes.push(
        text(tx, gy + gh + TICK + LABEL_GAP + labelH / 2, String(v), TICK_SIZE, "middle"),
      );
    }
    for (const v of tickValues(grid.i0, grid.rows, p.step)) {
      const ty = gy + (v - grid.i0) * cellH + cellH / 2;
      shapes.push(line(gx - TICK, ty, gx, ty));
      shapes.push(text(gx - TICK - LABEL_GAP, ty, String(v), TICK_SIZE, "end"));
    }
    const xLabelY = gy + gh + TICK + LABEL_GAP + labelH + 12 + labelH / 2;
    shapes.push(text(gx + gw / 2, xLabelY, style.x, TICK_SIZE, "middle"));
    shapes.push({
      ...text(x + labelH / 2, top + vspan / 2, style.y, TICK_SIZE, "middle"),
      rotate: true,
    });
    const box = trainBox(p, gx, gy);
    if (box) shapes.push(box);
    x = left + p.span + GAP;
  }
  const barY = top, barH = vspan;
  shapes.push({ kind: "colorbar", x, y: barY, w: BAR_W, h: barH });
  let barRight = 0;
  for (let v = 0; v <= 100; v += 20) {
    const ty = barY + barH - (v / 100) * barH;
    shapes.push(line(x + BAR_W, ty, x + BAR_W + TICK, ty));
    shapes.push(text(x + BAR_W + TICK + LABEL_GAP, ty, String(v), TICK_SIZE, "start"));
    barRight = Math.max(barRight, textWidth(String(v), TICK_SIZE));
  }
  const labelX = x + BAR_W + TICK + LABEL_GAP + barRight + 10 + labelH / 2;
  shapes.push({
    ...text(labelX, barY + barH / 2, "Accuracy (%)", TICK_SIZE, "middle"),
    rotate: true,
  });
  const width = Math.ceil(labelX + labelH / 2 + PAD);
  const height = top + vspan + bottom + PAD;
  return { width, height, background: "#ffffff", shapes };
}

/** The red outline around the training range, clipped to the grid; null when outside it. */
function trainBox(p: Plan, gx: number, gy: number): Shape | null {
  const tr = p.panel.trainRange;
  if (!tr) return null;
  const { grid } = p;
  const r0 = Math.max(tr[0][0], grid.i0) - grid.i0,
    r1 = Math.min(tr[0][1], grid.i0 + grid.rows - 1) - grid.i0;
  const c0 = Math.max(tr[1][0], grid.j0) - grid.j0,
    c1 = Math.min(tr[1][1], grid.j0 + grid.cols - 1) - grid.j0;
  if (r1 < r0 || c1 < c0) return null;
  return {
    kind: "box",
    x: gx + c0 * p.cellW,
    y: gy + r0 * p.cellH,
    w: (c1 - c0 + 1) * p.cellW,
    h: (r1 - r0 + 1) * p.cellH,
    stroke: TRAIN_BOX,
    width: BOX_WIDTH,
    role: "train",
  };
}

/** A horizontal line of text in the ink colour. */
function text(
  x: number,
  y: number,
  s: string,
  size: number,
  anchor: TextShape["anchor"],
): TextShape {
  return { kind: "text", x, y, text: s, size, fill: INK, anchor, rotate: false };
}

/** A one-unit tick line in the ink colour. */
function line(x1: number, y1: number, x2: number, y2: number): Shape {
  return { kind: "line", x1, y1, x2, y2, stroke: INK, width: 1 };
}
