/**
 * Heatmaps of evaluation grids, one or more panels side by side with a shared colour bar,
 * following upstream's seaborn plots: first operand length on y (row 1 at the top), second on x,
 * YlGnBu over 0..100%, a red box around the training range, annotations on small grids. Drawn as
 * SVG in integer units, measuring text in the bundled font (svg.ts); the PNG is that SVG
 * rendered (render.ts). The plot, eval and demo tasks and the serve task's run page draw with
 * `heatmapSvg`.
 * @module
 */
import { type Anchor, num, svgDocument, svgLine, svgText, textWidth } from "./svg.ts";
import type { HeatmapPanel } from "./types.ts";

/**
 * Axis labels as upstream's plotters write them, for sorting and for every other grid kind: `y`
 * labels the first operand length (rows), `x` the second (columns); annotations have `decimals`
 * decimals.
 */
const SORTING = { y: "Maximum n-digit number (1-n)", x: "Length of array to sort", decimals: 1 };
const LENGTHS = { y: "1st Number Length", x: "2nd Number Length", decimals: 0 };

const PAD = 16; // figure margin
const GAP = 40; // between panels, and before the colour bar
const TICK = 5; // tick mark length
const LABEL_GAP = 6; // between a tick mark and its label
const TICK_SIZE = 2; // text size of tick labels and axis labels
const TITLE_SIZE = 3;
const BAR_W = 24;
const INK = "#262626";
const MISSING = "#d9d9d9";
/** The tallest annotated cell: a square that fits "100" at annotation size 2. */
const MAX_CELL_H = textWidth("100", 2) + 10;
/**
 * The nine anchors of YlGnBu (yellow, green, blue), the colour scale of upstream's seaborn
 * heatmaps, from lightest (0%) to darkest (100%); between anchors the scale is linear in sRGB, as
 * matplotlib's "YlGnBu" colormap is.
 * Reference: ColorBrewer 2.0, sequential scheme YlGnBu, 9 classes (Cynthia Brewer).
 */
const YLGNBU = [
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
const ANCHORS = YLGNBU.map((hex) => [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16)));
/** Tick steps, in cells, from which the smallest that fits is chosen. */
const STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000];

/**
 * The dense grid spanning a panel's smallest to largest `i` and `j`: row-major percentages
 * `100 * correct / total`, null where a cell has no result; `i0` and `j0` are the first row's and
 * column's lengths. Throws on an empty panel, lengths that are not integers >= 0, counts
 * that are not a rate, and a cell given twice with different counts.
 */
function toGrid(panel: HeatmapPanel) {
  const label = panel.title ? `panel "${panel.title}"` : "a panel";
  if (panel.cells.length === 0) throw new Error(`Cannot plot ${label}: it has no cells`);
  let i0 = Infinity, i1 = -Infinity, j0 = Infinity, j1 = -Infinity;
  for (const c of panel.cells) {
    if (![c.i, c.j].every((v) => Number.isInteger(v) && v >= 0)) {
      throw new Error(`Cannot plot cell (${c.i}, ${c.j}): lengths must be integers >= 0`);
    }
    if (!(c.total > 0 && c.correct >= 0 && c.correct <= c.total)) {
      throw new Error(`Cannot plot cell (${c.i}, ${c.j}): ${c.correct}/${c.total} is not a rate`);
    }
    [i0, i1, j0, j1] = [Math.min(i0, c.i), Math.max(i1, c.i), Math.min(j0, c.j), Math.max(j1, c.j)];
  }
  const rows = i1 - i0 + 1, cols = j1 - j0 + 1;
  const percent: (number | null)[] = new Array(rows * cols).fill(null);
  for (const c of panel.cells) {
    const k = (c.i - i0) * cols + (c.j - j0), v = (100 * c.correct) / c.total;
    if (percent[k] !== null && percent[k] !== v) {
      throw new Error(`Cannot plot cell (${c.i}, ${c.j}) of ${label}: it is given twice`);
    }
    percent[k] = v;
  }
  return { i0, j0, rows, cols, percent };
}

/**
 * The lengths to label on an axis of `n` lengths from `first`: multiples of `step`, and the first
 * length when it is at least `step` cells before the first multiple (so labels never crowd).
 * E.g. (1, 30, 10) -> 10, 20, 30; (26, 15, 10) -> 30, 40.
 */
function tickValues(first: number, n: number, step: number): number[] {
  const last = first + n - 1;
  const m = Math.ceil(first / step) * step; // first multiple of step in range
  const out: number[] = m - first >= step || m > last ? [first] : [];
  for (let v = m; v <= last; v += step) out.push(v);
  return out;
}

/**
 * Chooses cell size, annotation (`annSize` its text size) and tick step for one panel; `span` is
 * the horizontal extent of its column (grid, title or x label).
 */
function plan(panel: HeatmapPanel, annotateAll?: boolean) {
  const grid = toGrid(panel);
  const style = panel.kind === "sorting" ? SORTING : LENGTHS;
  const side = Math.max(grid.rows, grid.cols);
  const annotate = annotateAll ?? (grid.rows <= 30 && grid.cols <= 30);
  const sample = (100).toFixed(style.decimals);
  let cellW: number, cellH: number, annSize = 1;
  if (annotate) {
    annSize = side * (textWidth(sample, 2) + 10) <= 1400 ? 2 : 1;
    cellW = textWidth(sample, annSize) + 4 * annSize + 2;
    cellH = Math.min(cellW, MAX_CELL_H);
  } else {
    cellW = cellH = Math.max(3, Math.min(24, Math.floor(800 / side)));
  }
  const iWidth = textWidth(String(grid.i0 + grid.rows - 1), TICK_SIZE); // the longest row label
  const widest = Math.max(iWidth, textWidth(String(grid.j0 + grid.cols - 1), TICK_SIZE));
  const need = Math.ceil(Math.max((widest + 12) / cellW, (7 * TICK_SIZE + 6) / cellH));
  const step = STEPS.find((s) => s >= need) ?? STEPS[STEPS.length - 1];
  let title = panel.title ?? "";
  if (panel.kind === "sorting") { // upstream's np.mean over the cells with results
    const v = grid.percent.filter((p): p is number => p !== null);
    const m = `mean ${(v.reduce((s, p) => s + p, 0) / v.length).toFixed(1)}%`;
    title = title ? `${title} (${m})` : m[0].toUpperCase() + m.slice(1);
  }
  const yTickW = TICK + LABEL_GAP + iWidth;
  const span = Math.max(
    grid.cols * cellW,
    textWidth(title, TITLE_SIZE),
    textWidth(style.x, TICK_SIZE),
  );
  return { grid, panel, style, title, annotate, annSize, cellW, cellH, step, yTickW, span };
}

/**
 * A percentage's YlGnBu colour as `#rrggbb`, and the annotation colour seaborn picks on it: dark
 * where the background's relative luminance is above 0.408, else white.
 */
function colours(percent: number): { fill: string; ink: string } {
  const x = (percent / 100) * (ANCHORS.length - 1);
  const k = Math.min(Math.floor(x), ANCHORS.length - 2);
  const a = ANCHORS[k], b = ANCHORS[k + 1];
  const rgb = [0, 1, 2].map((c) => Math.round(a[c] + (b[c] - a[c]) * (x - k)));
  const lin = rgb.map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  const lum = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
  const fill = "#" + rgb.map((c) => c.toString(16).padStart(2, "0")).join("");
  return { fill, ink: lum > 0.408 ? INK : "#ffffff" };
}

const text = (x: number, y: number, s: string, size: number, anchor: Anchor): string =>
  svgText(x, y, s, size, anchor, INK);

const tick = (x1: number, y1: number, x2: number, y2: number): string =>
  svgLine(x1, y1, x2, y2, INK, 1);

function geometry(x: number, y: number, w: number, h: number): string {
  return `x="${num(x)}" y="${num(y)}" width="${num(w)}" height="${num(h)}"`;
}

/** One heatmap cell: coloured by its value, grey without results, with its lengths as data. */
function cellRect(i: number, j: number, v: number | null, fill: string, geo: string): string {
  if (v === null) {
    return `<rect class="missing" data-i="${i}" data-j="${j}" ${geo} fill="${fill}">` +
      `<title>${i} x ${j}: no result</title></rect>`;
  }
  return `<rect class="cell" data-i="${i}" data-j="${j}" data-percent="${num(v)}" ${geo} ` +
    `fill="${fill}"><title>${i} x ${j}: ${num(v)}%</title></rect>`;
}

/** The red outline (stroke centred on the edges) around the training range, clipped to the grid. */
function trainBox(p: ReturnType<typeof plan>, gx: number, gy: number): string[] {
  const tr = p.panel.trainRange;
  if (!tr) return [];
  const { grid } = p;
  const r0 = Math.max(tr[0][0], grid.i0) - grid.i0,
    r1 = Math.min(tr[0][1], grid.i0 + grid.rows - 1) - grid.i0;
  const c0 = Math.max(tr[1][0], grid.j0) - grid.j0,
    c1 = Math.min(tr[1][1], grid.j0 + grid.cols - 1) - grid.j0;
  if (r1 < r0 || c1 < c0) return [];
  const geo = geometry(
    gx + c0 * p.cellW,
    gy + r0 * p.cellH,
    (c1 - c0 + 1) * p.cellW,
    (r1 - r0 + 1) * p.cellH,
  );
  return [`<rect class="train-box" ${geo} fill="none" stroke="#ff0000" stroke-width="3"/>`];
}

/**
 * Draws heatmap panels side by side, with one shared colour bar on the right, as an SVG document.
 *
 * Each panel's grid spans its cells' minimum to maximum `i` (rows, increasing downward) and `j`
 * (columns). Cells are coloured by `100 * correct / total` on YlGnBu; cells without results are
 * grey. Grids up to 30x30 get annotations (`.0f`, sorting `.1f`) and a tick on every length;
 * larger ones get ticks every 2, 5, 10, ... as space allows. Sorting titles add the mean
 * accuracy. Cells are `<rect class="cell">` (`class="missing"` without results) with their
 * lengths and value as data attributes and a tooltip, so the file is also a readable record of
 * the results; the training range is `<rect class="train-box">`.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { heatmapSvg } from "./heatmap.ts";
 * const cells = [{ i: 1, j: 1, correct: 100, total: 100 }, { i: 2, j: 2, correct: 3, total: 4 }];
 * const svg = heatmapSvg([{ cells, title: "Abacus", trainRange: [[1, 1], [1, 1]] }]);
 * strictEqual(svg.match(/<rect class="(cell|missing)"/g)?.length, 4);
 * strictEqual(svg.match(/<rect class="train-box"/g)?.length, 1);
 * ```
 * @param annotate write the percentage in each cell (default: on grids up to 30x30)
 */
export function heatmapSvg(panels: HeatmapPanel[], annotate?: boolean): string {
  if (panels.length === 0) throw new Error("Cannot plot a figure without panels");
  const plans = panels.map((p) => plan(p, annotate));
  const labelH = 7 * TICK_SIZE;
  const titleH = 7 * TITLE_SIZE + 14;
  const vspan = Math.max(
    ...plans.map((p) => Math.max(p.grid.rows * p.cellH, textWidth(p.style.y, TICK_SIZE))),
  );
  const top = PAD + titleH;
  const bottom = TICK + LABEL_GAP + labelH + 12 + labelH;
  const out: string[] = [];
  let x = PAD;
  for (const p of plans) {
    const { grid, style, cellW, cellH } = p;
    const gw = grid.cols * cellW, gh = grid.rows * cellH;
    const left = x + labelH + 10 + p.yTickW;
    const gx = left + Math.floor((p.span - gw) / 2);
    const gy = top + Math.floor((vspan - gh) / 2);
    const mid = left + p.span / 2;
    if (p.title) out.push(text(mid, PAD + (7 * TITLE_SIZE) / 2, p.title, TITLE_SIZE, "middle"));
    for (let r = 0; r < grid.rows; r++) {
      for (let c = 0; c < grid.cols; c++) {
        const v = grid.percent[r * grid.cols + c];
        const colour = v === null ? null : colours(v);
        const cx = gx + c * cellW, cy = gy + r * cellH;
        const geo = geometry(cx, cy, cellW, cellH);
        out.push(cellRect(grid.i0 + r, grid.j0 + c, v, colour?.fill ?? MISSING, geo));
        if (p.annotate && colour && v !== null) {
          const label = v.toFixed(style.decimals);
          out.push(svgText(cx + cellW / 2, cy + cellH / 2, label, p.annSize, "middle", colour.ink));
        }
      }
    }
    for (const v of tickValues(grid.j0, grid.cols, p.step)) {
      const tx = gx + (v - grid.j0) * cellW + cellW / 2;
      out.push(tick(tx, gy + gh, tx, gy + gh + TICK));
      out.push(text(tx, gy + gh + TICK + LABEL_GAP + labelH / 2, String(v), TICK_SIZE, "middle"));
    }
    for (const v of tickValues(grid.i0, grid.rows, p.step)) {
      const ty = gy + (v - grid.i0) * cellH + cellH / 2;
      out.push(tick(gx - TICK, ty, gx, ty));
      out.push(text(gx - TICK - LABEL_GAP, ty, String(v), TICK_SIZE, "end"));
    }
    const xLabelY = gy + gh + TICK + LABEL_GAP + labelH + 12 + labelH / 2;
    out.push(text(gx + gw / 2, xLabelY, style.x, TICK_SIZE, "middle"));
    out.push(svgText(x + labelH / 2, top + vspan / 2, style.y, TICK_SIZE, "middle", INK, true));
    out.push(...trainBox(p, gx, gy));
    x = left + p.span + GAP;
  }
  // The colour bar: 100% at the top, 0% at the bottom.
  out.push(`<rect class="colorbar" ${geometry(x, top, BAR_W, vspan)} fill="url(#ylgnbu)"/>`);
  for (let v = 0; v <= 100; v += 20) {
    const ty = top + vspan - (v / 100) * vspan;
    out.push(tick(x + BAR_W, ty, x + BAR_W + TICK, ty));
    out.push(text(x + BAR_W + TICK + LABEL_GAP, ty, String(v), TICK_SIZE, "start"));
  }
  const barRight = textWidth("100", TICK_SIZE); // the widest label
  const labelX = x + BAR_W + TICK + LABEL_GAP + barRight + 10 + labelH / 2;
  out.push(svgText(labelX, top + vspan / 2, "Accuracy (%)", TICK_SIZE, "middle", INK, true));
  const stops = YLGNBU.map((c, k) =>
    `<stop offset="${+(1 - k / (YLGNBU.length - 1)).toFixed(4)}" stop-color="${c}"/>`
  ).reverse().join("");
  const gradient =
    `<linearGradient id="ylgnbu" x1="0" y1="0" x2="0" y2="1">${stops}</linearGradient>`;
  const width = Math.ceil(labelX + labelH / 2 + PAD);
  return svgDocument(width, top + vspan + bottom + PAD, out, gradient);
}
