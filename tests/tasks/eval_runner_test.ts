// The evaluation loop with fake deterministic decoders (an exact oracle that errs on chosen
// prompts): resume skips finished cells, merged shards and parts equal an unsharded run, grid
// data on disk gives the same results as generated samples, and the plot task reads the output.

import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { generateGrid } from "../../data/generate.ts";
import { EOS, getTokenizer } from "../../data/tokenizer.ts";
import { Progress } from "../../cli/progress.ts";
import { readPanel } from "../../tasks/plot/input.ts";
import { resolveGrid } from "../../tasks/eval/grids.ts";
import { type Decoder, evaluateGrid } from "../../tasks/eval/runner.ts";
import { mergeResults, readCells, ResultStore } from "../../tasks/eval/results.ts";

const ids = getTokenizer("sort");
const rev = (s: string) => [...s].reverse().join("");
const digitsOf = (ts: number[]) => ts.map((t) => String(t - 4)).join("");

/** The right answer of a prompt (addition, multiplication, reversed; or sorting) plus EOS. */
function oracle(prompt: Int32Array): number[] {
  const p = [...prompt];
  if (p.includes(16) && p.includes(15)) { // sorting: label:number,...= (reversed numbers)
    const items: { label: number; value: bigint }[] = [];
    for (let k = 0; p[k] !== 17;) {
      const label = p[k], digits: number[] = [];
      k += 2;
      while (p[k] >= 4 && p[k] <= 13) digits.push(p[k++]);
      items.push({ label, value: BigInt(rev(digitsOf(digits))) });
      if (p[k] === 15) k++;
    }
    const sorted = items.map((x, k) => ({ ...x, k })).sort((a, b) =>
      a.value < b.value ? -1 : a.value > b.value ? 1 : a.k - b.k
    );
    return [...sorted.flatMap((x, k) => (k > 0 ? [15, x.label] : [x.label])), EOS];
  }
  const op = p.findIndex((t) => t === 14 || t === 16);
  const a = BigInt(rev(digitsOf(p.slice(0, op)))), b = BigInt(rev(digitsOf(p.slice(op + 1, -1))));
  const c = p[op] === 14 ? a + b : a * b;
  return [...rev(String(c))].map((ch) => Number(ch) + 4).concat(EOS);
}

/** A decoder that answers right except on prompts `wrong` picks (first answer token changed). */
function fakeDecoder(calls: { n: number }, wrong = (p: Int32Array) => p[1] === 11): Decoder {
  return (prompts, maxNew) => {
    calls.n++;
    return Promise.resolve(prompts.map((p) => {
      const out = oracle(p);
      if (wrong(p)) {
        if (out[1] === 15) [out[0], out[2]] = [out[2], out[0]]; // sorting: swap two labels
        else out[0] = out[0] === 4 ? 5 : 4;
      }
      return Int32Array.from(out.slice(0, maxNew));
    }));
  };
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("evaluateGrid() scores an exact oracle as right and its errors as wrong", async () => {
  await withTemp(async (root) => {
    const plan = resolveGrid({ grid: "1..4x1..4" });
    const gridDir = join(root, "run", "downstream", plan.name);
    const r = await evaluateGrid({
      plan,
      gridDir,
      decode: fakeDecoder({ n: 0 }),
      samples: 20,
      trainRange: [[1, 2], [1, 2]],
    });
    const one = r.cells.find((c) => c.i === 1 && c.j === 3)!; // 1 digit: no second-token errors
    deepStrictEqual([one.correct, one.total], [20, 20]);
    ok(r.cells.some((c) => c.i >= 2 && c.correct < c.total && c.correct > 0));
    deepStrictEqual([r.summary.in_distribution_cells, r.summary.out_of_distribution_cells], [
      4,
      12,
    ]);
    const samples = JSON.parse(await Deno.readTextFile(join(gridDir, "samples", "cell_2_3.json")));
    strictEqual(samples.samples.length, 20);
    const s0 = samples.samples[0];
    ok(/^\d\d\+\d{3}=$/.test(s0.prompt), s0.prompt);
    strictEqual(s0.correct, s0.prediction === s0.target);
    const panel = await readPanel([gridDir]); // samples/ files parse as cells for the plot task
    deepStrictEqual(panel.cells.map((c) => c.correct), r.cells.map((c) => c.correct));
    deepStrictEqual([panel.name, panel.kind], [plan.name, "addition"]);
    deepStrictEqual(panel.trainRange, [[1, 2], [1, 2]]);
  });
});

Deno.test("evaluateGrid() resumes: a rerun decodes only the unfinished cells", async () => {
  await withTemp(async (gridDir) => {
    const plan = resolveGrid({ grid: "1..3x1..3" });
    const calls = { n: 0 };
    const inner = fakeDecoder(calls);
    const crashing: Decoder = (p, n) => {
      if (calls.n === 4) throw new Error("preempted");
      return inner(p, n);
    };
    await rejects(evaluateGrid({ plan, gridDir, decode: crashing, samples: 10 }), /preempted/);
    strictEqual((await readCells(gridDir)).length, 4);
    calls.n = 0;
    const r = await evaluateGrid({ plan, gridDir, decode: inner, samples: 10 });
    deepStrictEqual([calls.n, r.evaluated, r.skipped, r.cells.length], [5, 5, 4, 9]);
    calls.n = 0;
    const again = await evaluateGrid({ plan, gridDir, decode: inner, samples: 10 });
    deepStrictEqual([calls.n, again.skipped], [0, 9]);
    deepStrictEqual(again.cells, r.cells);
  });
});

Deno.test("evaluateGrid() batches prompts and checks the decoder's row count", async () => {
  await withTemp(async (gridDir) => {
    const plan = resolveGrid({ grid: "2x2" });
    const calls = { n: 0 };
    const lines: string[] = [];
    const writer = {
      writeSync: (b: Uint8Array) => (lines.push(new TextDecoder().decode(b)), b.length),
    };
    const progress = new Progress("eval", { writer, tty: false, intervalMs: 0 });
    await evaluateGrid({
      plan,
      gridDir,
      decode: fakeDecoder(calls),
      samples: 25,
      batchSize: 10,
      progress,
    });
    strictEqual(calls.n, 3);
    ok(lines.some((l) => l.startsWith("eval: done")), lines.join(""));
    const short: Decoder = (p) => Promise.resolve(p.slice(1).map(() => new Int32Array(0)));
    await rejects(
      evaluateGrid({ plan: resolveGrid({ grid: "3x3" }), gridDir: `${gridDir}/b`, decode: short }),
      /Decoder returned 99 rows for 100 prompts/,
    );
  });
});

Deno.test("mergeResults() of 3 shards equals an unsharded run", async () => {
  await withTemp(async (root) => {
    const plan = resolveGrid({ grid: "1..5x1..6" });
    const stamp = { checkpoint: "FINAL_0.01", max_rec: 2 };
    const whole = await evaluateGrid({
      plan,
      gridDir: join(root, "whole"),
      decode: fakeDecoder({ n: 0 }),
      samples: 8,
      stamp,
    });
    const shardDir = join(root, "sharded");
    for (let k = 1; k <= 3; k++) {
      await evaluateGrid({
        plan,
        gridDir: shardDir,
        decode: fakeDecoder({ n: 0 }),
        samples: 8,
        stamp,
        shard: { index: k, count: 3 },
      });
    }
    const merged = await mergeResults(shardDir, { expected: plan.cells });
    deepStrictEqual(merged.cells, whole.cells);
    deepStrictEqual(merged.missing, []);
    deepStrictEqual(merged.summary, whole.summary);
    deepStrictEqual(await readCells(shardDir), await readCells(join(root, "whole")));
    const names = async (d: string) => {
      const out: string[] = [];
      for await (const e of Deno.readDir(join(d, "samples"))) out.push(e.name);
      return out.sort();
    };
    deepStrictEqual(await names(shardDir), await names(join(root, "whole")));
    const calls = { n: 0 }; // the merged grid folder counts as finished for a rerun
    const rerun = await evaluateGrid({
      plan,
      gridDir: shardDir,
      decode: fakeDecoder(calls),
      samples: 8,
      stamp,
    });
    deepStrictEqual([calls.n, rerun.skipped], [0, 30]);
  });
});

Deno.test("mergeResults() combines upstream-style checkerboard parts", async () => {
  await withTemp(async (root) => {
    for (const cb of ["even", "odd"] as const) {
      const plan = resolveGrid({ grid: "1..4x1..4", checkerboard: cb });
      await evaluateGrid({ plan, gridDir: root, decode: fakeDecoder({ n: 0 }), samples: 5 });
    }
    const merged = await mergeResults(root, { expected: resolveGrid({ grid: "1..4x1..4" }).cells });
    deepStrictEqual([merged.cells.length, merged.missing.length], [16, 0]);
  });
});

Deno.test("mergeResults() rejects conflicting cells and shards of different setups", async () => {
  await withTemp(async (root) => {
    const plan = resolveGrid({ grid: "1..2x1..2" });
    const run = (dir: string, k: number, stamp = {}) =>
      evaluateGrid({
        plan,
        gridDir: dir,
        decode: fakeDecoder({ n: 0 }),
        samples: 3,
        stamp,
        shard: { index: k, count: 2 },
      });
    const a = join(root, "a");
    const r1 = await run(a, 1);
    await run(a, 2);
    const c = r1.cells[0];
    await Deno.writeTextFile(
      join(a, "shard_2_of_2", `cell_${c.i}_${c.j}.json`),
      JSON.stringify({ ...c, correct: c.correct === 0 ? 1 : 0 }),
    );
    await rejects(
      mergeResults(a),
      /^EvalError: Cannot merge cell \(\d+, \d+\): \d+\/3 in .* but \d+\/3 in .*$/,
    );
    const b = join(root, "b");
    await run(b, 1, { max_rec: 2 });
    await run(b, 2, { max_rec: 4 });
    await rejects(mergeResults(b), /Cannot merge .* with .*: they hold settings/);
    await rejects(
      run(b, 1, { max_rec: 8 }),
      /Cannot resume .*: it holds results with max_rec 2 there, 8 now/,
    );
  });
});

Deno.test("evaluateGrid() reads grid data from disk and matches generated samples", async () => {
  await withTemp(async (root) => {
    await generateGrid({ preset: "addition-grid", maxSide: 3, out: join(root, "data") });
    const plan = resolveGrid({ grid: "1..4x2" }); // (4, 2) is not on disk: generated
    const fromDisk = await evaluateGrid({
      plan,
      gridDir: join(root, "a"),
      decode: fakeDecoder({ n: 0 }),
      dataDir: join(root, "data"),
    });
    const generated = await evaluateGrid({
      plan,
      gridDir: join(root, "b"),
      decode: fakeDecoder({ n: 0 }),
    });
    deepStrictEqual(fromDisk.cells, generated.cells);
    await rejects(
      evaluateGrid({
        plan,
        gridDir: join(root, "c"),
        decode: fakeDecoder({ n: 0 }),
        dataDir: join(root, "data"),
        seed: 7,
      }),
      /Cannot use grid data .*: its seed is 42, the evaluation needs 7/,
    );
  });
});

Deno.test("evaluateGrid() scores sorting by labels, first element and minimum", async () => {
  await withTemp(async (gridDir) => {
    const plan = resolveGrid({ tokenizer_type: "sort", grid: "1..3x2..3" });
    const r = await evaluateGrid({
      plan,
      gridDir,
      decode: fakeDecoder({ n: 0 }, (p) => p[2] === 13),
      samples: 30,
    });
    for (const c of r.cells) {
      ok(c.correct_first !== undefined && c.correct_min !== undefined);
      ok(c.correct <= c.correct_first! && c.correct_first! <= c.correct_min!, JSON.stringify(c));
    }
    ok(r.cells.some((c) => c.correct < c.total));
    ok(r.summary.first_element !== undefined && r.summary.min_element !== undefined);
    const s = JSON.parse(await Deno.readTextFile(join(gridDir, "samples", "cell_2_3.json")));
    ok(/^(.:\d{1,2},){2}.:\d{1,2}=$/u.test(s.samples[0].prompt), s.samples[0].prompt);
    strictEqual(ids.encode(s.samples[0].target).length, 5);
  });
});

Deno.test("evaluateGrid() evaluates bitwise OR cells with every one-hot case", async () => {
  await withTemp(async (gridDir) => {
    const plan = resolveGrid({ pos_arth: true, grid: "1..3x1..3" });
    // OR of the two left-aligned operands, as many digits as the longer one.
    const decode: Decoder = (prompts) =>
      Promise.resolve(prompts.map((p) => {
        const plus = p.indexOf(14), a = p.slice(0, plus), b = p.slice(plus + 1, -1);
        const n = Math.max(a.length, b.length);
        const out = Array.from(
          { length: n },
          (_, k) => ((a[k] ?? 4) === 5 || (b[k] ?? 4) === 5 ? 5 : 4),
        );
        return Int32Array.from([...out, EOS]);
      }));
    const r = await evaluateGrid({ plan, gridDir, decode });
    deepStrictEqual(r.cells.map((c) => c.total), [1, 1, 1, 1, 2, 2, 1, 2, 3]);
    ok(r.cells.every((c) => c.correct === c.total));
    strictEqual(r.summary.all, 1);
  });
});

Deno.test("writeSummary() averages cells in, out of distribution and beyond 100 digits", async () => {
  const gridDir = await Deno.makeTempDir();
  const job = { grid_name: "g", task: "addition" as const, part: null, stamp: {} };
  const cells = [
    { i: 1, j: 1, correct: 10, total: 10 },
    { i: 5, j: 1, correct: 2, total: 10 },
    { i: 120, j: 120, correct: 0, total: 10 },
  ];
  const store = await ResultStore.open(gridDir, { ...job, train_range: [[1, 2], [1, 2]] });
  const s = await store.writeSummary(cells);
  deepStrictEqual([s.in_distribution, s.out_of_distribution, s.extended], [1, 0.1, 0]);
  deepStrictEqual([s.in_distribution_cells, s.out_of_distribution_cells, s.extended_cells], [
    1,
    2,
    1,
  ]);
  deepStrictEqual([s.all, s.samples], [(1 + 0.2 + 0) / 3, 30]); // each cell weighs the same
  // Without a training range there is no in/out split.
  const part = await ResultStore.open(gridDir, { ...job, part: "p", train_range: null });
  const u = await part.writeSummary(cells);
  deepStrictEqual([u.in_distribution, u.out_of_distribution, u.in_distribution_cells], [
    null,
    null,
    0,
  ]);
  await Deno.remove(gridDir, { recursive: true });
});
