// `--shard k/N`: splits an evaluation's cells into N pieces of nearly equal decoding cost, so N
// jobs on N machines (a scheduler's job array, GNU parallel) cover a grid between them. The split
// is greedy longest-processing-time first and fully deterministic, so every job computes the
// same assignment independently and each cell lands in exactly one shard. `--shard auto` reads k
// and N from a Slurm job array or a Kubernetes Indexed Job (`resolveShard`).

import { EvalError } from "./grids.ts";

/** Piece `index` (1-based) of `count`. */
export interface Shard {
  /** Which piece, 1..count. */
  index: number;
  /** Number of pieces. */
  count: number;
}

/**
 * Splits cells into `count` pieces of nearly equal total cost (greedy LPT), deterministically.
 *
 * Cells go in order of decreasing cost (ties by i, then j) to the piece with the least cost so
 * far (ties to the lowest index). Each piece's most and least loaded differ by at most the cost
 * of one cell. Pieces list their cells in the input's order.
 *
 * @example
 * ```ts
 * import { splitCells } from "./shard.ts";
 * import assert from "node:assert/strict";
 *
 * const cells = [{ i: 1, j: 1 }, { i: 2, j: 2 }, { i: 3, j: 3 }, { i: 4, j: 4 }];
 * const pieces = splitCells(cells, 2, (c) => c.i);
 * assert.deepEqual(pieces.map((p) => p.map((c) => c.i)), [[1, 4], [2, 3]]);
 * ```
 *
 * @param count Number of pieces (at least 1).
 * @param cost Cost of one cell (finite, non-negative).
 */
export function splitCells<C extends { i: number; j: number }>(
  cells: readonly C[],
  count: number,
  cost: (cell: C) => number,
): C[][] {
  const costs = cells.map(cost);
  const order = cells.map((_, k) => k).sort((a, b) =>
    costs[b] - costs[a] || cells[a].i - cells[b].i || cells[a].j - cells[b].j || a - b
  );
  // A binary min-heap of pieces keyed by (load, index): O(cells log count).
  const load = new Float64Array(count);
  const heap = Array.from({ length: count }, (_, k) => k);
  const less = (a: number, b: number) => load[a] < load[b] || (load[a] === load[b] && a < b);
  const owner = new Int32Array(cells.length);
  for (const k of order) {
    const top = heap[0];
    owner[k] = top;
    load[top] += costs[k];
    for (let p = 0;;) { // sift the grown root down
      const l = 2 * p + 1, r = l + 1;
      let m = p;
      if (l < count && less(heap[l], heap[m])) m = l;
      if (r < count && less(heap[r], heap[m])) m = r;
      if (m === p) break;
      [heap[p], heap[m]] = [heap[m], heap[p]];
      p = m;
    }
  }
  const pieces: C[][] = Array.from({ length: count }, () => []);
  cells.forEach((c, k) => pieces[owner[k]].push(c));
  return pieces;
}

/** Reads one environment variable (`Deno.env.get`, or a map's lookup in tests). */
export type EnvReader = (name: string) => string | undefined;

/** The variable holding the number of pieces of a Kubernetes Indexed Job (its `completions`). */
const SHARD_COUNT_VAR = "ABACUS_SHARD_COUNT";

const SLURM_VARS = ["SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_COUNT"];

function autoError(why: string): EvalError {
  return new EvalError(`--shard auto: ${why}`);
}

/** A set, non-empty variable as a whole number; undefined when unset or empty. */
function wholeVar(env: EnvReader, name: string): number | undefined {
  const raw = env(name)?.trim();
  if (raw === undefined || raw === "") return undefined;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw autoError(`${name}="${raw}" is not a whole number`);
  }
  return Number(raw);
}

// A shard from a scheduler's environment, and the variables it was read from (for the log, e.g.
// `SLURM_ARRAY_TASK_ID=4 of 0..98 step 2`).
function fromSlurm(env: EnvReader): Shard & { from: string } {
  const [id, min, count] = SLURM_VARS.map((n) => wholeVar(env, n));
  const missing = SLURM_VARS.filter((_, k) => [id, min, count][k] === undefined);
  if (missing.length) {
    throw autoError(
      `SLURM_ARRAY_TASK_ID is set but ${missing.join(" and ")} ${
        missing.length > 1 ? "are" : "is"
      } not (a Slurm job array sets all three)`,
    );
  }
  const step = wholeVar(env, "SLURM_ARRAY_TASK_STEP") ?? 1;
  const max = wholeVar(env, "SLURM_ARRAY_TASK_MAX");
  const declared = wholeVar(env, SHARD_COUNT_VAR);
  if (count! < 1 || step < 1) {
    throw autoError(
      `SLURM_ARRAY_TASK_COUNT=${count} and SLURM_ARRAY_TASK_STEP=${step} must be >= 1`,
    );
  }
  const last = min! + (count! - 1) * step;
  const offset = id! - min!;
  if (offset < 0 || offset % step !== 0 || id! > last || (max !== undefined && max !== last)) {
    throw autoError(
      `SLURM_ARRAY_TASK_ID=${id} is not in the evenly spaced array MIN=${min} STEP=${step} ` +
        `COUNT=${count}${max !== undefined ? ` MAX=${max}` : ""}: use --array=A-B or ` +
        `--array=A-B:S (or --shard k/N with your own numbering)`,
    );
  }
  if (declared !== undefined && declared !== count) {
    throw autoError(
      `${SHARD_COUNT_VAR}=${declared} but SLURM_ARRAY_TASK_COUNT=${count}: they must agree ` +
        `(or unset ${SHARD_COUNT_VAR})`,
    );
  }
  return {
    index: offset / step + 1,
    count: count!,
    from: `SLURM_ARRAY_TASK_ID=${id} of ${min}..${last}${step > 1 ? ` step ${step}` : ""}`,
  };
}

function fromKubernetes(env: EnvReader, index: number): Shard & { from: string } {
  const count = wholeVar(env, SHARD_COUNT_VAR);
  if (count === undefined) {
    throw autoError(
      `JOB_COMPLETION_INDEX is set but ${SHARD_COUNT_VAR} is not: set it to the Job's completions`,
    );
  }
  if (index >= count) {
    throw autoError(
      `JOB_COMPLETION_INDEX=${index} must be below ${SHARD_COUNT_VAR}=${count} (the Job's completions)`,
    );
  }
  return { index: index + 1, count, from: `JOB_COMPLETION_INDEX=${index} of ${count}` };
}

/**
 * The shard of `--shard` / `shard=`: `k/N` (1 <= k <= N), or `auto` for the shard a scheduler
 * hands this process through its environment.
 *
 * A Slurm job array (`sbatch --array=A-B` or `A-B:S`) gives piece
 * (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP + 1 of
 * SLURM_ARRAY_TASK_COUNT; the step defaults to 1, and an array that is not evenly spaced (a list
 * such as `--array=1,5,7`, checked against SLURM_ARRAY_TASK_MAX) is refused. A Kubernetes Indexed
 * Job gives piece JOB_COMPLETION_INDEX + 1 (the index is 0-based) of ABACUS_SHARD_COUNT,
 * which the manifest sets to the Job's `completions`. With Slurm, ABACUS_SHARD_COUNT is
 * optional and must equal SLURM_ARRAY_TASK_COUNT when set. A malformed `k/N`, or for `auto`
 * neither scheduler, both, a missing or non-numeric variable, or values that do not fit throw an
 * `EvalError` with one line naming the variables.
 *
 * @example
 * ```ts
 * import { resolveShard } from "./shard.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(resolveShard("2/8", () => undefined), { index: 2, count: 8 });
 * assert.throws(() => resolveShard("0/8", () => undefined), /Cannot parse shard "0\/8": expected k\/N with 1 <= k <= N/);
 * const slurm: Record<string, string> = {
 *   SLURM_ARRAY_TASK_ID: "6", SLURM_ARRAY_TASK_MIN: "0", SLURM_ARRAY_TASK_COUNT: "50",
 *   SLURM_ARRAY_TASK_STEP: "2", SLURM_ARRAY_TASK_MAX: "98",
 * };
 * assert.deepEqual(resolveShard("auto", (n) => slurm[n]).index, 4);
 * const k8s: Record<string, string> = { JOB_COMPLETION_INDEX: "0", ABACUS_SHARD_COUNT: "20" };
 * const { index, count } = resolveShard("auto", (n) => k8s[n]);
 * assert.deepEqual([index, count], [1, 20]);
 * assert.throws(() => resolveShard("auto", () => undefined), /needs a Slurm job array/);
 * ```
 *
 * @param env Reads a variable for `auto`; unset and empty are the same.
 */
export function resolveShard(text: string, env: EnvReader): Shard & { from?: string } {
  if (text === "auto") {
    const slurm = wholeVar(env, "SLURM_ARRAY_TASK_ID");
    const k8s = wholeVar(env, "JOB_COMPLETION_INDEX");
    if (slurm !== undefined && k8s !== undefined) {
      throw autoError(
        "both SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX are set: unset one, or give --shard k/N",
      );
    }
    if (slurm !== undefined) return fromSlurm(env);
    if (k8s !== undefined) return fromKubernetes(env, k8s);
    throw autoError(
      `needs a Slurm job array (${SLURM_VARS.join(", ")}) or a Kubernetes Indexed Job ` +
        `(JOB_COMPLETION_INDEX, ${SHARD_COUNT_VAR}); neither is set`,
    );
  }
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = m ? Number(m[1]) : NaN, count = m ? Number(m[2]) : NaN;
  if (!m || index < 1 || index > count || count > 1_000_000) {
    throw new EvalError(`Cannot parse shard "${text}": expected k/N with 1 <= k <= N`);
  }
  return { index, count };
}
