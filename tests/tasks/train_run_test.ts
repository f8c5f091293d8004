// End-to-end tests of `deno task train`: a short tiny-addition run leaves FINAL_<loss> with the
// weights and model_config.json (also when started from another folder), its loss falls, and
// model.safetensors read by an independent parser equals the weights in memory, with upstream's
// key names and buffers.

import { deepEqual, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../../cli/config.ts";
import { resolveArch } from "../../core/nn/arch.ts";
import { ArithmeticModel } from "../../core/nn/model.ts";
import { AdamW } from "../../core/optim.ts";
import { CPU } from "../../core/backend.ts";
import { saveTrainCheckpoint } from "../../tasks/train/checkpoint_io.ts";
import {
  checkpointNames,
  childEnv,
  errorLines,
  FAST,
  loggedLosses,
  parseSafetensorsIndependently,
  REPO,
  TRAIN_URL,
} from "./_train_helpers.ts";

async function run(
  cmd: string[],
  cwd: string,
): Promise<{ code: number; out: string; err: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: cmd,
    cwd,
    env: childEnv(),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
}

async function finalDir(base: string, name: string): Promise<string> {
  const finals = (await checkpointNames(base, name)).filter((n) => n.startsWith("FINAL_"));
  deepEqual(finals.length, 1, `one FINAL_ folder, got ${finals}`);
  match(finals[0], /^FINAL_\d+\.\d{4}$/);
  return join(base, name, "checkpoints", finals[0]);
}

Deno.test("deno task train, started in another folder, leaves FINAL_<loss> and its loss falls", async () => {
  const cwd = await Deno.makeTempDir();
  try {
    const r = await run([
      "task",
      "--config",
      join(REPO, "deno.json"),
      "train",
      ...FAST,
      "name=t",
      "base_dir=./out",
      "train.budget_steps=60",
      "train.steps=40",
    ], cwd);
    deepEqual(r.code, 0, r.err);
    const base = join(cwd, "out"); // relative to the folder deno task was started in
    const dir = await finalDir(base, "t");
    for (
      const f of ["model.safetensors", "model_config.json", "optimizer.safetensors", "state.json"]
    ) {
      ok((await Deno.stat(join(dir, f))).size > 0, f);
    }
    const arch = JSON.parse(await Deno.readTextFile(join(dir, "model_config.json")));
    deepEqual([arch.hidden_size, arch.embedding.pos_embedding], [64, "abacus"]);
    const losses = (await loggedLosses(base, "t")).map(([, l]) => l);
    deepEqual(losses.length, 40);
    deepEqual(dir.endsWith(`FINAL_${losses[39].toFixed(4)}`), true);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    ok(mean(losses.slice(-5)) < mean(losses.slice(0, 5)) - 0.3, `loss fell: ${losses}`);
    match(r.out, /Test split: loss \d+\.\d+, perplexity \d+\.\d+ \(200 rows\); exact match/);
    const runs = [...Deno.readDirSync(join(base, "t", "pretrain"))];
    deepEqual(runs.length, 1);
    const file = await Deno.readFile(join(dir, "model.safetensors"));
    const { tensors } = parseSafetensorsIndependently(file);
    ok("encoder.recurrent_block._orig_mod.layers.1.attn.attn.in_proj_weight" in tensors);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

const BARE_YAML = (await Deno.readTextFile(join(REPO, "cli/config.ts"))).includes(`from "yaml"`);

Deno.test({
  name: "tasks/train.ts runs as a plain script URL from another folder" +
    (BARE_YAML ? ' (skipped: cli/ imports bare "yaml", which needs the repo\'s deno.json)' : ""),
  ignore: BARE_YAML,
  fn: async () => {
    const cwd = await Deno.makeTempDir();
    try {
      const r = await run([
        "run",
        "-A",
        TRAIN_URL,
        ...FAST,
        "name=s",
        `base_dir=${cwd}`,
        "train.steps=3",
      ], cwd);
      deepEqual(r.code, 0, r.err);
      await finalDir(cwd, "s");
    } finally {
      await Deno.remove(cwd, { recursive: true });
    }
  },
});

async function roundTrip(extra: string[]): Promise<void> {
  const cfg = await loadConfig([...FAST, ...extra], "pretrain", { log: () => {} });
  const arch = resolveArch(cfg.arch, 19);
  const model = ArithmeticModel.create(arch, { backend: CPU, seed: 5 });
  const opt = new AdamW(model.arena);
  const dir = join(await Deno.makeTempDir(), "last");
  try {
    await saveTrainCheckpoint(model, opt, {
      dir,
      cfg,
      state: {
        format: "abacus-checkpoint",
        version: 1,
        saved_at: new Date().toISOString(),
        kind: "intermediate",
        step: 0,
        optimizer_steps: 0,
        tokens: 0,
        elapsed_seconds: 0,
        schedule: { progress: 0, lr: 0, batch_size: 16 },
        data: { dataset: "x", position: 0, epoch: 0 },
        rng: { model: model.rng.getState(), train: model.rng.getState() },
        loss: null,
        config_hash: "",
        seed: 5,
      },
    });
    const bytes = await Deno.readFile(join(dir, "model.safetensors"));
    const { tensors, metadata, dataStart } = parseSafetensorsIndependently(bytes);
    deepEqual(metadata.format, "pt");
    deepEqual(dataStart % 8, 0);
    const weights = await model.arena.readAll();
    for (const e of model.arena.entries) {
      const t = tensors[e.name];
      ok(t, `missing ${e.name}`);
      deepEqual([t.dtype, t.shape], ["F32", [...e.param.shape]], e.name);
      deepEqual(t.values, Array.from(weights[e.name]), e.name);
    }
    const ids = tensors["encoder.embedding.pos_embedding.position_ids"];
    deepEqual([ids.dtype, ids.shape], ["I64", [1, 64]]);
    deepEqual(ids.values[63], 63n);
    for (const key of Object.keys(tensors)) {
      if (key.startsWith("encoder.recurrent_block")) {
        match(key, /^encoder\.recurrent_block\._orig_mod\./);
      }
    }
    if (arch.tieWeights) {
      deepEqual(
        tensors["decoder.weight"].values,
        Array.from(weights["encoder.embedding.word_embedding.weight"]),
      );
    }
    if (arch.attentionType === "self-attention") {
      const nf = tensors["encoder.recurrent_block._orig_mod.layers.0.attn.norm_factor"];
      deepEqual([nf.shape, nf.values], [[], [Math.fround(1 / 4)]]); // head_dim 16
      const initL = tensors["encoder.recurrent_block._orig_mod.layers.1.attn.rotary_emb.init_L"];
      deepEqual(initL.values, [512]);
    }
    const extra = Object.keys(tensors).length - model.arena.entries.length;
    deepEqual(
      extra,
      1 + (arch.tieWeights ? 1 : 0) + (arch.attentionType === "self-attention" ? 4 : 0),
    );
    const opt2 = parseSafetensorsIndependently(
      await Deno.readFile(join(dir, "optimizer.safetensors")),
    );
    deepEqual(Object.keys(opt2.tensors).length, 2 * model.arena.entries.length);
    deepEqual(opt2.metadata.step, "0");
  } finally {
    await Deno.remove(join(dir, ".."), { recursive: true });
    model.dispose();
  }
}

Deno.test("model.safetensors, read by an independent parser, equals the weights in memory", async () => {
  await roundTrip([]);
  await roundTrip([
    "arch.attention.type=self-attention",
    "arch.attention.rotary_embedding=fire",
    "arch.tie_weights=True",
  ]);
});

Deno.test("deno task train --help lists the presets", async () => {
  const r = await run(
    ["run", "-A", "--config", join(REPO, "deno.json"), TRAIN_URL, "--help"],
    REPO,
  );
  deepEqual(r.code, 0);
  match(r.out, /tiny-addition/);
  deepEqual(errorLines(r.err), []);
});
