// The config loader: defaults, presets and overrides merged in order, upstream's command lines
// accepted verbatim, unknown keys and wrong types rejected with one clear line, ignored keys
// noted. The written and reloaded config is tested in config_files_test.ts.

import { deepStrictEqual as equal, ok, rejects } from "node:assert/strict";
import { loadConfig } from "../../cli/config.ts";
import { PRESET_NAMES } from "../../cli/config_keys.ts";

const opts = { env: () => undefined, cwd: "/work/x" };
const load = (args: string[]) => loadConfig(args, "pretrain", { ...opts, log: () => {} });
const loadEval = (args: string[]) => loadConfig(args, "eval", { ...opts, log: () => {} });
const fails = (args: string[], re: RegExp, kind: "pretrain" | "eval" = "pretrain") =>
  rejects(() => loadConfig(args, kind, opts), (e: Error) => {
    ok(e.name === "ConfigError", `${e.name}: ${e.message}`);
    ok(!e.message.includes("\n"), "one line");
    ok(re.test(e.message), e.message);
    return true;
  });

Deno.test("loadConfig() gives upstream's defaults with interpolations resolved", async () => {
  const cfg = await load([]);
  equal([cfg.name, cfg.budget, cfg.overall_budget, cfg.seed], ["default", 4, 4, null]);
  equal([cfg.arch.hidden_size, cfg.arch.maximal_recurrence_in_eval, cfg.arch.norm_eps], [
    768,
    4,
    1e-12,
  ]);
  equal([cfg.arch.embedding.max_seq_length, cfg.arch.embedding.embedding_dim], [512, 768]);
  equal(cfg.arch.embedding.pos_embedding, "learned");
  equal([cfg.train.optim.lr, cfg.train.optim.betas, cfg.train.steps], [
    1e-3,
    [0.9, 0.98],
    12000000,
  ]);
  equal([cfg.train.batch_size, cfg.train.batch_size_ramp, cfg.train.gradient_clipping], [
    8192,
    0.6,
    0.5,
  ]);
  equal([cfg.train.path, cfg.impl.microbatch_size, cfg.impl.backend], ["data", 128, "webgpu"]);
  equal([cfg.base_dir, cfg.model_dir], ["/work/x/abacus-data", "/work/x/abacus-data"]);
  equal(cfg.data.max_entries_in_raw_dataset, 20e6);
  equal([cfg.train.budget_tokens, cfg.train.budget_steps, cfg.preset], [null, null, null]);
});

Deno.test("loadConfig() re-resolves interpolations after overrides", async () => {
  const cfg = await load([
    "arch.maximal_recurrence=8",
    "data.seq_length=128",
    "arch.hidden_size=64",
  ]);
  equal(cfg.arch.maximal_recurrence_in_eval, 8);
  equal([cfg.arch.embedding.max_seq_length, cfg.arch.embedding.embedding_dim], [128, 64]);
  equal((await load(["budget=24"])).train.overall_budget, 24);
});

Deno.test("loadConfig() splices text interpolations and rejects bad ones in one line", async () => {
  const cfg = await load(["data.name=a${train.name}b", "train.limited_decay_keys=[x${impl.name}]"]);
  equal([cfg.data.name, cfg.train.limited_decay_keys], ["acramming-o4b", ["xtorch-default"]]);
  await fails(["data.name=${data.name}"], /^Cannot resolve data.name: .* refers to itself$/);
  await fails(["data.name=${train.name}", "train.name=${data.name}"], /refers to itself/);
  await fails(["data.name=${now:%Y}"], /in data.name: only \$\{key.path\} is supported/);
  await fails(["data.name=${nope.x}"], /^Cannot resolve \$\{nope.x\} in data.name: no such key$/);
});

Deno.test("loadConfig() merges defaults <- preset <- overrides, whatever the argument order", async () => {
  const preset = await load(["preset=tiny-addition"]);
  equal([preset.arch.hidden_size, preset.arch.layers_in_recurrent_block, preset.preset], [
    64,
    2,
    "tiny-addition",
  ]);
  equal([preset.arch.norm_eps, preset.data.dataset], [1e-12, "tiny-addition"]);
  equal((await load(["preset=tiny-addition", "arch.hidden_size=128"])).arch.hidden_size, 128);
  equal((await load(["arch.hidden_size=128", "preset=tiny-addition"])).arch.hidden_size, 128);
  await fails(["preset=tiny-addition", "preset=demo"], /at most one preset/);
  await fails(
    ["preset=tiny-adition"],
    /Unknown preset "tiny-adition": did you mean tiny-addition\?/,
  );
});

Deno.test("every preset loads and the preset list matches cli/config/presets/", async () => {
  const dir = new URL("../../cli/config/presets/", import.meta.url);
  const files = [...Deno.readDirSync(dir)].map((e) => e.name.replace(/\.yaml$/, "")).sort();
  equal(files, [...PRESET_NAMES].sort());
  for (const name of files) {
    const cfg = await load([`preset=${name}`]);
    equal(cfg.arch.embedding.pos_embedding, "abacus", name);
    ok(cfg.data.dataset !== null && cfg.impl.save_final_model, name);
  }
  const paper = await load(["preset=addition-16x1"]);
  equal([
    paper.arch.layers_in_recurrent_block,
    paper.arch.maximal_recurrence,
    paper.arch.hidden_size,
  ], [16, 1, 1024]);
  equal(
    [paper.arch.intermed_size, paper.arch.attention.num_attention_heads, paper.train.optim.lr],
    [2048, 16, 1e-4],
  );
  equal([paper.arch.mask_before_equals, paper.impl.microbatch_size, paper.budget], [true, 512, 24]);
  const mul = await load(["preset=multiplication-4x4"]);
  equal([mul.arch.loss_reduction, mul.arch.throttle, mul.data.dataset], [
    "none",
    true,
    "multiplication",
  ]);
  equal((await load(["preset=sorting-1x8"])).data.sources.arithmetic.tokenizer_type, "sort");
});

Deno.test("loadConfig() accepts upstream's shell command lines", async () => {
  // shells/addition_ff.sh (abacus), after the shell removed its double quotes.
  const ff = await load(
    ("name=add_ff wandb=none arch=crammed-depthrecurrent data=arithmetic base_dir=/runs " +
      "impl.microbatch_size=256 budget=24 impl.compile_torch=False arch.objective_layout=TBPTT " +
      "arch.layers_in_recurrent_block=16 arch.maximal_recurrence=1 arch.hidden_size=1024 " +
      "arch.intermed_size=2048 impl.forbid_dataset_preprocessing=False " +
      "impl.save_intermediate_checkpoints=True impl.save_final_model=True " +
      "data.sources.arithmetic.tokenized_dataset_path=arithmetic_data/+_bucket_method_n_20_m_20_20000000_p_00_reverse_all/hf_tokenized_dataset " +
      "train.optim.lr=0.0001 data.sources.arithmetic.tokenizer_type=pad arch.mask_before_equals=True " +
      "arch.embedding.pos_embedding=abacus").split(" "),
  );
  equal([ff.name, ff.base_dir, ff.wandb.enabled, ff.arch.layers_in_recurrent_block], [
    "add_ff",
    "/runs",
    false,
    16,
  ]);
  equal([ff.train.optim.lr, ff.data.sources.arithmetic.tokenizer_type], [1e-4, "pad"]);
  // shells/sorting.sh and multiplication.sh: quotes kept (as if written '"..."'), fire, fullgraph.
  const sort = await load([
    "arch.embedding.pos_embedding=None",
    "data.sources.arithmetic.tokenizer_type='sort'",
    "arch.attention.type='self-attention'",
    "arch.attention.rotary_embedding='fire'",
    "impl.fullgraph=false",
    "impl.save_every_n_minutes=60",
    "impl.save_intermediate_model_name='last'",
    "arch.loss_reduction=none",
  ]);
  equal([sort.arch.embedding.pos_embedding, sort.arch.attention.rotary_embedding], [null, "fire"]);
  equal([sort.impl.save_intermediate_model_name, sort.arch.loss_reduction], ["last", "none"]);
  const rope = await load([
    "arch.attention.type=self-attention",
    "arch.attention.rotary_embedding=true",
  ]);
  equal(rope.arch.attention.rotary_embedding, true);
});

Deno.test("loadConfig() accepts upstream's eval command lines and abacus's eval keys", async () => {
  const cfg = await loadEval([
    "name=run",
    "data=arithmetic",
    "max_rec=16",
    "token_limit=105",
    "big_eval_step_3=True",
    "reverse_inputs=True",
    "checkerboard=even",
    "remove_padding=True",
    'data.sources.arithmetic.tokenizer_type="pad"',
    "+sort_reverse=True",
    "--shard",
    "2/8",
    "eval.grid=1..100x1..100",
  ]);
  equal([cfg.max_rec, cfg.big_eval_step_3, cfg.checkerboard, cfg.sort_reverse], [
    16,
    true,
    "even",
    true,
  ]);
  equal([cfg.shard, cfg.eval.grid, cfg.eval.path, cfg.wandb.project], [
    "2/8",
    "1..100x1..100",
    "data",
    "generative-eval",
  ]);
  equal((await loadEval(["--shard=1/1", "checkpoint=/x/FINAL_0.1"])).checkpoint, "/x/FINAL_0.1");
  await fails(["shard=9/8"], /shard must be k\/N with 1 <= k <= N/, "eval");
  await fails(
    ["big_eval_step_1=True", "big_eval_step_2=True"],
    /at most one big_eval_step_k/,
    "eval",
  );
  await fails(["eval.grid=12"], /eval.grid: expected None or a string like 1..12x1..12/, "eval");
  await fails(["preset=demo"], /Presets apply to deno task train only/, "eval");
  await fails(["arch.hidden_size=3"], /Unknown config key "arch.hidden_size"/, "eval");
});

Deno.test("unknown keys are rejected naming the closest valid keys", async () => {
  await fails(
    ["arch.hiden_size=3"],
    /^Unknown config key "arch.hiden_size": did you mean arch.hidden_size\?$/,
  );
  await fails(["hidden_size=3"], /did you mean arch.hidden_size\?/);
  await fails(["train.optim.learning_rate=1"], /Unknown config key "train.optim.learning_rate"/);
  await fails(
    ["arch.qqqqqqqq=1"],
    /the closest valid keys are arch\.\w+, arch\.[\w.]+, arch\.[\w.]+$/,
  );
  await fails(["arch.embedding=3"], /arch.embedding is a group of keys/);
  await fails(["--lr", "3"], /Unknown option "--lr"/);
  await fails(
    ["arch=crammed-transformer"],
    /Unknown arch "crammed-transformer": choose crammed-depthrecurrent/,
  );
});

Deno.test("wrong types are rejected naming the key, the expected type and the value", async () => {
  await fails(
    ["arch.hidden_size=big"],
    /^Invalid value for arch.hidden_size: expected an integer of at least 1, got "big"$/,
  );
  await fails(["seed=1.5"], /Invalid value for seed: expected None or an integer, got 1.5/);
  await fails(
    ["train.optim.lr=fast"],
    /train.optim.lr: expected a number of at least 0, got "fast"/,
  );
  await fails(["arch.mask_before_equals=maybe"], /expected True or False, got "maybe"/);
  await fails(["impl.bucket_cap_mb=nan"], /expected None or a number, got NaN/);
  await fails(["arch.hidden_size=None"], /expected an integer of at least 1, got None/);
  await fails(
    ["arch.embedding.pos_embedding=sinusoidal"],
    /expected None or one of abacus, learned/,
  );
  await fails(
    ["train.optim.betas=[0.9]"],
    /expected a list of numbers with 2 entries, got \[0.9\]/,
  );
  await fails(["name=a/b"], /Invalid value for name: expected a string like add_run_1/);
});

Deno.test("None is accepted where upstream allows null, and string keys keep numbers as text", async () => {
  const cfg = await load([
    "seed=None",
    "arch.max_backprop=None",
    "train.gradient_clipping=None",
    "name=2024",
  ]);
  equal([cfg.seed, cfg.arch.max_backprop, cfg.train.gradient_clipping, cfg.name], [
    null,
    null,
    null,
    "2024",
  ]);
  equal((await load(["seed=7"])).seed, 7);
});

Deno.test("unsupported values are rejected, ignored keys noted, defaults silent", async () => {
  await fails(
    ["arch.norm=RMSNorm"],
    /^Unsupported value for arch.norm: "RMSNorm": abacus implements LayerNorm only \(accepted: LayerNorm\)$/,
  );
  await fails(
    ["impl.zero_redundancy_optimizer=True"],
    /Unsupported value for impl.zero_redundancy_optimizer/,
  );
  await fails(["impl.backend=inductor"], /accepted: webgpu, cpu/);
  await fails(
    ["preset=tiny-addition", "arch.attention.rotary_embedding=fire"],
    /needs arch.attention.type=self-attention/,
  );
  const notes: string[] = [];
  const log = (line: string) => notes.push(line);
  await loadConfig([], "pretrain", { ...opts, log });
  equal(notes.length, 0);
  await loadConfig(
    ["impl.compile_torch=False", "arch.norm=LayerNorm", "impl.add_env_variables.X=1"],
    "pretrain",
    { ...opts, log },
  );
  equal(notes.length, 2);
  ok(
    notes[0].startsWith(
      "Note: impl.compile_torch is accepted and ignored: abacus runs its own WGSL kernels",
    ),
  );
  ok(notes[1].startsWith("Note: impl.add_env_variables is accepted and ignored"));
  const logged: string[] = [];
  await loadConfig(["wandb.project=x"], "pretrain", { ...opts, log: (l) => logged.push(l) });
  equal(logged.length, 1);
});

Deno.test("cross-key rules are checked", async () => {
  await fails(
    ["train.budget_tokens=1000", "train.budget_steps=10"],
    /at most one of train.budget_tokens and train.budget_steps/,
  );
  await fails(
    ["impl.microbatch_size=512", "train.batch_size=64"],
    /impl.microbatch_size \(512\) must not exceed train.batch_size \(64\)/,
  );
  await fails(
    ["arch.hidden_size=100"],
    /must be divisible by arch.attention.num_attention_heads \(16\)/,
  );
  await fails(["arch.embedding.embedding_dim=12"], /must equal arch.hidden_size/);
});

Deno.test("base_dir comes from base_dir=, else $cramming_base_dir, else ./abacus-data", async () => {
  equal((await load(["base_dir=rel/dir"])).base_dir, "/work/x/rel/dir");
  const env = {
    env: (n: string) => (n === "cramming_base_dir" ? "/env/base" : undefined),
    cwd: "/w",
  };
  const fromEnv = await loadConfig([], "pretrain", env);
  equal([fromEnv.base_dir, fromEnv.model_dir], ["/env/base", "/env/base"]);
  equal((await loadConfig(["base_dir=/b"], "pretrain", env)).base_dir, "/b");
  equal((await loadConfig(["base_dir="], "pretrain", env)).base_dir, "/env/base");
  equal((await loadEval(["base_dir=/b"])).model_dir, "/b");
});

Deno.test("tokenized_dataset_path on the command line replaces a preset's dataset", async () => {
  const cfg = await load([
    "preset=tiny-addition",
    "data.sources.arithmetic.tokenized_dataset_path=x/y",
  ]);
  equal([cfg.data.dataset, cfg.data.sources.arithmetic.tokenized_dataset_path], [null, "x/y"]);
  equal((await load(["preset=tiny-addition", "data.dataset=other"])).data.dataset, "other");
});
