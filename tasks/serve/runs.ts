/**
 * What the server knows about the runs under a base folder, read fresh on every request (runs
 * train while the server is up): each run's resolved config, training status, loss curve,
 * checkpoints and evaluations, and what the playground needs to rebuild its newest checkpoint in
 * the browser. A run is a folder holding `pretrain/` or `checkpoints/`. Read-only: nothing here
 * writes. The browser bundle imports only the type of `playModel`'s answer from here.
 * @module
 */
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { type CheckpointInfo, listCheckpoints } from "../../core/checkpoint.ts";
import { parseArchConfig } from "../../cli/config.ts";
import type { ArchConfig } from "../../cli/config_types.ts";
import { readTrainingMeta } from "../eval/model_io.ts";
import type { CurvePoint } from "../plot/curves.ts";
import { readPanel } from "../plot/input.ts";
import type { HeatmapPanel } from "../plot/types.ts";

/** A run folder name the server accepts: a plain name (no dot in front, no separators). */
export const RUN_NAME: RegExp = /^[A-Za-z0-9_][A-Za-z0-9_.=+-]{0,127}$/;

/** One run: config, status and metrics of its newest training segments. */
export interface RunInfo {
  /** Folder name under the base folder. */
  name: string;
  /** The newest segment's `config.yaml` path relative to the run folder, or null. */
  configPath: string | null;
  /** The parsed resolved config, or null. */
  config: Record<string, unknown> | null;
  /** `finished` after the final checkpoint or test row; `training` when metrics changed lately. */
  status: "training" | "finished" | "stopped" | "no metrics";
  /** Loss points of every segment, merged by step. */
  points: CurvePoint[];
  /** Exact match on the test split, when training logged it. */
  testExactMatch: number | null;
  /** Newest first. */
  checkpoints: CheckpointInfo[];
}

/** One evaluation of a run: its grid folder and ID/OOD means from `summary.json`. */
export interface EvalInfo {
  /** The grid folder name under `downstream/`. */
  grid: string;
  /** Mean in-distribution accuracy (a fraction) or null. */
  inDistribution: number | null;
  /** Mean out-of-distribution accuracy (a fraction) or null. */
  outOfDistribution: number | null;
  /** The cells to draw. */
  panel: HeatmapPanel;
}

/** Seconds since the last metrics write within which a run counts as training. */
const LIVE_SECONDS = 120;

/** The names of a folder's subfolders, sorted; none when it cannot be read. */
async function subfolders(dir: string): Promise<string[]> {
  const entries = await Array.fromAsync(Deno.readDir(dir)).catch(() => []);
  return entries.filter((e) => e.isDirectory).map((e) => e.name).sort();
}

/** Every `pretrain/<date>/<time>/` segment folder of a run, oldest first. */
async function segments(runDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const date of await subfolders(join(runDir, "pretrain"))) {
    const dir = join(runDir, "pretrain", date);
    for (const time of await subfolders(dir)) out.push(join(dir, time));
  }
  return out;
}

/**
 * Lists the runs under a base folder, by name.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { listRunNames } from "./runs.ts";
 * const base = await Deno.makeTempDir();
 * await Deno.mkdir(`${base}/r/pretrain`, { recursive: true });
 * await Deno.mkdir(`${base}/data/x`, { recursive: true });
 * deepStrictEqual(await listRunNames(base), ["r"]);
 * await Deno.remove(base, { recursive: true });
 * ```
 * @returns folder names that hold `pretrain/` or `checkpoints/`, sorted
 */
export async function listRunNames(baseDir: string): Promise<string[]> {
  const names: string[] = [];
  for (const name of await subfolders(baseDir)) {
    if (!RUN_NAME.test(name)) continue;
    const sub = await subfolders(join(baseDir, name));
    if (sub.includes("pretrain") || sub.includes("checkpoints")) names.push(name);
  }
  return names;
}

/**
 * Reads one run's status, curve and checkpoints. Malformed metrics lines (a line being written)
 * are skipped, so a live run is read while it trains.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { readRun } from "./runs.ts";
 * const base = await Deno.makeTempDir();
 * await Deno.mkdir(`${base}/r/pretrain/d/t`, { recursive: true });
 * await Deno.writeTextFile(`${base}/r/pretrain/d/t/metrics.jsonl`,
 *   '{"step":1,"loss":2,"lr":0}\n{"event":"checkpoint","kind":"final","step":1}\n');
 * const run = await readRun(base, "r");
 * deepStrictEqual([run.status, run.points.length], ["finished", 1]);
 * await Deno.remove(base, { recursive: true });
 * ```
 */
export async function readRun(baseDir: string, name: string): Promise<RunInfo> {
  const runDir = join(baseDir, name);
  const byStep = new Map<number, CurvePoint>();
  let finished = false, testExactMatch: number | null = null, newest = 0;
  let configPath: string | null = null, config: Record<string, unknown> | null = null;
  for (const seg of await segments(runDir)) {
    finished = false; // only the newest segment's end counts
    const file = join(seg, "metrics.jsonl");
    const text = await Deno.readTextFile(file).catch(() => ""); // none yet
    newest = Math.max(newest, (await Deno.stat(file).catch(() => null))?.mtime?.getTime() ?? 0);
    for (const line of text.split("\n")) {
      let r: Record<string, unknown>;
      try {
        r = JSON.parse(line);
      } catch {
        continue;
      }
      if (typeof r !== "object" || r === null) continue;
      if (r.event === "test" && typeof r.exact_match === "number") {
        testExactMatch = r.exact_match;
        finished = true;
      } else if (r.event === "checkpoint" && r.kind === "final") finished = true;
      else if (r.event === undefined && typeof r.step === "number" && typeof r.loss === "number") {
        byStep.set(r.step, {
          step: r.step,
          loss: r.loss,
          lr: typeof r.lr === "number" ? r.lr : NaN,
        });
      }
    }
    const parsed = await Deno.readTextFile(join(seg, "config.yaml")).then(parseYaml)
      .catch(() => null); // unreadable: the previous segment's config stays
    if (parsed && typeof parsed === "object") {
      config = parsed as Record<string, unknown>;
      configPath = seg.slice(runDir.length + 1) + "/config.yaml";
    }
  }
  const points = [...byStep.values()].sort((a, b) => a.step - b.step);
  const status: RunInfo["status"] = finished
    ? "finished"
    : points.length === 0
    ? "no metrics"
    : Date.now() - newest < LIVE_SECONDS * 1000
    ? "training"
    : "stopped";
  const checkpoints = await listCheckpoints(runDir).catch(() => []);
  return { name, configPath, config, status, points, testExactMatch, checkpoints };
}

/**
 * Reads a run's evaluations: every `downstream/<grid>/` folder with cell files.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { readEvals } from "./runs.ts";
 * const base = await Deno.makeTempDir();
 * const g = `${base}/r/downstream/addition_1-2x1-2`;
 * await Deno.mkdir(g, { recursive: true });
 * await Deno.writeTextFile(`${g}/cell_1_1.json`, '{"i":1,"j":1,"correct":3,"total":4}');
 * await Deno.writeTextFile(`${g}/summary.json`,
 *   '{"in_distribution":0.75,"out_of_distribution":null}');
 * const [e] = await readEvals(base, "r");
 * deepStrictEqual([e.grid, e.inDistribution, e.panel.cells.length], ["addition_1-2x1-2", 0.75, 1]);
 * await Deno.remove(base, { recursive: true });
 * ```
 * @returns the evaluations, by grid name; unreadable ones are left out
 */
export async function readEvals(baseDir: string, name: string): Promise<EvalInfo[]> {
  const dir = join(baseDir, name, "downstream");
  const out: EvalInfo[] = [];
  for (const grid of await subfolders(dir)) {
    if (grid.startsWith(".")) continue;
    const at = join(dir, grid);
    const panel = await readPanel([at]).catch(() => null);
    if (!panel) continue;
    const summary = await Deno.readTextFile(join(at, "summary.json")).then(JSON.parse)
      .catch(() => ({})); // without it, the means stay unknown
    const num = (v: unknown) => (typeof v === "number" ? v : null);
    out.push({
      grid,
      inDistribution: num(summary.in_distribution),
      outOfDistribution: num(summary.out_of_distribution),
      panel: { cells: panel.cells, kind: panel.kind, trainRange: panel.trainRange, title: name },
    });
  }
  return out;
}

/** The `/api/model` answer. */
export interface PlayModel {
  /** Run name. */
  run: string;
  /** Checkpoint folder name. */
  checkpoint: string;
  /** Training step of the checkpoint, when known. */
  step: number | null;
  /** URL path of `model.safetensors` (served by the file route). */
  weights: string;
  /** Bytes of `model.safetensors`. */
  bytes: number;
  /** The checkpoint's `model_config.json`, checked. */
  config: ArchConfig;
  /** Operands written least-significant digit first. */
  reverseOperands: boolean;
  /** Answer written least-significant digit first. */
  reverseAnswer: boolean;
}

/**
 * Describes a run's newest checkpoint for the playground: its checked `model_config.json` (the
 * browser builds the model with the eval task's `checkpointModel`), the weights' URL, and how the
 * training data wrote numbers.
 *
 * @example
 * ```ts ignore
 * const info = await playModel("/tmp/x", "t");
 * console.log(info.weights); // "/files/t/checkpoints/FINAL_0.0469/model.safetensors"
 * ```
 * @returns the model config, weights URL and number format
 * @throws Error with a one-line reason (no checkpoint, unreadable or mismatched files)
 */
export async function playModel(baseDir: string, name: string): Promise<PlayModel> {
  const [ck] = await listCheckpoints(join(baseDir, name)).catch(() => []);
  if (!ck) throw new Error(`Run "${name}" has no checkpoint yet`);
  const dir = ck.path;
  const config = parseArchConfig(
    await Deno.readTextFile(join(dir, "model_config.json")),
    `${ck.name}/model_config.json`,
  );
  const g = (await readTrainingMeta(dir, baseDir))?.generator;
  const rel = dir.slice(baseDir.length).split(/[\\/]/).filter(Boolean).map(encodeURIComponent);
  return {
    run: name,
    checkpoint: ck.name,
    step: ck.step,
    weights: `/files/${rel.join("/")}/model.safetensors`,
    bytes: (await Deno.stat(join(dir, "model.safetensors"))).size,
    config,
    // Unknown data: the project's presets all reverse operands and answer.
    reverseOperands: g ? g.reverseAll : true,
    reverseAnswer: g ? g.reverseAll || g.reverseAnswer : true,
  };
}
