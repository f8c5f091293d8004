// The evaluation task with a real model: KV-cached batched decoding gives the same per-cell
// accuracy as upstream's full recomputation, and the task's bad inputs give one line and exit 1.
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { resolveGrid } from "../../tasks/eval/grids.ts";
import { evaluateGrid } from "../../tasks/eval/runner.ts";
import { greedyDecode } from "../../core/nn/decode.ts";
import { ArithmeticModel } from "../../core/nn/model.ts";
import { resolveArch } from "../../core/nn/arch.ts";
import { CPU } from "../../core/backend.ts";
import { main } from "../../tasks/eval.ts";

Deno.test("evaluateGrid() gives the same per-cell accuracy with the KV cache as with full recomputation", async () => {
  // A partly trained model would be better, but any fixed model must agree token for token; a
  // random model whose first answer token follows the data makes some cells partly right.
  const arch = resolveArch({
    hidden_size: 16,
    intermed_size: 32,
    layers_in_recurrent_block: 1,
    maximal_recurrence: 2,
    attention: { num_attention_heads: 2 },
    embedding: { pos_embedding: "abacus", max_seq_length: 32 },
  }, 19);
  const model = ArithmeticModel.create(arch, { backend: CPU, seed: 4 });
  const plan = resolveGrid({ grid: "1..3x1..3" });
  const results = [];
  for (const cached of [true, false]) {
    const dir = await Deno.makeTempDir();
    const r = await evaluateGrid({
      plan,
      gridDir: join(dir, "grid"),
      decode: (prompts, maxNewTokens) =>
        greedyDecode(model, prompts, { maxNewTokens, seed: 5, cached }),
      samples: 12,
      batchSize: 7,
    });
    results.push(r.cells.map((c) => [c.i, c.j, c.correct, c.total]));
    await Deno.remove(dir, { recursive: true });
  }
  deepStrictEqual(results[0], results[1]);
  strictEqual(results[0].length, 9);
});

Deno.test("eval task: a missing checkpoint, an unknown key and a grid beyond the model give one line", async () => {
  const base = await Deno.makeTempDir();
  const errors: string[] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => errors.push(a.join(" "));
  try {
    strictEqual(await main([`name=none`, `base_dir=${base}`, "eval.grid=1..2x1..2"]), 1);
    strictEqual(await main([`name=none`, `base_dir=${base}`, "eval.gird=1..2x1..2"]), 1);
    strictEqual(await main([`name=none`, `base_dir=${base}`, "eval.grid=1..x3"]), 1);
  } finally {
    console.error = orig;
  }
  strictEqual(errors.length, 3);
  ok(errors[0].includes('No checkpoint for run "none"'), errors[0]);
  ok(errors[1].includes("eval.grid"), errors[1]);
  ok(errors[2].includes("1..x3"), errors[2]);
  for (const e of errors) ok(!e.includes("\n"), e);
  await Deno.remove(base, { recursive: true });
});

Deno.test("eval task: refuses a grid whose numbers exceed the model's Abacus table", async () => {
  const { loadConfig } = await import("../../cli/config.ts");
  const { train } = await import("../../tasks/train/run.ts");
  const base = await Deno.makeTempDir();
  const quiet = { log: () => {} };
  const origLog = console.log;
  console.log = () => {};
  try {
    await train(
      await loadConfig(
        [
          "preset=tiny-addition",
          "name=t",
          `base_dir=${base}`,
          "train.budget_steps=2",
          "impl.backend=cpu",
        ],
        "pretrain",
        quiet,
      ),
    );
  } finally {
    console.log = origLog;
  }
  const errors: string[] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => errors.push(a.join(" "));
  try {
    strictEqual(
      await main(["name=t", `base_dir=${base}`, "eval.grid=70x70", "impl.backend=cpu"]),
      1,
    );
  } finally {
    console.error = orig;
  }
  ok(/70-digit numbers but the Abacus table has 64 rows/.test(errors[0]), errors[0]);
  await Deno.remove(base, { recursive: true });
});

Deno.test("eval task: a model trained with a multiplication scratchpad is asked and scored in that format", async () => {
  const { loadConfig } = await import("../../cli/config.ts");
  const { train } = await import("../../tasks/train/run.ts");
  const { generateDataset, generateGrid } = await import("../../data/generate.ts");
  const base = await Deno.makeTempDir();
  // A preset grid folder in the plain format sits where eval looks first: it must not be used.
  await generateGrid({ preset: "multiplication-grid", maxSide: 2, baseDir: base });
  const spec = { op: "x" as const, n: 2, m: 2, limit: 200, reverseAll: true, scratchpad: true };
  await generateDataset({ spec, out: join(base, "data", "mulpad") });
  const origLog = console.log;
  console.log = () => {};
  try {
    const keys = ["preset=tiny-multiplication", "name=t", `base_dir=${base}`, "impl.backend=cpu"];
    const more = ["data.dataset=mulpad", "train.budget_steps=2"];
    await train(await loadConfig([...keys, ...more], "pretrain", { log: () => {} }));
    const args = ["name=t", `base_dir=${base}`, "mul=True", "eval.grid=1..2x1..2"];
    strictEqual(await main([...args, "impl.backend=cpu"]), 0);
  } finally {
    console.log = origLog;
  }
  // The checkpoint records the folder its data came from.
  const { listCheckpoints } = await import("../../core/checkpoint.ts");
  const [ckpt] = await listCheckpoints(join(base, "t"));
  const state = JSON.parse(await Deno.readTextFile(join(ckpt.path, "state.json")));
  deepStrictEqual(state.data.folder, "mulpad");
  const samples = join(base, "t", "downstream", "multiplication_1-2x1-2", "samples");
  const cell = JSON.parse(await Deno.readTextFile(join(samples, "cell_2_2.json")));
  ok(cell.samples.length > 0);
  for (const s of cell.samples as { prompt: string; target: string }[]) {
    // prompt "ab x cd =" reversed; target "p0+p1=c", every part reversed.
    const m = /^(\d\d)x(\d\d)=$/.exec(s.prompt), t = /^(\d+)\+(\d+)=(\d+)$/.exec(s.target);
    ok(m && t, `${s.prompt}${s.target}`);
    const r = (x: string) => BigInt([...x].reverse().join(""));
    const a = r(m[1]), b = r(m[2]);
    deepStrictEqual([r(t[1]), r(t[2]), r(t[3])], [a * (b % 10n), a * (b / 10n) * 10n, a * b]);
  }
  await Deno.remove(base, { recursive: true });
});

Deno.test("readTrainingMeta: the folder a run recorded wins over what its preset name means today", async () => {
  const { readTrainingMeta } = await import("../../tasks/eval/model_io.ts");
  const { generateDataset } = await import("../../data/generate.ts");
  const base = await Deno.makeTempDir(), run = join(base, "run");
  await Deno.mkdir(run);
  // A run trained on the plain set under the preset's name, before the preset gained a scratchpad.
  const state = {
    data: { dataset: "tiny-multiplication", folder: "plain", position: 0, epoch: 0 },
  };
  await Deno.writeTextFile(join(run, "state.json"), JSON.stringify(state));
  const plain = { op: "x" as const, n: 2, m: 2, limit: 50, reverseAll: true };
  await generateDataset({ spec: plain, out: join(base, "data", "plain") });
  await generateDataset({ preset: "tiny-multiplication", baseDir: base });
  strictEqual((await readTrainingMeta(run, base))?.generator.scratchpad, false);
  // Once that folder is gone, the preset's name is all there is.
  await Deno.remove(join(base, "data", "plain"), { recursive: true });
  strictEqual((await readTrainingMeta(run, base))?.generator.scratchpad, true);
  await Deno.remove(base, { recursive: true });
});
