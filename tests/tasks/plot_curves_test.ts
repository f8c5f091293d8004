import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { curvesToSvg } from "../../tasks/plot/curves.ts";
import { readCurveRun } from "../../tasks/plot/input.ts";

const TASK = new URL("../../tasks/plot.ts", import.meta.url).href;

/** Rows of a small training log: loss falling then rising once, lr warming up then flat. */
const ROWS = [
  { step: 1, loss: 3, lr: 0 },
  { step: 2, loss: 1.5, lr: 0.0005 },
  { step: 4, loss: 0.2, lr: 0.001 },
  { step: 8, loss: 0.05, lr: 0.001 },
  { step: 9, loss: 0.08, lr: 0.001 },
];

/** Writes `lines` as a metrics.jsonl in a new temp dir; returns [dir, file]. */
async function metricsFile(lines: string[]): Promise<[string, string]> {
  const dir = await Deno.makeTempDir();
  const file = join(dir, "metrics.jsonl");
  await Deno.writeTextFile(file, lines.join("\n") + "\n");
  return [dir, file];
}

/** Runs the plot task in a subprocess; returns exit code, stdout and stderr. */
async function plot(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TASK, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout), err: d.decode(r.stderr) };
}

/** A polyline's points as [x, y] pairs. */
function polyline(svg: string, panel: string, k = 0): [number, number][] {
  const all = [...svg.matchAll(/<polyline class="curve" data-panel="(\w+)"[^>]* points="([^"]*)"/g)]
    .filter((m) => m[1] === panel);
  return all[k][2].split(" ").map((p) => p.split(",").map(Number) as [number, number]);
}

/** The plot-area rectangle of a panel. */
function area(svg: string, panel: string): { x: number; y: number; w: number; h: number } {
  const m = new RegExp(
    `class="plot-area" data-panel="${panel}" x="([\\d.]+)" y="([\\d.]+)" ` +
      `width="([\\d.]+)" height="([\\d.]+)"`,
  ).exec(svg)!;
  return { x: +m[1], y: +m[2], w: +m[3], h: +m[4] };
}

Deno.test("curves: SVG polylines have one point per row at the documented positions", () => {
  const svg = curvesToSvg([{ name: "run", points: ROWS }]);
  ok(svg.includes(`font-family="'DejaVu Sans', Verdana, sans-serif"`));
  ok(svg.includes(">Training loss<") && svg.includes(">Learning rate<"));
  // Loss axis: decades 10^-2 (below 0.05) .. 10^1 (above 3); x: steps 1..9.
  const la = area(svg, "loss");
  deepStrictEqual(la, { x: 70, y: 40, w: 550, h: 200 });
  const loss = polyline(svg, "loss");
  strictEqual(loss.length, ROWS.length);
  ROWS.forEach((r, k) => {
    const x = la.x + (la.w * (r.step - 1)) / 8;
    const y = la.y + la.h * (1 - (Math.log10(r.loss) + 2) / 3);
    ok(Math.abs(loss[k][0] - x) < 0.01, `loss x ${k}: ${loss[k][0]} vs ${x}`);
    ok(Math.abs(loss[k][1] - y) < 0.01, `loss y ${k}: ${loss[k][1]} vs ${y}`);
  });
  // y grows (downwards) exactly where the loss falls, and back.
  for (let k = 1; k < ROWS.length; k++) {
    strictEqual(loss[k][1] > loss[k - 1][1], ROWS[k].loss < ROWS[k - 1].loss);
  }
  // Learning-rate axis: 0 .. 0.001 linear.
  const ra = area(svg, "lr");
  deepStrictEqual(ra, { x: 70, y: 320, w: 550, h: 200 });
  const lr = polyline(svg, "lr");
  strictEqual(lr.length, ROWS.length);
  ROWS.forEach((r, k) => {
    const y = ra.y + ra.h * (1 - r.lr / 0.001);
    ok(Math.abs(lr[k][1] - y) < 0.01, `lr y ${k}: ${lr[k][1]} vs ${y}`);
  });
  ok(!svg.includes('class="legend"'), "one run: no legend");
});

Deno.test("curves: several runs get one line each and a legend", () => {
  const svg = curvesToSvg([
    { name: "a<b", points: ROWS },
    { name: "second", points: ROWS.slice(0, 3) },
  ]);
  strictEqual(polyline(svg, "loss", 1).length, 3);
  strictEqual((svg.match(/class="legend"/g) ?? []).length, 2);
  ok(svg.includes(">a&lt;b<") && svg.includes(">second<"));
});

Deno.test("curves: a run folder merges resumed segments in step order", async () => {
  const dir = await Deno.makeTempDir();
  const seg = (t: string) => join(dir, "myrun", "pretrain", "2026-12-05", t);
  await Deno.mkdir(seg("00-00-00"), { recursive: true });
  await Deno.mkdir(seg("01-00-00"), { recursive: true });
  const line = (s: number, l: number) => JSON.stringify({ step: s, loss: l, lr: 0.1, tokens: 9 });
  await Deno.writeTextFile(
    join(seg("00-00-00"), "metrics.jsonl"),
    [line(1, 3), line(2, 2), line(3, 9), '{"event":"checkpoint","step":2,"loss":2}'].join("\n"),
  );
  await Deno.writeTextFile(
    join(seg("01-00-00"), "metrics.jsonl"),
    [line(3, 1), line(4, 0.5)].join("\n"),
  );
  const run = await readCurveRun(join(dir, "myrun"));
  strictEqual(run.name, "myrun");
  deepStrictEqual(run.points.map((p) => [p.step, p.loss]), [[1, 3], [2, 2], [3, 1], [4, 0.5]]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("curves: deno task plot writes SVG and PNG beside the metrics file", async () => {
  const [dir, file] = await metricsFile(ROWS.map((r) => JSON.stringify({ ...r, tokens: 64 })));
  const r = await plot(file, "--scale", "2");
  strictEqual(r.code, 0, r.err);
  const name = dir.split("/").at(-1);
  const svgPath = join(dir, `${name}_curves.svg`), pngPath = join(dir, `${name}_curves.png`);
  deepStrictEqual(r.out.trim().split("\n"), [svgPath, pngPath]);
  strictEqual(polyline(await Deno.readTextFile(svgPath), "loss").length, ROWS.length);
  const png = await Deno.readFile(pngPath);
  const view = new DataView(png.buffer, png.byteOffset);
  strictEqual(new TextDecoder().decode(png.subarray(12, 16)), "IHDR");
  strictEqual(view.getUint32(16), 1280);
  strictEqual(view.getUint32(20), 1150);
  const named = await plot(file, "--out", join(dir, "o"), "--name", "c", "--format", "svg");
  strictEqual(named.code, 0, named.err);
  strictEqual((await Deno.stat(join(dir, "o", "c.svg"))).isFile, true);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("curves: bad input is one line naming the file (and line), exit 1", async () => {
  const [dir, file] = await metricsFile(['{"step": 1, "loss": 2}', '{"step": 2, "loss":']);
  const bad = await plot(file);
  strictEqual(bad.code, 1);
  strictEqual(bad.err.trim(), `${file}:2: malformed JSON line: {"step": 2, "loss":`);
  await Deno.writeTextFile(file, '{"event": "test", "loss": 1}\n{"step": 1}\n');
  const empty = await plot(file);
  strictEqual(empty.code, 1);
  strictEqual(empty.err.trim(), `${file}: no loss rows (objects with numeric "step" and "loss")`);
  const missing = await plot(join(dir, "none.jsonl"));
  strictEqual(missing.code, 1);
  strictEqual(missing.err.trim(), `Cannot read ${join(dir, "none.jsonl")}: no such file or folder`);
  const mixed = await plot(file, join(dir, "x.json"));
  strictEqual(mixed.code, 1);
  strictEqual(mixed.err.trim(), "Cannot mix training metrics and evaluation results in one plot");
  for (const r of [bad, empty, missing, mixed]) strictEqual(r.err.trim().split("\n").length, 1);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("curves: --help describes metrics inputs", async () => {
  const r = await plot("--help");
  strictEqual(r.code, 0);
  ok(r.out.includes("FILE.jsonl") && r.out.includes("_curves.svg"));
});
