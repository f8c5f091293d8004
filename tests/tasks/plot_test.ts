import { deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import { crc32 as zlibCrc32, inflateSync } from "node:zlib";
import { join } from "node:path";
import { heatmapSvg } from "../../tasks/plot/heatmap.ts";
import { readPanel } from "../../tasks/plot/input.ts";
import { writeFigure } from "../../tasks/plot/render.ts";
import { escapeXml, svgDocument, svgText, textWidth } from "../../tasks/plot/svg.ts";
import type { Cell, HeatmapPanel } from "../../tasks/plot/types.ts";

const TASK = new URL("../../tasks/plot.ts", import.meta.url).href;

/** Cells i in 1..rows, j in 1..cols with `correct = f(i, j)` of 100, minus those `skip` drops. */
function grid(
  rows: number,
  cols: number,
  f: (i: number, j: number) => number,
  skip = (_i: number, _j: number) => false,
): Cell[] {
  const out: Cell[] = [];
  for (let i = 1; i <= rows; i++) {
    for (let j = 1; j <= cols; j++) {
      if (!skip(i, j)) out.push({ i, j, correct: f(i, j), total: 100 });
    }
  }
  return out;
}

/** Two panels: addition 4x5 (cell (4, 5) missing, (1, 1) at 100%) and sorting 3x3. */
const PANELS: HeatmapPanel[] = [
  {
    title: "Abacus",
    cells: grid(
      4,
      5,
      (i, j) => (i === 1 && j === 1 ? 100 : 10 * (i + j)),
      (i, j) => i === 4 && j === 5,
    ),
    trainRange: [[1, 2], [1, 3]],
  },
  { title: "NoPE", kind: "sorting", cells: grid(3, 3, () => 50), trainRange: [[1, 2], [1, 2]] },
];

/** The PNG the plot task writes for an SVG at `scale` pixels per unit. */
async function svgToPng(svg: string, scale: number): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir();
  try {
    const [path] = await writeFigure(svg, { dir, name: "f", formats: ["png"], scale });
    return await Deno.readFile(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The heatmap's SVG and the PNG rendered from it, as the plot task writes them. */
async function drawHeatmaps(
  panels: HeatmapPanel[],
  options: { annotate?: boolean; scale?: number } = {},
): Promise<{ svg: string; png: Uint8Array }> {
  const svg = heatmapSvg(panels, options.annotate);
  return { svg, png: await svgToPng(svg, options.scale ?? 1) };
}

/** Checks XML well-formedness (one root, balanced tags, quoted unique attributes, entities). */
function assertWellFormedXml(xml: string): void {
  const token =
    /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[A-Za-z_][\w.:-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>|([^<]+)/y;
  const entity = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;
  const stack: string[] = [];
  let roots = 0, at = 0;
  while (at < xml.length) {
    token.lastIndex = at;
    const m = token.exec(xml);
    if (!m) throw new Error(`XML: bad markup at ${at}: ${xml.slice(at, at + 40)}`);
    at = token.lastIndex;
    const [, close, name, attrs, selfClose, text] = m;
    if (text !== undefined) {
      ok(!entity.test(text), `XML: bare & in text near ${at}`);
      ok(stack.length > 0 || !text.trim(), `XML: text outside the root near ${at}`);
    } else if (name && close) {
      strictEqual(stack.pop(), name, `XML: </${name}> closes the wrong element`);
    } else if (name) {
      const keys = [...attrs.matchAll(/([\w.:-]+)\s*=\s*("[^"]*"|'[^']*')/g)];
      strictEqual(
        new Set(keys.map((k) => k[1])).size,
        keys.length,
        `XML: duplicate attribute on <${name}>`,
      );
      for (const k of keys) ok(!entity.test(k[2]), `XML: bare & in attribute ${k[1]}`);
      if (stack.length === 0) roots++;
      if (!selfClose) stack.push(name);
    }
  }
  deepStrictEqual(stack, [], "XML: unclosed elements");
  strictEqual(roots, 1, "XML: expected exactly one root element");
}

/** Parses a PNG, verifying chunk CRCs and the IDAT size; returns RGB(A) rows unfiltered. */
function decodePng(
  png: Uint8Array,
): { width: number; height: number; channels: number; px: Uint8Array } {
  deepStrictEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  const v = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let at = 8, width = 0, height = 0, channels = 0;
  const idat: Uint8Array[] = [];
  const types: string[] = [];
  while (at < png.length) {
    const len = v.getUint32(at);
    const type = new TextDecoder().decode(png.subarray(at + 4, at + 8));
    const data = png.subarray(at + 8, at + 8 + len);
    strictEqual(
      v.getUint32(at + 8 + len),
      zlibCrc32(png.subarray(at + 4, at + 8 + len)),
      `CRC of ${type}`,
    );
    types.push(type);
    if (type === "IHDR") {
      [width, height] = [v.getUint32(at + 8), v.getUint32(at + 12)];
      strictEqual(data[8], 8, "bit depth");
      channels = data[9] === 2 ? 3 : data[9] === 6 ? 4 : 0;
      ok(channels > 0, "colour type RGB or RGBA");
    }
    if (type === "IDAT") idat.push(data);
    at += 12 + len;
  }
  strictEqual(types[0], "IHDR");
  strictEqual(types.at(-1), "IEND");
  const joined = new Uint8Array(idat.reduce((n, d) => n + d.length, 0));
  idat.reduce((o, d) => (joined.set(d, o), o + d.length), 0);
  const raw = new Uint8Array(inflateSync(joined));
  const stride = width * channels;
  strictEqual(
    raw.length,
    height * (1 + stride),
    "IDAT inflates to height * (1 + width * channels)",
  );
  const px = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x++) {
      const r = raw[y * (stride + 1) + 1 + x];
      const a = x >= channels ? px[y * stride + x - channels] : 0;
      const b = y > 0 ? px[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? px[(y - 1) * stride + x - channels] : 0;
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const pred = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][f];
      px[y * stride + x] = r + pred;
    }
  }
  return { width, height, channels, px };
}

type Image = ReturnType<typeof decodePng>;

/** The RGB of the pixel containing point (x, y). */
function pixel(img: Image, x: number, y: number): number[] {
  const o = (Math.floor(y) * img.width + Math.floor(x)) * img.channels;
  return [...img.px.subarray(o, o + 3)];
}

/** "#rrggbb" as [r, g, b]. */
function rgb(hex: string): number[] {
  return [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
}

/** Asserts two colours differ by at most `tol` in every channel. */
function near(got: number[], want: number[], tol: number, what: string): void {
  ok(got.every((v, k) => Math.abs(v - want[k]) <= tol), `${what}: got ${got}, want ${want}`);
}

/** The attributes of every element `<name ...>` in the SVG by name, and its text as "#text". */
function svgElements(svg: string, name: string): Record<string, string>[] {
  return [...svg.matchAll(new RegExp(`<${name}\\s([^>]*)>([^<]*)`, "g"))].map((m) => ({
    ...Object.fromEntries([...m[1].matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]])),
    "#text": m[2],
  }));
}

/** Counts pixels darker than 110 in every channel inside the box [x0, x1) x [y0, y1). */
function darkPixels(img: Image, x0: number, y0: number, x1: number, y1: number): number {
  let n = 0;
  for (let y = Math.max(0, Math.floor(y0)); y < Math.min(img.height, y1); y++) {
    for (let x = Math.max(0, Math.floor(x0)); x < Math.min(img.width, x1); x++) {
      if (pixel(img, x, y).every((v) => v < 110)) n++;
    }
  }
  return n;
}

Deno.test("heatmap: well-formed SVG with axis labels, a rect per cell and the training box", async () => {
  const { svg } = await drawHeatmaps(PANELS);
  assertWellFormedXml(svg);
  for (
    const label of [
      "1st Number Length",
      "2nd Number Length",
      "Maximum n-digit number (1-n)",
      "Length of array to sort",
    ]
  ) {
    ok(svg.includes(`>${label}</text>`), label);
  }
  strictEqual(svg.match(/<rect class="cell"/g)?.length, 19 + 9);
  strictEqual(svg.match(/<rect class="missing" data-i="4" data-j="5"/g)?.length, 1);
  strictEqual(svg.match(/<rect class="train-box"[^>]*stroke="#ff0000"/g)?.length, 2);
  ok(svg.includes(">Abacus</text>") && svg.includes(">NoPE (mean 50.0%)</text>"));
  ok(
    svg.includes(">100</text>") && svg.includes(">50.0</text>"),
    "annotations: .0f and sorting .1f",
  );
});

Deno.test("heatmap: the PNG is the SVG's size times the scale, with valid chunks", async () => {
  const [one, two] = await Promise.all([1, 2].map((scale) => drawHeatmaps(PANELS, { scale })));
  strictEqual(one.svg, two.svg, "the scale changes only the PNG");
  const [root] = svgElements(one.svg, "svg");
  const [w, h] = [Number(root.width), Number(root.height)];
  strictEqual(root.viewBox, `0 0 ${w} ${h}`);
  for (const [scale, { png }] of [[1, one], [2, two]] as const) {
    const img = decodePng(png);
    deepStrictEqual([img.width, img.height], [w * scale, h * scale], `scale ${scale}`);
    ok(img.channels === 3 || img.channels === 4);
  }
  await rejects(svgToPng(one.svg, 0), /scale 0/);
});

Deno.test("heatmap: the PNG paints each cell centre its SVG fill, the box red", async () => {
  const s = 2;
  const { svg, png } = await drawHeatmaps(PANELS, { scale: s, annotate: false });
  const img = decodePng(png);
  const cells = svgElements(svg, "rect").filter((r) => r.class === "cell" || r.class === "missing");
  strictEqual(cells.length, 20 + 9);
  const fills = new Set(cells.map((c) => c.fill));
  ok(fills.has("#081d58") && fills.has("#d9d9d9") && fills.size > 5, [...fills].join(" "));
  for (const c of cells) {
    const [x, y, cw, ch] = [c.x, c.y, c.width, c.height].map(Number);
    near(pixel(img, (x + cw / 2) * s, (y + ch / 2) * s), rgb(c.fill), 2, `cell ${c["data-i"]}`);
  }
  const boxes = svgElements(svg, "rect").filter((r) => r.class === "train-box");
  strictEqual(boxes.length, 2);
  for (const b of boxes) {
    const [x, y, bw, bh] = [b.x, b.y, b.width, b.height].map(Number);
    near(pixel(img, x * s, (y + bh / 2) * s), rgb(b.stroke), 2, "left edge of the box");
    near(pixel(img, (x + bw) * s, (y + bh / 2) * s), rgb(b.stroke), 2, "right edge of the box");
    near(pixel(img, (x + bw / 2) * s, (y + bh) * s), rgb(b.stroke), 2, "bottom edge of the box");
  }
});

Deno.test("heatmap: the PNG draws titles and labels where the SVG puts them", async () => {
  const { svg, png } = await drawHeatmaps(PANELS, { annotate: false });
  ok(svg.includes(`font-family="'DejaVu Sans',`), "the SVG names the font the renderer has");
  const img = decodePng(png);
  const texts = svgElements(svg, "text");
  for (const label of ["Abacus", "NoPE (mean 50.0%)", "2nd Number Length"]) {
    const t = texts.find((e) => e["#text"] === escapeXml(label))!;
    strictEqual(t["text-anchor"], "middle", label);
    const [x, y, size] = [t.x, t.y, t["font-size"]].map(Number);
    const w = textWidth(label, size / 10);
    const dark = darkPixels(img, x - w / 2, y - size / 2, x + w / 2, y + size / 2);
    ok(dark > 4 * size && dark < 0.6 * w * size, `${label}: ${dark} dark pixels`);
  }
});

Deno.test("textWidth() matches the ink the renderer draws, less side bearings", async () => {
  for (const [text, size] of [["Abacus", 3], ["1st Number Length", 2], ["100", 2]] as const) {
    const w = textWidth(text, size);
    const svg = svgDocument(w + 20, 40, [svgText(10, 20, text, size, "start", "#000000")]);
    const img = decodePng(await svgToPng(svg, 1));
    let left = img.width, right = -1;
    for (let y = 0; y < img.height; y++) {
      for (let x = 0; x < img.width; x++) {
        if (pixel(img, x, y)[0] < 128) [left, right] = [Math.min(left, x), Math.max(right, x)];
      }
    }
    const ink = right - left + 1;
    ok(left >= 10 && ink <= w && ink >= w - 3 * size, `${text}: ink ${left}+${ink}, advance ${w}`);
  }
});

/** The text of every `<text>` element of an SVG. */
function texts(svg: string): string[] {
  return svgElements(svg, "text").map((t) => t["#text"]);
}

Deno.test("heatmapSvg() colours cells on YlGnBu; annotations dark on light cells, white on dark", () => {
  // ColorBrewer's nine YlGnBu anchors, 0% to 100%, linear in sRGB between them.
  const anchors = ["#ffffd9", "#edf8b1", "#c7e9b4", "#7fcdbb", "#41b6c4", "#1d91c0", "#225ea8"]
    .concat(["#253494", "#081d58"]).map(rgb);
  const want = (p: number) => {
    const x = (p / 100) * 8, k = Math.min(Math.floor(x), 7);
    const c = anchors[k].map((v, n) => Math.round(v + (anchors[k + 1][n] - v) * (x - k)));
    return "#" + c.map((v) => v.toString(16).padStart(2, "0")).join("");
  };
  const percents = [0, 30, 50, 100];
  const cells = percents.map((correct, k) => ({ i: 1, j: k + 1, correct, total: 100 }));
  const svg = heatmapSvg([{ cells }]);
  const rects = svgElements(svg, "rect").filter((r) => r.class === "cell");
  deepStrictEqual(rects.map((r) => r.fill), percents.map(want));
  deepStrictEqual(rects.map((r) => r.fill), ["#ffffd9", "#aadeb7", "#41b6c4", "#081d58"]);
  const inks = rects.map((r) => {
    const [x, y] = [+r.x + +r.width / 2, +r.y + +r.height / 2];
    return svgElements(svg, "text").find((t) => +t.x === x && +t.y === y)?.fill;
  });
  // Seaborn's rule: dark text where the WCAG relative luminance is above 0.408.
  const luminance = (hex: string) => {
    const [r, g, b] = rgb(hex).map((c) => c / 255)
      .map((c) => c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  deepStrictEqual(inks, rects.map((r) => luminance(r.fill) > 0.408 ? "#262626" : "#ffffff"));
  deepStrictEqual(inks, ["#262626", "#262626", "#ffffff", "#ffffff"]);
});

Deno.test("heatmapSvg() annotates small grids only and ticks every 10 on a 100x100 grid", () => {
  const big = texts(heatmapSvg([{ cells: grid(100, 100, (i, j) => (i + j) % 101) }]));
  ok(big.length < 40, `no annotations (${big.length} texts)`);
  for (const t of ["10", "50", "90"]) strictEqual(big.filter((x) => x === t).length, 2, t); // x and y
  strictEqual(big.filter((x) => x === "100").length, 3); // x, y and the colour bar
  ok(!big.includes("15") && !big.includes("1"));
  const small = texts(heatmapSvg([{ cells: grid(2, 2, () => 97) }]));
  strictEqual(small.filter((x) => x === "97").length, 4);
  throws(() => heatmapSvg([{ cells: [] }]), /no cells/);
  throws(() => heatmapSvg([{ cells: [{ i: 1, j: 1, correct: 5, total: 4 }] }]), /not a rate/);
});

Deno.test("heatmapSvg() labels an offset grid's axes by the tick rule; sorting means drawn cells", () => {
  // Rows 26..40, columns 101..160, one cell without results: a sorting grid, not annotated.
  const cells = grid(40, 160, (i, j) => (i * j) % 101, (i, j) => i < 26 || j < 101)
    .filter((c) => !(c.i === 30 && c.j === 130));
  const svg = heatmapSvg([{ cells, kind: "sorting", title: "S" }]);
  const label = (anchor: string) =>
    svgElements(svg, "text").filter((t) => t["text-anchor"] === anchor && /^\d+$/.test(t["#text"]))
      .map((t) => Number(t["#text"]));
  // The rule: multiples of the step, and the first length only when a whole step before them.
  const ticks = (first: number, last: number, step: number) => {
    const out = [];
    for (let v = first; v <= last; v++) {
      if (v % step === 0 || (v === first && Math.ceil(v / step) * step - v >= step)) out.push(v);
    }
    return out;
  };
  const y = label("end"), x = label("middle");
  const step = y[1] - y[0];
  ok([1, 2, 5, 10].includes(step), `step ${step}`);
  deepStrictEqual(y, ticks(26, 40, step));
  deepStrictEqual(x, ticks(101, 160, step));
  strictEqual(svg.match(/<rect class="missing" data-i="30" data-j="130"/g)?.length, 1);
  const mean = cells.reduce((s, c) => s + c.correct, 0) / cells.length; // total is 100
  ok(svg.includes(`>S (mean ${mean.toFixed(1)}%)</text>`), "mean over the drawn cells");
});

Deno.test("readPanel() merges shard folders as a union and rejects a cell with two results", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cell = (i: number, j: number, correct: number) =>
      JSON.stringify({ i, j, correct, total: 10, grid: "multiplication" });
    await Deno.mkdir(join(dir, "run", "downstream", "shard_1of2"), { recursive: true });
    await Deno.mkdir(join(dir, "run", "downstream", "shard_2of2"));
    await Deno.writeTextFile(
      join(dir, "run", "downstream", "shard_1of2", "cell_1_1.json"),
      cell(1, 1, 3),
    );
    await Deno.writeTextFile(
      join(dir, "run", "downstream", "shard_2of2", "cell_1_2.json"),
      cell(1, 2, 4),
    );
    await Deno.writeTextFile(
      join(dir, "run", "downstream", "shard_2of2", "cell_1_1.json"),
      cell(1, 1, 3),
    );
    const p = await readPanel([join(dir, "run", "downstream")]);
    deepStrictEqual(p.cells.map((c) => [c.i, c.j, c.correct]), [[1, 1, 3], [1, 2, 4]]);
    deepStrictEqual([p.name, p.kind, p.trainRange], ["run", "multiplication", undefined]);
    await Deno.writeTextFile(
      join(dir, "run", "downstream", "shard_2of2", "cell_1_1.json"),
      cell(1, 1, 9),
    );
    await rejects(readPanel([join(dir, "run")]), /cell \(1, 1\) is 9\/10 here but 3\/10 in/);
    await Deno.writeTextFile(join(dir, "run", "downstream", "cell_2_2.json"), cell(2, 3, 1));
    await rejects(readPanel([join(dir, "run")]), /name says cell \(2, 2\) but it holds \(2, 3\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Runs the plot task as a remote script from `cwd`. */
async function runTask(
  cwd: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TASK, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  });
  const { code, stdout, stderr } = await cmd.output();
  const dec = new TextDecoder();
  return { code, stdout: dec.decode(stdout), stderr: dec.decode(stderr) };
}

Deno.test("plot task, run as a remote script from another folder, writes SVG and PNG; bad input exits 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "runs"));
    const doc = { grid: "addition", train_range: [[1, 2], [1, 2]], cells: grid(3, 3, () => 90) };
    await Deno.writeTextFile(join(dir, "runs", "abacus.json"), JSON.stringify(doc));
    await Deno.writeTextFile(
      join(dir, "runs", "nope.json"),
      JSON.stringify({ ...doc, name: "NoPE" }),
    );
    await Deno.writeTextFile(join(dir, "runs", "broken.json"), '{"cells": [');
    const [good, missing, broken, flag] = await Promise.all([
      runTask(dir, ["runs/abacus.json", "runs/nope.json", "--out", "plots", "--title", "Abacus"]),
      runTask(dir, ["runs/absent.json"]),
      runTask(dir, ["runs/broken.json"]),
      runTask(dir, ["runs/abacus.json", "--colour", "red"]),
    ]);
    strictEqual(good.code, 0, good.stderr);
    const svg = await Deno.readTextFile(join(dir, "plots", "abacus_NoPE_heatmap.svg"));
    ok(svg.includes(">Abacus</text>") && svg.includes(">NoPE</text>"));
    decodePng(await Deno.readFile(join(dir, "plots", "abacus_NoPE_heatmap.png")));
    for (
      const [bad, why] of [[missing, /absent\.json: no such file/], [
        broken,
        /broken\.json: malformed JSON/,
      ], [flag, /Unknown flag --colour/]] as const
    ) {
      strictEqual(bad.code, 1);
      strictEqual(bad.stderr.trimEnd().split("\n").length, 1, bad.stderr);
      ok(why.test(bad.stderr), bad.stderr);
      strictEqual(bad.stdout, "");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
