import { deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import { crc32 as zlibCrc32, inflateSync } from "node:zlib";
import { join } from "node:path";
import { plotHeatmaps } from "../../tasks/plot.ts";
import { readPanel } from "../../tasks/plot/input.ts";
import { layoutHeatmaps } from "../../tasks/plot/layout.ts";
import { encodePng } from "../../tasks/plot/png.ts";
import type { BoxShape, Cell, HeatmapPanel, RectShape } from "../../tasks/plot/types.ts";

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

function pixel(img: ReturnType<typeof decodePng>, x: number, y: number): number[] {
  const o = (Math.floor(y) * img.width + Math.floor(x)) * img.channels;
  return [...img.px.subarray(o, o + 3)];
}

Deno.test("plotHeatmaps() writes well-formed SVG with axis labels, a rect per cell and the training box", () => {
  const { svg } = plotHeatmaps(PANELS);
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

Deno.test("plotHeatmaps() PNG has a valid signature, IHDR size, chunk CRCs and IDAT length", () => {
  const fig = layoutHeatmaps(PANELS);
  const img = decodePng(plotHeatmaps(PANELS, { scale: 2 }).png);
  deepStrictEqual([img.width, img.height, img.channels], [fig.width * 2, fig.height * 2, 3]);
  const rgba = decodePng(
    encodePng(new Uint8Array(2 * 3 * 4).fill(7), { width: 2, height: 3, channels: 4 }),
  );
  deepStrictEqual([rgba.width, rgba.height, rgba.channels, rgba.px[23]], [2, 3, 4, 7]);
  throws(() => encodePng(new Uint8Array(5), { width: 2, height: 1 }), /expected 6/);
});

Deno.test("plotHeatmaps() PNG paints a 100% cell YlGnBu navy, 0% light yellow, and the box red", () => {
  const s = 2;
  const cells = grid(3, 3, (i) => (i === 1 ? 100 : 0));
  const panels: HeatmapPanel[] = [{ cells, trainRange: [[1, 2], [1, 2]] }];
  const shapes = layoutHeatmaps(panels).shapes;
  const img = decodePng(plotHeatmaps(panels, { scale: s }).png);
  const cell = (i: number, j: number) =>
    shapes.find((x): x is RectShape => x.kind === "rect" && x.cell?.i === i && x.cell?.j === j)!;
  const full = cell(1, 3), empty = cell(3, 3);
  deepStrictEqual(pixel(img, (full.x + full.w - 2) * s, (full.y + full.h - 2) * s), [8, 29, 88]);
  deepStrictEqual(pixel(img, (empty.x + 3) * s, (empty.y + 3) * s), [255, 255, 217]);
  const box = shapes.find((x): x is BoxShape => x.kind === "box")!;
  const red = [255, 0, 0];
  deepStrictEqual(pixel(img, box.x * s, (box.y + box.h / 2) * s), red); // left edge
  deepStrictEqual(pixel(img, (box.x + box.w) * s, (box.y + box.h / 2) * s), red); // right edge
  deepStrictEqual(pixel(img, (box.x + box.w / 2) * s, (box.y + box.h) * s), red); // bottom edge
  deepStrictEqual([box.x, box.y, box.w, box.h], [
    full.x - 2 * full.w,
    full.y,
    2 * full.w,
    2 * full.h,
  ]);
});

Deno.test("layoutHeatmaps() annotates small grids only and ticks every 10 on a 100x100 grid", () => {
  const big = layoutHeatmaps([{ cells: grid(100, 100, (i, j) => (i + j) % 101) }]);
  const texts = big.shapes.filter((x) => x.kind === "text").map((x) =>
    x.kind === "text" ? x.text : ""
  );
  ok(texts.length < 40, `no annotations (${texts.length} texts)`);
  for (const t of ["10", "50", "90"]) strictEqual(texts.filter((x) => x === t).length, 2, t); // x and y
  strictEqual(texts.filter((x) => x === "100").length, 3); // x, y and the colour bar
  ok(!texts.includes("15") && !texts.includes("1"));
  const small = layoutHeatmaps([{ cells: grid(2, 2, () => 97) }]);
  strictEqual(small.shapes.filter((x) => x.kind === "text" && x.text === "97").length, 4);
  throws(() => layoutHeatmaps([{ cells: [] }]), /no cells/);
  throws(() => layoutHeatmaps([{ cells: [{ i: 1, j: 1, correct: 5, total: 4 }] }]), /not a rate/);
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
