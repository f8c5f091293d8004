// Maps the eval config's grid keys (upstream's flag names plus `eval.grid`) onto one plan: a
// task, a grid (the results folder), an optional part label and the selected cells. Upstream's
// flags become cell filters on the whole grid, so its 20 `big_eval_step_k` x `checkerboard` jobs
// write parts of one grid that merge back; conflicting or unknown values fail with one line
// where upstream silently picked the last flag or crashed.

import type { TokenizerType } from "../../data/tokenizer.ts";
import {
  BIG_EVAL_BANDS,
  type CellRange,
  DEFAULT_SIDES,
  type EvalCell,
  EvalError,
  type EvalTask,
  EXTENDED_SETS,
  inBand,
  parseGridRange,
  rangeCells,
} from "./grids.ts";

/** Names of upstream's ten `big_eval_step_k` keys. */
export type BigEvalStepKey = `big_eval_step_${1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10}`;

/** The grid keys of the eval config (snake_case as in `cfg_eval.yaml`); all optional. */
export interface GridFlags extends Partial<Record<BigEvalStepKey, boolean>> {
  /** The task; default from the flags (`mul`, `pos_arth*`, `tokenizer_type=sort`), else addition. */
  task?: string | null;
  /** `eval.grid`: `I..JxK..L` replacing the task's default grid. */
  grid?: string | null;
  /** Keep cells whose i + j is `even` or `odd`. */
  checkerboard?: string | null;
  /** Keep cells with i, j < max_size_given (sort_eval.py). */
  max_size_given?: number | null;
  /** With start_ind_2_given: keep cells with i >= start1 or j >= start2 (sort_eval.py). */
  start_ind_1_given?: number | null;
  /** See start_ind_1_given. */
  start_ind_2_given?: number | null;
  /** Upstream's extended equal-length addition sets; the set is big_eval_step_N (default 1). */
  extended_eval?: boolean;
  /** Multiplication 25x25. */
  mul?: boolean;
  /** Bitwise OR, cells with i, j <= 25. */
  pos_arth?: boolean;
  /** Bitwise OR, cells with a side in 26..40 (both <= 40). */
  pos_arth_ood?: boolean;
  /** Addition and multiplication: operands and answer least-significant digit first (default true). */
  reverse_inputs?: boolean;
  /** Upstream's sorting flag; accepted (sorting data is always reversed). */
  sort_reverse?: boolean;
  /** `pad`, `index` or `sort`; `sort` selects sorting. */
  tokenizer_type?: string | null;
  /** Addition: max(i, j) in 24..30. */
  ood_only?: boolean;
  /** Addition: max(i, j) in 31..40. */
  up_to_40?: boolean;
  /** Addition: max(i, j) in 41..50. */
  up_to_50?: boolean;
}

/** What one evaluation job covers. */
export interface GridPlan {
  task: EvalTask;
  /** Folder name of the whole grid, e.g. `addition_1-100x1-100` or `addition_extended_1`. */
  name: string;
  /** Label of the subset this job covers (its results subfolder), or null for the whole grid. */
  part: string | null;
  /** Selected cells, i outer and j inner. */
  cells: EvalCell[];
  /** Whether samples are written least-significant digit first (upstream's choice per task). */
  reverse: boolean;
  /** Vocabulary of the samples. */
  tokenizer: TokenizerType;
  /**
   * Multiplication samples carry a partial-product scratchpad (`deno task data --scratchpad`);
   * `deno task eval` sets it when the checkpoint's training set has one. Default false.
   */
  scratchpad?: boolean;
  /** Upstream's extended set number, or null. */
  extended: number | null;
}

const TASKS: readonly EvalTask[] = ["addition", "multiplication", "sorting", "or"];

interface Filter {
  label: string;
  keep: (c: EvalCell) => boolean;
}

function nonNegative(key: string, v: number | null | undefined): number | null {
  if (v === null || v === undefined) return null;
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new EvalError(`Cannot map ${key}=${v}: expected an integer of at least 0`);
  }
  return v;
}

/** The task the flags imply, checked against an explicit `task`. */
function pickTask(f: GridFlags): EvalTask {
  const implied: [string, EvalTask][] = [];
  if (f.mul) implied.push(["mul=true", "multiplication"]);
  if (f.pos_arth) implied.push(["pos_arth=true", "or"]);
  if (f.pos_arth_ood) implied.push(["pos_arth_ood=true", "or"]);
  if (f.tokenizer_type === "sort") implied.push(["tokenizer_type=sort", "sorting"]);
  if (f.sort_reverse) implied.push(["sort_reverse=true", "sorting"]);
  if (f.extended_eval) implied.push(["extended_eval=true", "addition"]);
  if (f.task !== undefined && f.task !== null) {
    if (!TASKS.includes(f.task as EvalTask)) {
      throw new EvalError(
        `Cannot evaluate task "${f.task}": expected addition, multiplication, sorting or or`,
      );
    }
    implied.unshift([`task ${f.task}`, f.task as EvalTask]);
  }
  for (const [flag, task] of implied) {
    if (task !== implied[0][1]) {
      throw new EvalError(
        `Cannot combine ${implied[0][0]} with ${flag}: they select different tasks`,
      );
    }
  }
  return implied[0]?.[1] ?? "addition";
}

/** The big_eval_step_k set to true, or null; two of them is an error. */
function bigStep(f: GridFlags): number | null {
  const set: number[] = [];
  for (let k = 1; k <= 10; k++) if (f[`big_eval_step_${k}` as BigEvalStepKey]) set.push(k);
  if (set.length > 1) {
    throw new EvalError(
      `Cannot combine big_eval_step_${set[0]} and big_eval_step_${set[1]}: choose one`,
    );
  }
  return set[0] ?? null;
}

function rangeName(r: CellRange): string {
  return `${r.i[0]}-${r.i[1]}x${r.j[0]}-${r.j[1]}`;
}

/**
 * Resolves the eval config's grid keys into one job's plan (task, grid, part, cells).
 *
 * The grid is `eval.grid` or the task's default (addition 1..100, multiplication 1..25, sorting
 * 1..30, OR 1..40 on both sides); `extended_eval` replaces it by upstream's equal-length set N
 * (`big_eval_step_N`, default 1). Upstream's job flags then filter it: `big_eval_step_k` keeps
 * max(i, j) in band k (≤46, 47–58, 59–67, 68–74, 75–80, 81–85, 86–90, 91–94, 95–97, 98–100),
 * `checkerboard` the parity of i + j, `ood_only`/`up_to_40`/`up_to_50` max(i, j) in 24..30,
 * 31..40, 41..50, `max_size_given`/`start_ind_*_given` i, j < max and (i >= start1 or
 * j >= start2), `pos_arth` i, j <= 25 and `pos_arth_ood` a side >= 26. `large` is the default
 * and needs no key. Conflicts, bad values and an empty selection throw an `EvalError`.
 *
 * @example
 * ```ts
 * import { resolveGrid } from "./flags.ts";
 * import assert from "node:assert/strict";
 *
 * const plan = resolveGrid({ big_eval_step_2: true, checkerboard: "even" });
 * assert.deepEqual([plan.task, plan.name, plan.part], ["addition", "addition_1-100x1-100", "big_eval_step_2_checkerboard_even"]);
 * assert(plan.cells.every(({ i, j }) => Math.max(i, j) >= 47 && Math.max(i, j) <= 58 && (i + j) % 2 === 0));
 * assert.deepEqual(resolveGrid({ grid: "1..3x2" }).cells.length, 3);
 * assert.throws(() => resolveGrid({ checkerboard: "diagonal" }), /Cannot map checkerboard=diagonal: expected even or odd/);
 * ```
 */
export function resolveGrid(flags: GridFlags): GridPlan {
  const task = pickTask(flags);
  const step = bigStep(flags);
  const filters: Filter[] = [];
  let range: CellRange | null = null;
  let cells: EvalCell[];
  let name: string;
  let extended: number | null = null;
  if (flags.tokenizer_type && !["pad", "index", "sort"].includes(flags.tokenizer_type)) {
    throw new EvalError(
      `Cannot map tokenizer_type=${flags.tokenizer_type}: expected pad, index or sort`,
    );
  }
  if (task === "sorting" && flags.tokenizer_type && flags.tokenizer_type !== "sort") {
    throw new EvalError(
      `Cannot evaluate sorting with tokenizer_type=${flags.tokenizer_type}: it needs sort`,
    );
  }
  if (flags.extended_eval) {
    if (flags.grid) {
      throw new EvalError(`Cannot combine extended_eval=true with eval.grid=${flags.grid}`);
    }
    extended = step ?? 1;
    const sides = EXTENDED_SETS[extended];
    if (!sides) {
      throw new EvalError(
        `Cannot map extended_eval with big_eval_step_${extended}: extended sets are 1..4 (upstream exits "number too high")`,
      );
    }
    cells = sides.map((s) => ({ i: s, j: s }));
    name = `addition_extended_${extended}`;
  } else {
    const side = DEFAULT_SIDES[task];
    range = flags.grid ? parseGridRange(flags.grid) : { i: [1, side], j: [1, side] };
    cells = rangeCells(range);
    name = `${task}_${rangeName(range)}`;
    if (step !== null) {
      const band = BIG_EVAL_BANDS[step - 1];
      filters.push({ label: `big_eval_step_${step}`, keep: (c) => inBand(c, band) });
    }
  }
  const rings: [keyof GridFlags, [number, number]][] = [
    ["ood_only", [24, 30]],
    ["up_to_40", [31, 40]],
    ["up_to_50", [41, 50]],
  ];
  for (const [key, band] of rings) {
    if (!flags[key]) continue;
    if (task !== "addition") {
      throw new EvalError(`Cannot map ${key}=true: it splits addition grids only`);
    }
    filters.push({ label: key, keep: (c) => inBand(c, band) });
  }
  if (flags.checkerboard !== undefined && flags.checkerboard !== null) {
    const cb = flags.checkerboard;
    if (cb !== "even" && cb !== "odd") {
      throw new EvalError(`Cannot map checkerboard=${cb}: expected even or odd`);
    }
    const parity = cb === "even" ? 0 : 1;
    filters.push({ label: `checkerboard_${cb}`, keep: (c) => (c.i + c.j) % 2 === parity });
  }
  const max = nonNegative("max_size_given", flags.max_size_given);
  if (max !== null) filters.push({ label: `max_size_${max}`, keep: (c) => c.i < max && c.j < max });
  const s1 = nonNegative("start_ind_1_given", flags.start_ind_1_given);
  const s2 = nonNegative("start_ind_2_given", flags.start_ind_2_given);
  if (s1 !== null || s2 !== null) {
    const a = s1 ?? 0, b = s2 ?? 0;
    filters.push({ label: `start_${a}_${b}`, keep: (c) => c.i >= a || c.j >= b });
  }
  if (flags.pos_arth && flags.pos_arth_ood) {
    throw new EvalError(`Cannot combine pos_arth=true and pos_arth_ood=true: choose one`);
  }
  if (flags.pos_arth) filters.push({ label: "pos_arth", keep: (c) => c.i <= 25 && c.j <= 25 });
  if (flags.pos_arth_ood) {
    filters.push({ label: "pos_arth_ood", keep: (c) => c.i >= 26 || c.j >= 26 });
  }
  if (task === "sorting" && (range?.j[1] ?? 0) > 102) {
    throw new EvalError(
      `Cannot evaluate sorting lists of ${range!.j[1]} numbers: there are only 102 labels`,
    );
  }
  const all = cells.length;
  cells = cells.filter((c) => filters.every((f) => f.keep(c)));
  const part = filters.length > 0 ? filters.map((f) => f.label).join("_") : null;
  if (cells.length === 0) {
    throw new EvalError(
      `Cannot evaluate ${name}: ${part ?? "the filter"} keeps none of its ${all} cells`,
    );
  }
  const tokenizer: TokenizerType = task === "sorting"
    ? "sort"
    : flags.tokenizer_type === "index"
    ? "index"
    : "pad";
  const reverse = task === "sorting" ? true : task === "or" ? false : flags.reverse_inputs ?? true;
  return { task, name, part, cells, reverse, tokenizer, extended };
}
