// Which cells an evaluation covers: the paper's grids (addition 100x100 and its extended
// equal-length sets, multiplication 25x25, sorting 30x30, bitwise OR 40x40), `eval.grid=` ranges,
// and upstream's job-splitting flags (`big_eval_step_k`, `checkerboard`, `max_size_given`, ...)
// mapped onto one grid plus a cell filter, so upstream's 20 jobs write parts of one grid that
// merge back; conflicting values fail with one line where upstream silently picked the last flag
// or crashed. Also each cell's token counts and decoding cost.
// Reference: upstream arithmetic_eval_quicker.py `grid_logic`, sort_eval.py (McLeish et al. 2024).

import type { GridKind } from "../plot/types.ts";
import type { EvalConfig } from "../../cli/config_types.ts";
import { GRID_PRESETS } from "../../data/presets.ts";
import { DEFAULT_SPEC, scratchpadChars } from "../../data/spec.ts";
import type { TokenizerType } from "../../data/tokenizer.ts";

/** The evaluation tasks; the same names as the plot task's grid kinds. */
export type EvalTask = GridKind;

/** One cell: operand lengths (sorting: i = maximum digits, j = list length). */
export interface EvalCell {
  /** First operand length, or the maximum digits of a sorting list. */
  i: number;
  /** Second operand length, or the length of a sorting list. */
  j: number;
}

/**
 * An error in evaluation input; its message is one line (sentence case, no final period) meant
 * to be printed as is.
 *
 * @example
 * ```ts
 * import { EvalError, resolveGrid } from "./grids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => resolveGrid({ grid: "x" }), EvalError);
 * ```
 */
export class EvalError extends Error {
  /** `EvalError`, so a caught error can be told apart without importing the class. */
  override name: string = "EvalError";
}

/**
 * The grid keys of the eval config (snake_case as in `cfg_eval.yaml`, values already checked by
 * its schema), with `eval.grid` as `grid`; all optional.
 */
export type GridFlags = Partial<Omit<EvalConfig, "eval">> & { grid?: string | null };

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
}

/** An inclusive rectangle of cells: i in `i[0]..i[1]`, j in `j[0]..j[1]`. */
type CellRange = { i: [number, number]; j: [number, number] };

// The upper ends of upstream's `big_eval_step_k` bands of max(i, j) (band k starts after band k - 1
// ends), which split the 100x100 grid into 10 jobs of roughly equal forward passes.
const BIG_EVAL_ENDS = [46, 58, 67, 74, 80, 85, 90, 94, 97, 100];

// Upstream's extended equal-length addition sets (`extended_eval` with `big_eval_step_N`): the
// lengths s of the cells (s, s).
const EXTENDED_SETS: Record<number, number[]> = {
  1: Array.from({ length: 60 }, (_, k) => 101 + k),
  2: [800, 1000],
  3: [200, 700, 900],
  4: [300, 400, 500, 600],
};

// An `eval.grid` value: `I..JxK..L`, where either side may be a single length.
function parseGridRange(text: string): CellRange {
  const m = /^\s*(\d+)(?:\.\.(\d+))?\s*x\s*(\d+)(?:\.\.(\d+))?\s*$/.exec(text);
  if (!m) throw new EvalError(`Cannot parse eval.grid "${text}": expected I..JxK..L`);
  const i: [number, number] = [+m[1], +(m[2] ?? m[1])];
  const j: [number, number] = [+m[3], +(m[4] ?? m[3])];
  for (const [lo, hi] of [i, j]) {
    if (lo < 1 || hi < lo || hi > 100_000) {
      throw new EvalError(
        `Cannot parse eval.grid "${text}": range ${lo}..${hi} must satisfy 1 <= start <= end`,
      );
    }
  }
  return { i, j };
}

/**
 * Longest prompt (up to and including `=`) and tokens to generate of a cell, EOS included.
 *
 * Addition `a+b=`: i + j + 2 tokens, answer up to max(i, j) + 1 digits; multiplication: up to
 * i + j digits; OR: max(i, j) digits; sorting `l:n,...=`: j * (i + 3) tokens, answer 2j - 1 tokens
 * (labels and commas; the EOS is not scored); a multiplication scratchpad adds its partial
 * products. Used for sharding costs and context checks.
 *
 * @example
 * ```ts
 * import { cellTokens } from "./grids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(cellTokens("addition", 3, 5), { prompt: 10, generate: 7 });
 * assert.deepEqual(cellTokens("sorting", 2, 4), { prompt: 20, generate: 7 });
 * // 3 x 3 digits with a scratchpad: "p0+p1+p2=" (4 + 5 + 6 digits, "+", "+", "=") then 6 and EOS.
 * assert.deepEqual(cellTokens("multiplication", 3, 3, true), { prompt: 8, generate: 25 });
 * ```
 */
export function cellTokens(
  task: EvalTask,
  i: number,
  j: number,
  scratchpad = false,
): { prompt: number; generate: number } {
  if (task === "sorting") return { prompt: j * (i + 3), generate: 2 * j - 1 };
  const answer = task === "multiplication"
    ? i + j
    : task === "or"
    ? Math.max(i, j)
    : Math.max(i, j) + 1;
  const pad = task === "multiplication" && scratchpad
    ? scratchpadChars({ ...DEFAULT_SPEC, op: "x", n: i, m: j, scratchpad: true })
    : 0;
  return { prompt: i + j + 2, generate: answer + pad + 1 };
}

/**
 * Decoding cost of a cell: samples x (prompt tokens + tokens to generate). Samples default to
 * those of the data task's grid presets: 100, sorting 200, OR min(i, j) (every one-hot
 * position, at most 100).
 *
 * @example
 * ```ts
 * import { cellCost } from "./grids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(cellCost("addition", { i: 3, j: 5 }), 100 * (10 + 7));
 * assert.deepEqual(cellCost("addition", { i: 3, j: 5 }, 10), 10 * 17);
 * assert.deepEqual(cellCost("or", { i: 3, j: 30 }), 3 * (35 + 31));
 * ```
 *
 * @returns A cost in tokens.
 */
export function cellCost(task: EvalTask, cell: EvalCell, samples?: number): number {
  const { prompt, generate } = cellTokens(task, cell.i, cell.j);
  const preset = task === "sorting" ? 200 : task === "or" ? Math.min(cell.i, cell.j, 100) : 100;
  return (samples ?? preset) * (prompt + generate);
}

/** Whether lo <= max(i, j) <= hi, the shape of `big_eval_step_k`, `ood_only`, `up_to_*`. */
function inBand(cell: EvalCell, [lo, hi]: [number, number]): boolean {
  const m = Math.max(cell.i, cell.j);
  return m >= lo && m <= hi;
}

/** The task the flags imply; flags implying different tasks are an error. */
function pickTask(f: GridFlags): EvalTask {
  const implied = ([
    [f.mul, "mul=true", "multiplication"],
    [f.pos_arth, "pos_arth=true", "or"],
    [f.pos_arth_ood, "pos_arth_ood=true", "or"],
    [f.tokenizer_type === "sort", "tokenizer_type=sort", "sorting"],
    [f.sort_reverse, "sort_reverse=true", "sorting"],
    [f.extended_eval, "extended_eval=true", "addition"],
  ] as const).filter(([on]) => on);
  const clash = implied.find(([, , task]) => task !== implied[0][2]);
  if (clash) {
    throw new EvalError(
      `Cannot combine ${implied[0][1]} with ${clash[1]}: they select different tasks`,
    );
  }
  return implied[0]?.[2] ?? "addition";
}

/** The big_eval_step_k set to true, or null; two of them is an error. */
function bigStep(f: GridFlags): number | null {
  const set: number[] = [];
  for (let k = 1; k <= 10; k++) if (f[`big_eval_step_${k}` as keyof GridFlags]) set.push(k);
  if (set.length > 1) {
    throw new EvalError(
      `Cannot combine big_eval_step_${set[0]} and big_eval_step_${set[1]}: choose one`,
    );
  }
  return set[0] ?? null;
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
 * and needs no key. Conflicts and an empty selection throw an `EvalError`.
 *
 * @example
 * ```ts
 * import { resolveGrid } from "./grids.ts";
 * import assert from "node:assert/strict";
 *
 * const plan = resolveGrid({ big_eval_step_2: true, checkerboard: "even" });
 * assert.deepEqual([plan.task, plan.name, plan.part], ["addition", "addition_1-100x1-100", "big_eval_step_2_checkerboard_even"]);
 * assert(plan.cells.every(({ i, j }) => Math.max(i, j) >= 47 && Math.max(i, j) <= 58 && (i + j) % 2 === 0));
 * assert.deepEqual(resolveGrid({ grid: "1..3x2" }).cells.length, 3);
 * assert.throws(() => resolveGrid({ mul: true, up_to_40: true }), /Cannot map up_to_40=true: it splits addition grids only/);
 * ```
 */
export function resolveGrid(flags: GridFlags): GridPlan {
  const task = pickTask(flags);
  const step = bigStep(flags);
  const filters: { label: string; keep: (c: EvalCell) => boolean }[] = [];
  const filter = (label: string, keep: (c: EvalCell) => boolean) => filters.push({ label, keep });
  let range: CellRange | null = null;
  let cells: EvalCell[];
  let name: string;
  if (task === "sorting" && flags.tokenizer_type && flags.tokenizer_type !== "sort") {
    throw new EvalError(
      `Cannot evaluate sorting with tokenizer_type=${flags.tokenizer_type}: it needs sort`,
    );
  }
  if (flags.extended_eval) {
    if (flags.grid) {
      throw new EvalError(`Cannot combine extended_eval=true with eval.grid=${flags.grid}`);
    }
    const extended = step ?? 1;
    const sides = EXTENDED_SETS[extended];
    if (!sides) {
      throw new EvalError(
        `Cannot map extended_eval with big_eval_step_${extended}: extended sets are 1..4 (upstream exits "number too high")`,
      );
    }
    cells = sides.map((s) => ({ i: s, j: s }));
    name = `addition_extended_${extended}`;
  } else {
    const side = GRID_PRESETS[`${task}-grid`].maxSide; // the data task's grid: 1..side squared
    range = flags.grid ? parseGridRange(flags.grid) : { i: [1, side], j: [1, side] };
    cells = [];
    for (let i = range.i[0]; i <= range.i[1]; i++) {
      for (let j = range.j[0]; j <= range.j[1]; j++) cells.push({ i, j });
    }
    name = `${task}_${range.i[0]}-${range.i[1]}x${range.j[0]}-${range.j[1]}`;
    if (step !== null) {
      const band: [number, number] = [(BIG_EVAL_ENDS[step - 2] ?? 0) + 1, BIG_EVAL_ENDS[step - 1]];
      filter(`big_eval_step_${step}`, (c) => inBand(c, band));
    }
  }
  const rings = [["ood_only", [24, 30]], ["up_to_40", [31, 40]], ["up_to_50", [41, 50]]] as const;
  for (const [key, [lo, hi]] of rings) {
    if (!flags[key]) continue;
    if (task !== "addition") {
      throw new EvalError(`Cannot map ${key}=true: it splits addition grids only`);
    }
    filter(key, (c) => inBand(c, [lo, hi]));
  }
  const cb = flags.checkerboard;
  if (cb) filter(`checkerboard_${cb}`, (c) => (c.i + c.j) % 2 === (cb === "even" ? 0 : 1));
  const max = flags.max_size_given;
  if (typeof max === "number") filter(`max_size_${max}`, (c) => c.i < max && c.j < max);
  const s1 = flags.start_ind_1_given, s2 = flags.start_ind_2_given;
  if (typeof s1 === "number" || typeof s2 === "number") {
    const a = s1 ?? 0, b = s2 ?? 0;
    filter(`start_${a}_${b}`, (c) => c.i >= a || c.j >= b);
  }
  if (flags.pos_arth && flags.pos_arth_ood) {
    throw new EvalError(`Cannot combine pos_arth=true and pos_arth_ood=true: choose one`);
  }
  if (flags.pos_arth) filter("pos_arth", (c) => c.i <= 25 && c.j <= 25);
  if (flags.pos_arth_ood) filter("pos_arth_ood", (c) => c.i >= 26 || c.j >= 26);
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
  return { task, name, part, cells, reverse, tokenizer };
}
