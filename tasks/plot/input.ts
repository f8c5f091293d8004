/**
 * Reads the plot task's inputs. Evaluation results: grid files (`{"grid", "cells",
 * "train_range"}`) and run folders of per-cell `cell_<i>_<j>.json` files, possibly spread over
 * shard subfolders. Shards merge as the union of their cells; a cell seen twice with different
 * counts is an error. Training metrics (`metrics.jsonl`, one JSON object per logged step): a run
 * folder's segments (`pretrain/<date>/<time>/`, one per start or resume) are read in path order
 * and merged by step, a later segment's row replacing an earlier one's for the same step.
 * Only the given paths are read, so the plot task also works as a remote script.
 * @module
 */
import { readdir } from "node:fs/promises";
import { basename, dirname, extname, join, resolve } from "node:path";
import type { CurvePoint, CurveRun } from "./curves.ts";
import {
  type Cell,
  GRID_KINDS,
  type GridKind,
  type HeatmapPanel,
  type TrainRange,
} from "./types.ts";

const CELL_FILE = /^cell_(\d+)_(\d+)\.json$/;

/** What one JSON file states, and its path. */
interface Part extends HeatmapPanel {
  source: string;
  name?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function fail(source: string, why: string): never {
  throw new Error(`Cannot read ${source}: ${why}`);
}

function count(source: string, where: string, v: unknown, min: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    fail(source, `${where} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function toCell(source: string, where: string, v: unknown): Cell {
  if (!isObject(v)) fail(source, `${where} is not an object`);
  const cell = {
    i: count(source, `${where}.i`, v.i, 0),
    j: count(source, `${where}.j`, v.j, 0),
    correct: count(source, `${where}.correct`, v.correct, 0),
    total: count(source, `${where}.total`, v.total, 1),
  };
  if (cell.correct > cell.total) fail(source, `${where}.correct exceeds ${where}.total`);
  return cell;
}

/**
 * Reads one results file: a grid file with a `cells` array, or a single cell object.
 *
 * Grid file: `{"grid"?: "addition"|"multiplication"|"sorting"|"or", "name"?: string,
 * "cells": [{"i", "j", "correct", "total"}, ...], "train_range"?: [[iMin, iMax], [jMin, jMax]]
 * | null}`. Cell file: `{"i", "j", "correct", "total"}` with the same optional fields. Counts
 * are integers, `total >= 1`, `correct <= total`; other fields are ignored.
 *
 * @returns the cells and any grid kind, name and training range it states, with its path
 */
async function readResults(source: string): Promise<Part> {
  const text = await Deno.readTextFile(source)
    .catch((e: Error) => fail(source, e.message.split("\n")[0]));
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    fail(source, `malformed JSON (${(e as Error).message.split("\n")[0]})`);
  }
  if (!isObject(obj)) fail(source, "expected a JSON object");
  let cells: Cell[];
  if (obj.cells !== undefined) {
    if (!Array.isArray(obj.cells)) fail(source, "cells must be an array");
    cells = obj.cells.map((c, k) => toCell(source, `cells[${k}]`, c));
  } else if (obj.i !== undefined) cells = [toCell(source, "the cell", obj)];
  else fail(source, 'expected a "cells" array or a cell {"i", "j", "correct", "total"}');
  const out: Part = { source, cells };
  if (obj.grid !== undefined) {
    if (!GRID_KINDS.includes(obj.grid as GridKind)) {
      fail(source, `grid must be one of ${GRID_KINDS.join(", ")}, got ${JSON.stringify(obj.grid)}`);
    }
    out.kind = obj.grid as GridKind;
  }
  if (obj.name !== undefined) {
    if (typeof obj.name !== "string") fail(source, "name must be a string");
    out.name = obj.name;
  }
  const r = obj.train_range;
  if (r === null) out.trainRange = null;
  else if (r !== undefined) {
    if (
      !Array.isArray(r) || r.length !== 2 ||
      !r.every((p) => Array.isArray(p) && p.length === 2 && p.every((x) => Number.isInteger(x)))
    ) fail(source, "train_range must be [[iMin, iMax], [jMin, jMax]] or null");
    out.trainRange = r as TrainRange;
  }
  return out;
}

/** Every `cell_<i>_<j>.json` beneath a folder, sorted, checking names against contents. */
async function readFolder(dir: string): Promise<Part[]> {
  const files = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => !e.isDirectory() && CELL_FILE.test(e.name))
    .map((e) => join(e.parentPath, e.name)).sort();
  if (files.length === 0) fail(dir, "no cell_<i>_<j>.json files in it or its subfolders");
  const parts: Part[] = [];
  for (const f of files) { // one at a time: a 100x100 grid is 10,000 files
    const part = await readResults(f);
    const [, i, j] = CELL_FILE.exec(basename(f))!;
    const c = part.cells[0];
    if (part.cells.length !== 1 || c.i !== +i || c.j !== +j) {
      const held = part.cells.length === 1 ? `(${c.i}, ${c.j})` : "a grid";
      fail(f, `its name says cell (${+i}, ${+j}) but it holds ${held}`);
    }
    parts.push(part);
  }
  return parts;
}

/** The default run name of a path: a file's stem, a folder's name (its parent's for "downstream"). */
function nameOf(path: string, isDir: boolean): string {
  const clean = path.replace(/[\\/]+$/, "") || path;
  if (!isDir) return basename(clean, extname(clean));
  const b = basename(clean);
  return b === "downstream" ? basename(dirname(clean)) || b : b;
}

/**
 * Reads one or more result paths and merges them into one heatmap panel.
 *
 * Files are parsed with {@linkcode parseResults}; folders contribute every `cell_<i>_<j>.json`
 * beneath them (shard subfolders included). Cells merge as a union: the same cell twice with the
 * same counts is kept once, with different counts it is an error. `grid` and `train_range`
 * must agree where stated. Errors are one line naming the offending path.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { readPanel } from "./input.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/cell_1_2.json`, '{"i": 1, "j": 2, "correct": 5, "total": 10}');
 * const panel = await readPanel([dir]);
 * strictEqual(panel.cells[0].correct, 5);
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @param paths files or folders holding one run's results (shards of one grid)
 * @returns the merged panel with its run name: the files' `name` field, else the first path's
 * file stem or folder name
 */
export async function readPanel(paths: string[]): Promise<HeatmapPanel & { name: string }> {
  const parts: Part[] = [];
  let firstIsDir = false;
  for (const p of paths) {
    const info = await Deno.stat(p).catch(() => fail(p, "no such file or folder"));
    if (p === paths[0]) firstIsDir = info.isDirectory;
    parts.push(...info.isDirectory ? await readFolder(p) : [await readResults(p)]);
  }
  const seen = new Map<string, { cell: Cell; source: string }>();
  for (const part of parts) {
    for (const c of part.cells) {
      const key = `${c.i},${c.j}`, prev = seen.get(key);
      if (!prev) seen.set(key, { cell: c, source: part.source });
      else if (prev.cell.correct !== c.correct || prev.cell.total !== c.total) {
        fail(
          part.source,
          `cell (${c.i}, ${c.j}) is ${c.correct}/${c.total} here but ${prev.cell.correct}/${prev.cell.total} in ${prev.source}`,
        );
      }
    }
  }
  /** A field the parts state, checked to agree; `field` is its name in the files. */
  const pick = <K extends "kind" | "trainRange" | "name">(k: K, field: string): Part[K] => {
    const stated = parts.filter((p) => p[k] !== undefined);
    const other = stated.find((p) => JSON.stringify(p[k]) !== JSON.stringify(stated[0][k]));
    if (other) fail(other.source, `its ${field} differs from ${stated[0].source}`);
    return stated[0]?.[k];
  };
  return {
    cells: [...seen.values()].map((v) => v.cell).sort((a, b) => a.i - b.i || a.j - b.j),
    kind: pick("kind", "grid"),
    trainRange: pick("trainRange", "train_range"),
    name: pick("name", "name") ?? nameOf(paths[0], firstIsDir),
  };
}

/** Training rows of one metrics file (rows with a numeric step and loss, no `event`). */
async function readRows(file: string): Promise<CurvePoint[]> {
  const text = await Deno.readTextFile(file)
    .catch((e: Error) => fail(file, e.message.split("\n")[0]));
  const rows: CurvePoint[] = [];
  text.split("\n").forEach((line, k) => {
    if (!line.trim()) return;
    let r: unknown;
    try {
      r = JSON.parse(line);
    } catch {
      throw new Error(`${file}:${k + 1}: malformed JSON line: ${line.slice(0, 60)}`);
    }
    if (!isObject(r)) throw new Error(`${file}:${k + 1}: expected a JSON object`);
    if (r.event !== undefined || typeof r.step !== "number" || typeof r.loss !== "number") return;
    rows.push({ step: r.step, loss: r.loss, lr: typeof r.lr === "number" ? r.lr : NaN });
  });
  return rows;
}

/** The run's name: the folder holding `pretrain/`, else the file's folder. */
function runName(path: string, isDir: boolean): string {
  const abs = resolve(path);
  if (isDir) return basename(abs);
  const parts = abs.split(/[\\/]/);
  const at = parts.lastIndexOf("pretrain");
  return at > 0 ? parts[at - 1] : basename(dirname(abs));
}

/**
 * Reads one run's training curve from a `metrics.jsonl` file or a run folder (all of its
 * `pretrain/**\/metrics.jsonl` segments, merged by step). Errors are one line naming the file
 * (and line for a malformed one).
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { readCurveRun } from "./input.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/metrics.jsonl`, '{"step": 1, "loss": 2, "lr": 0}\n');
 * const run = await readCurveRun(`${dir}/metrics.jsonl`);
 * deepStrictEqual(run.points, [{ step: 1, loss: 2, lr: 0 }]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @param path a metrics file or a run folder
 * @returns the run, named after its folder, points in step order
 */
export async function readCurveRun(path: string): Promise<CurveRun> {
  const { isDirectory: isDir } = await Deno.stat(path)
    .catch(() => fail(path, "no such file or folder"));
  const files = isDir
    ? (await readdir(join(path, "pretrain"), { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile() && e.name === "metrics.jsonl")
      .map((e) => join(e.parentPath, e.name)).sort()
    : [path];
  if (files.length === 0) throw new Error(`${path}: no pretrain/**/metrics.jsonl beneath it`);
  const byStep = new Map<number, CurvePoint>();
  for (const f of files) {
    const rows = await readRows(f);
    if (rows.length === 0) {
      throw new Error(`${f}: no loss rows (objects with numeric "step" and "loss")`);
    }
    for (const r of rows) byStep.set(r.step, r);
  }
  const points = [...byStep.values()].sort((a, b) => a.step - b.step);
  return { name: runName(path, isDir), points };
}
