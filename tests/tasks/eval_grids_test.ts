// Grid specifications and upstream flag mapping: eval.grid parsing, each task's default grid,
// upstream's 20 addition jobs and 30 sorting jobs covering their grids exactly once, the token
// bounds against really generated samples, and one-line errors for bad input.

import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import {
  cellCost,
  cellTokens,
  type EvalCell,
  type EvalTask,
  type GridFlags,
  resolveGrid,
} from "../../tasks/eval/grids.ts";
import { openSamples } from "../../tasks/eval/samples.ts";

/** Counts how often each cell appears across several plans. */
function coverage(plans: EvalCell[][]): Map<string, number> {
  const seen = new Map<string, number>();
  for (const cells of plans) {
    for (const c of cells) seen.set(`${c.i},${c.j}`, (seen.get(`${c.i},${c.j}`) ?? 0) + 1);
  }
  return seen;
}

/** Asserts a thrown error is the given single line. */
function oneLine(fn: () => unknown, message: string | RegExp): void {
  throws(fn, (e: Error) => {
    ok(!e.message.includes("\n"), "one line");
    ok(!e.message.endsWith("."), "no trailing period");
    ok(/^Cannot /.test(e.message), `sentence case: ${e.message}`);
    if (typeof message === "string") strictEqual(e.message, message);
    else ok(message.test(e.message), e.message);
    return true;
  });
}

/** The rectangle of cells an eval.grid value selects, as resolveGrid reads it. */
function parseGridRange(grid: string): { i: number[]; j: number[] } {
  const cells = resolveGrid({ grid }).cells, last = cells[cells.length - 1];
  strictEqual(cells.length, (last.i - cells[0].i + 1) * (last.j - cells[0].j + 1));
  return { i: [cells[0].i, last.i], j: [cells[0].j, last.j] };
}

Deno.test("eval.grid reads ranges and single lengths", () => {
  deepStrictEqual(parseGridRange("1..12x1..12"), { i: [1, 12], j: [1, 12] });
  deepStrictEqual(parseGridRange("5x7"), { i: [5, 5], j: [7, 7] });
  deepStrictEqual(parseGridRange("1..20x3"), { i: [1, 20], j: [3, 3] });
  deepStrictEqual(parseGridRange(" 2..3 x 4..5 "), { i: [2, 3], j: [4, 5] });
});

Deno.test("eval.grid: malformed grids are refused with one line", () => {
  oneLine(() => parseGridRange("1..x3"), 'Cannot parse eval.grid "1..x3": expected I..JxK..L');
  oneLine(() => parseGridRange("12"), 'Cannot parse eval.grid "12": expected I..JxK..L');
  oneLine(() => parseGridRange("1-3x4"), /expected I\.\.JxK\.\.L/);
  oneLine(() => parseGridRange("5..1x3"), /range 5\.\.1 must satisfy 1 <= start <= end/);
  oneLine(() => parseGridRange("0..3x3"), /range 0\.\.3/);
});

Deno.test("resolveGrid() picks each task's default grid", () => {
  const cases: [GridFlags, EvalTask, string, number][] = [
    [{}, "addition", "addition_1-100x1-100", 10000],
    [{ mul: true }, "multiplication", "multiplication_1-25x1-25", 625],
    [{ tokenizer_type: "sort" }, "sorting", "sorting_1-30x1-30", 900],
    [{ grid: "1..12x1..12" }, "addition", "addition_1-12x1-12", 144],
  ];
  for (const [flags, task, name, count] of cases) {
    const plan = resolveGrid(flags);
    deepStrictEqual([plan.task, plan.name, plan.part, plan.cells.length], [
      task,
      name,
      null,
      count,
    ]);
  }
  deepStrictEqual(resolveGrid({ mul: true }).reverse, true);
  deepStrictEqual(resolveGrid({ reverse_inputs: false }).reverse, false);
  deepStrictEqual(resolveGrid({ tokenizer_type: "sort" }).tokenizer, "sort");
  deepStrictEqual(resolveGrid({ tokenizer_type: "index" }).tokenizer, "index");
});

Deno.test("resolveGrid() maps upstream's 20 big_eval_step x checkerboard jobs onto the 100x100 grid exactly once", () => {
  const plans: EvalCell[][] = [];
  const parts = new Set<string>();
  for (let k = 1; k <= 10; k++) {
    for (const cb of ["even", "odd"]) {
      const plan = resolveGrid({ [`big_eval_step_${k}`]: true, checkerboard: cb } as GridFlags);
      strictEqual(plan.name, "addition_1-100x1-100");
      parts.add(plan.part!);
      plans.push(plan.cells);
    }
  }
  const seen = coverage(plans);
  strictEqual(parts.size, 20);
  strictEqual(seen.size, 10000);
  ok([...seen.values()].every((v) => v === 1));
  deepStrictEqual(resolveGrid({ big_eval_step_10: true }).cells.length, 100 * 100 - 97 * 97);
});

Deno.test("resolveGrid() maps upstream's 30 sorting jobs onto the 30x30 grid exactly once", () => {
  const plans: EvalCell[][] = [];
  for (let k = 1; k <= 30; k++) {
    const plan = resolveGrid({
      tokenizer_type: "sort",
      sort_reverse: true,
      max_size_given: k + 1,
      start_ind_1_given: k,
      start_ind_2_given: k,
    });
    ok(plan.cells.every((c) => Math.max(c.i, c.j) === k));
    plans.push(plan.cells);
  }
  const seen = coverage(plans);
  strictEqual(seen.size, 900);
  ok([...seen.values()].every((v) => v === 1));
});

Deno.test("resolveGrid() splits bitwise OR into pos_arth and pos_arth_ood", () => {
  const a = resolveGrid({ pos_arth: true }), b = resolveGrid({ pos_arth_ood: true });
  deepStrictEqual([a.task, a.name, a.part, a.cells.length], [
    "or",
    "or_1-40x1-40",
    "pos_arth",
    625,
  ]);
  deepStrictEqual([b.name, b.part, b.cells.length], ["or_1-40x1-40", "pos_arth_ood", 1600 - 625]);
  const seen = coverage([a.cells, b.cells]);
  strictEqual(seen.size, 1600);
  strictEqual(a.reverse, false);
});

Deno.test("resolveGrid() maps extended_eval to upstream's equal-length sets", () => {
  const one = resolveGrid({ extended_eval: true });
  deepStrictEqual([one.name, one.cells.length], ["addition_extended_1", 60]);
  ok(one.cells.every((c, k) => c.i === 101 + k && c.j === c.i));
  deepStrictEqual(
    resolveGrid({ extended_eval: true, big_eval_step_4: true }).cells.map((c) => c.i),
    [300, 400, 500, 600],
  );
  deepStrictEqual(
    resolveGrid({ extended_eval: true, big_eval_step_2: true, checkerboard: "even" }).part,
    "checkerboard_even",
  );
  oneLine(
    () => resolveGrid({ extended_eval: true, big_eval_step_5: true }),
    /extended sets are 1\.\.4/,
  );
});

Deno.test("resolveGrid() rejects unknown values, conflicts and empty selections with one line", () => {
  oneLine(
    () => resolveGrid({ grid: "1..x3" }),
    'Cannot parse eval.grid "1..x3": expected I..JxK..L',
  );
  oneLine(
    () => resolveGrid({ big_eval_step_2: true, big_eval_step_5: true }),
    "Cannot combine big_eval_step_2 and big_eval_step_5: choose one",
  );
  oneLine(() => resolveGrid({ mul: true, pos_arth: true }), /select different tasks/);
  oneLine(() => resolveGrid({ sort_reverse: true, mul: true }), /select different tasks/);
  oneLine(() => resolveGrid({ pos_arth: true, pos_arth_ood: true }), /choose one/);
  oneLine(
    () => resolveGrid({ sort_reverse: true, tokenizer_type: "index" }),
    "Cannot evaluate sorting with tokenizer_type=index: it needs sort",
  );
  oneLine(() => resolveGrid({ mul: true, ood_only: true }), /splits addition grids only/);
  oneLine(
    () => resolveGrid({ grid: "1..10x1..10", big_eval_step_3: true }),
    "Cannot evaluate addition_1-10x1-10: big_eval_step_3 keeps none of its 100 cells",
  );
  oneLine(() => resolveGrid({ sort_reverse: true, grid: "1..3x1..120" }), /only 102 labels/);
  oneLine(() => resolveGrid({ extended_eval: true, grid: "1x1" }), /Cannot combine extended_eval/);
});

Deno.test("cellTokens() bounds the prompts and answers of generated samples", async () => {
  const cells: [GridFlags, EvalTask, number, number][] = [
    [{}, "addition", 1, 1],
    [{}, "addition", 7, 3],
    [{ mul: true }, "multiplication", 4, 6],
    [{ tokenizer_type: "sort" }, "sorting", 3, 5],
    [{ pos_arth: true }, "or", 5, 2],
  ];
  for (const [flags, task, i, j] of cells) {
    const plan = resolveGrid({ ...flags, grid: `${i}x${j}` });
    strictEqual(plan.task, task);
    const samples = await (await openSamples(plan, { removePadding: false }))(i, j);
    const { prompt, generate } = cellTokens(task, i, j);
    strictEqual(cellCost(task, { i, j }), samples.length * (prompt + generate));
    const longestPrompt = Math.max(...samples.map((s) => s.prompt.length));
    const longestAnswer = Math.max(...samples.map((s) => s.target.length - 1)); // less the EOS
    ok(longestPrompt <= prompt, `${task} ${i}x${j} prompt ${longestPrompt} > ${prompt}`);
    const scored = task === "sorting" ? longestAnswer : longestAnswer + 1;
    ok(scored <= generate, `${task} ${i}x${j} answer ${scored} > ${generate}`);
    if (task !== "sorting") strictEqual(longestPrompt, prompt);
  }
});
