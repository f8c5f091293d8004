/**
 * Reading training metrics (`metrics.jsonl`, one JSON object per logged step) into curves. A run
 * folder's segments (`pretrain/<date>/<time>/`, one per start or resume) are read in path order
 * and merged by step, a later segment's row replacing an earlier one's for the same step.
 * @module
 */
import { readdir } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { CurvePoint, CurveRun } from "./curves.ts";

/** Training rows of one metrics file (rows with a numeric step and loss, no `event`). */
async function readRows(file: string): Promise<CurvePoint[]> {
  const text = await Deno.readTextFile(file).catch((e: Error) => {
    throw new Error(`Cannot read ${file}: ${e.message.split("\n")[0]}`);
  });
  const rows: CurvePoint[] = [];
  text.split("\n").forEach((line, k) => {
    if (!line.trim()) return;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line);
    } catch {
      throw new Error(`${file}:${k + 1}: malformed JSON line: ${line.slice(0, 60)}`);
    }
    if (typeof r !== "object" || r === null || Array.isArray(r)) {
      throw new Error(`${file}:${k + 1}: expected a JSON object`);
    }
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
 * import { readCurveRun } from "./curves_io.ts";
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
  const { isDirectory: isDir } = await Deno.stat(path).catch(() => {
    throw new Error(`Cannot read ${path}: no such file or folder`);
  });
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
