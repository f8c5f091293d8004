/**
 * The server's HTML: the runs list, the run page (loss and learning-rate curves drawn by the
 * plot task's SVG code and refreshed from server-sent events, every evaluation's heatmap with its
 * ID/OOD means, several runs side by side) and the playground's form. Every value from disk is
 * escaped; scripts are served as assets (the pages' Content-Security-Policy allows no inline
 * script).
 * @module
 */
import { curvesToSvg } from "../plot/curves.ts";
import { heatmapSvg } from "../plot/heatmap.ts";
import { escapeXml } from "../plot/svg.ts";
import type { EvalInfo, RunInfo } from "./runs.ts";

const STYLE = `
body { font: 14px/1.4 "DejaVu Sans", Verdana, sans-serif; margin: 1.5em; color: #222; }
a { color: #1f5fa8; } h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 3px 7px; }
th { background: #f3f3f3; text-align: left; } .num { text-align: right; }
.training { color: #c05800; font-weight: bold; } .finished { color: #2a7d2a; }
.row { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
nav { margin-bottom: 1em; } nav a { margin-right: 1em; }
#answer { font: bold 2em monospace; } #tokens td.gen { background: #e8f1fb; }
#tokens td { font-family: monospace; text-align: center; } .err { color: #b00; }
#probs li { font-family: monospace; }
`;

function page(title: string, body: string, script?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style></head>
<body><nav><a href="/">runs</a><a href="/play">playground</a></nav>
${body}
${script ? `<script type="module" src="${script}"></script>` : ""}
</body></html>
`;
}

/** A run's config in one line, escaped: preset or dataset, architecture and budget. */
function configSummary(config: Record<string, unknown> | null): string {
  if (!config) return "";
  const o = (v: unknown): Record<string, unknown> =>
    v && typeof v === "object" ? v as Record<string, unknown> : {};
  const arch = o(config.arch), train = o(config.train), data = o(config.data);
  const parts: string[] = [];
  if (typeof config.preset === "string") parts.push(config.preset);
  else if (typeof data.dataset === "string") parts.push(data.dataset);
  const layers = [arch.layers_in_recurrent_block, arch.maximal_recurrence].join("x");
  const bits = [`${layers} layers`, `width ${arch.hidden_size}`];
  const pos = o(arch.embedding).pos_embedding;
  bits.push(typeof pos === "string" ? pos : "no positions");
  if (typeof train.budget_steps === "number") bits.push(`${train.budget_steps} steps`);
  parts.push(bits.join(", "));
  return escapeXml(parts.join(" · "));
}

function pct(v: number | null): string {
  return v === null ? "–" : `${(100 * v).toFixed(1)}%`;
}

function loss(v: number | undefined | null): string {
  return v === undefined || v === null ? "–" : v.toFixed(4);
}

function statusCell(r: RunInfo): string {
  return `<span class="${r.status === "no metrics" ? "" : r.status}">${r.status}</span>`;
}

/** A link to the playground with the run's newest checkpoint; none without a checkpoint. */
function playLink(r: RunInfo, text: string): string {
  if (r.checkpoints.length === 0) return "";
  return `<a href="/play?run=${encodeURIComponent(r.name)}">${text}</a>`;
}

/**
 * The runs list: one row per run with its config, status, steps, last loss and checkpoints, and
 * a form to open several runs side by side.
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { runsPage } from "./pages.ts";
 * ok(runsPage("/tmp/x", []).includes("No runs under /tmp/x"));
 * ```
 * @param baseDir shown in the heading
 */
export function runsPage(baseDir: string, runs: RunInfo[]): string {
  const base = escapeXml(baseDir);
  const rows = runs.map((r) => {
    const last = r.points.at(-1), name = escapeXml(r.name);
    const cks = r.checkpoints.map((c) => escapeXml(c.name)).join(", ") || "–";
    return `<tr><td><input type="checkbox" name="name" value="${name}"></td>
<td><a href="/run?name=${encodeURIComponent(r.name)}">${name}</a></td>\
<td>${configSummary(r.config)}</td><td>${statusCell(r)}</td>
<td class="num">${last?.step ?? "–"}</td><td class="num">${loss(last?.loss)}</td>
<td class="num">${pct(r.testExactMatch)}</td><td>${cks}</td>
<td>${playLink(r, "play")}</td></tr>`;
  });
  const table = runs.length === 0
    ? `<p>No runs under ${base} (a run is a folder with pretrain/ or checkpoints/).</p>`
    : `<form action="/run" method="get"><table id="runs"><tr><th></th><th>run</th><th>config</th>
<th>status</th><th>steps</th><th>last loss</th><th>test exact match</th><th>checkpoints</th>
<th></th></tr>
${rows.join("\n")}</table><p><button type="submit">compare selected</button></p></form>`;
  return page("abacus runs", `<h1>Runs in ${base}</h1>\n${table}`);
}

/**
 * The loss and learning-rate curves of runs as SVG, or a note when no run has logged a step.
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { curvesFigure } from "./pages.ts";
 * ok(curvesFigure([]).includes("no training metrics"));
 * ```
 * @returns SVG text or an HTML paragraph
 */
export function curvesFigure(runs: RunInfo[]): string {
  const withPoints = runs.filter((r) => r.points.length > 0);
  if (withPoints.length === 0) return `<p>no training metrics yet</p>`;
  return curvesToSvg(withPoints);
}

/**
 * The run page for one or several runs: per run its status line and checkpoints, the curves
 * (live), and per evaluation grid the runs' heatmaps side by side with their ID/OOD means.
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { runPage } from "./pages.ts";
 * const run = { name: "t", configPath: null, config: null, status: "finished" as const,
 *   points: [{ step: 1, loss: 1, lr: 0 }], testExactMatch: null, checkpoints: [] };
 * ok(runPage([run], [[]]).includes('id="curves"'));
 * ```
 * @param evals each run's evaluations, in run order
 */
export function runPage(runs: RunInfo[], evals: EvalInfo[][]): string {
  const heads = runs.map((r) => {
    const last = r.points.at(-1), name = escapeXml(r.name);
    const cks = r.checkpoints.map((c) => {
      const about = [];
      if (c.step !== null) about.push(`step ${c.step}`);
      if (c.loss !== null) about.push(`loss ${loss(c.loss)}`);
      return `<li>${escapeXml(c.name)}${about.length ? ` (${about.join(", ")})` : ""}</li>`;
    }).join("");
    const href = [r.name, ...(r.configPath?.split("/") ?? [])].map(encodeURIComponent).join("/");
    const cfg = r.configPath ? ` · <a href="/files/${href}">config.yaml</a>` : "";
    const play = playLink(r, "playground");
    return `<div class="run" data-run="${name}"><h2>${name}</h2>
<p>${configSummary(r.config)}${cfg}</p>
<p>status: <span class="status">${statusCell(r)}</span> · step <span class="step">\
${last?.step ?? "–"}</span> · last loss <span class="loss">${loss(last?.loss)}</span> · \
test exact match ${pct(r.testExactMatch)}${play ? ` · ${play}` : ""}</p>
<p>checkpoints:</p><ul>${cks || "<li>none yet</li>"}</ul></div>`;
  });
  const grids = [...new Set(evals.flat().map((e) => e.grid))].sort();
  const heatmaps = grids.map((g) => {
    const found = runs.map((r, k) => ({ run: r, e: evals[k].find((e) => e.grid === g) }))
      .filter((x) => x.e !== undefined) as { run: RunInfo; e: EvalInfo }[];
    const means = found.map((x) =>
      `<li>${escapeXml(x.run.name)}: in distribution <b class="id">${
        pct(x.e.inDistribution)
      }</b>, out of distribution <b class="ood">${pct(x.e.outOfDistribution)}</b></li>`
    ).join("");
    return `<div class="eval" data-grid="${escapeXml(g)}"><h3>${escapeXml(g)}</h3><ul>${means}</ul>
<div class="heatmap">${heatmapSvg(found.map((x) => x.e.panel))}</div></div>`;
  });
  const names = runs.map((r) => r.name);
  const body = `<h1>${names.length > 1 ? "Runs" : "Run"} ${names.map(escapeXml).join(" · ")}</h1>
<div class="row">${heads.join("\n")}</div>
<div class="row"><section><h2>Training curves</h2>
<div id="curves" data-runs="${escapeXml(JSON.stringify(names))}">${curvesFigure(runs)}</div>\
</section>
<section><h2>Evaluations</h2>
${heatmaps.join("\n") || "<p>no evaluations yet (deno task eval)</p>"}</section></div>`;
  return page(names.join(", "), body, "/assets/run.js");
}

/**
 * The playground's page: the form the bundled client fills and runs, and the places it writes
 * to (`#answer`, `#backend`, `#tokens`, `#probs`).
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { playPage } from "./pages.ts";
 * ok(playPage(["t"]).includes('id="answer"'));
 * ```
 * @param runs runs with a checkpoint, for the run menu
 */
export function playPage(runs: string[]): string {
  const options = runs.map((r) => `<option value="${escapeXml(r)}">${escapeXml(r)}</option>`);
  const body = `<h1>Playground</h1>
<p>The run's newest checkpoint decodes in this tab with abacus's own modules: its WGSL kernels on
the browser's WebGPU adapter, or the plain-TypeScript CPU backend when there is none.</p>
<form id="play"><label>run <select name="run">${options.join("")}</select></label>
<label>a <input name="a" size="24" value="123" inputmode="numeric"></label> +
<label>b <input name="b" size="24" value="456" inputmode="numeric"></label>
<label>backend <select name="backend"><option value="auto">WebGPU if available</option>
<option value="cpu">CPU</option></select></label> <button type="submit">add</button></form>
<p>answer: <span id="answer"></span> <span id="verdict"></span></p>
<p>decoded on: <span id="backend">–</span> · checkpoint: <span id="checkpoint">–</span></p>
<p id="status">loading the model code…</p><p id="error" class="err"></p>
<h2>Tokens as the model sees them</h2><table id="tokens"></table>
<h2>Probability of each generated token</h2><ol id="probs"></ol>`;
  return page("abacus playground", body, "/assets/play.js");
}

/**
 * The run page's script: listens to `/events` and redraws the curves and status when a run logs
 * new steps (the browser's EventSource reconnects by itself).
 */
export const RUN_SCRIPT = `const box = document.getElementById("curves");
const names = JSON.parse(box.dataset.runs);
const q = names.map((n) => "name=" + encodeURIComponent(n)).join("&");
const es = new EventSource("/events?" + q);
es.addEventListener("metrics", async (ev) => {
  const runs = JSON.parse(ev.data);
  for (const r of runs) {
    const el = document.querySelector('.run[data-run="' + CSS.escape(r.name) + '"]');
    if (!el) continue;
    el.querySelector(".status").textContent = r.status;
    el.querySelector(".step").textContent = r.step ?? "–";
    el.querySelector(".loss").textContent = r.loss === null ? "–" : r.loss.toFixed(4);
  }
  const res = await fetch("/curves?" + q);
  if (res.ok) box.innerHTML = await res.text();
});
`;
