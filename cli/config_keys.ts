// The config schema: one valibot object per group (run keys, arch, data, train, impl, wandb, and
// the eval keys), from which the keys are checked, the config types inferred, and `--help` and
// docs/config.md generated. Key names and defaults are upstream's (mcleish7/arithmetic
// cramming/config, read as a specification); the YAML files in cli/config/ hold the defaults
// and a test checks them against this schema; `configTypes` writes the types out for JSR
// (cli/config_types.ts). Each unsupported key says why: "ignored" keys have no meaning here (a
// note is printed when set), "restricted" keys reject values abacus cannot honour.

import * as v from "npm:valibot@1.5.0";
import {
  bool,
  float,
  floats2,
  ignored,
  int,
  type Key,
  key,
  keyInfo,
  map,
  NAME,
  oneOf,
  only,
  orNone,
  str,
  strings,
} from "./config_schema.ts";
import type * as T from "./config_types.ts";
import type { ConfigKind } from "./config_types.ts";

const TORCH = "a PyTorch/CUDA setting with no meaning in abacus";
const F32 = "abacus computes in f32; there is no fp16/bf16 autocast or grad scaler";
const COMPILE = "abacus runs its own WGSL kernels; there is no torch.compile";
const DDP = "abacus runs one adapter per process (see the README); there is no DDP";
const LOADER = "abacus reads dataset rows directly; there are no loader workers";
const TEXT = "text-corpus preprocessing of cramming; arithmetic data comes from the data task";
const WANDB = "abacus logs metrics as JSON lines in the run folder; there is no Weights & Biases";
const ORDER = "the train split is read in stored order, as upstream (the data task shuffles)";
const NO_DROPOUT = "the model has no dropout, so train and eval modes are the same";
const NO_BIAS = "attention has no biases, as upstream's runs";
const NO_SUBNORM = "sub-normalization is not implemented";
const EARLY = "used only by early termination";

const RUN = {
  name: key(NAME, "run name; outputs go to <base_dir>/<name>/"),
  base_dir: orNone(str(), "root of runs and datasets (see Base dir below)"),
  model_dir: orNone(str(), "where <name>/checkpoints/ is written (default: base_dir)"),
  data_dir: ignored(str(), "unused upstream too; datasets live under <base_dir>/<impl.path>/"),
  seed: orNone(int(), "random seed (None: drawn at random and recorded)"),
  budget: key(float(0), "wall-clock budget in hours"),
  overall_budget: float(0),
  dryrun: bool,
  preset: orNone(str(), "the preset applied (preset=NAME)"),
};

const ARCH = v.object({
  model_type: only(str(), ["ScriptableCrammedDepthRecurrent"], "the only model abacus builds"),
  layers_in_recurrent_block: key(int(1), "layers in the looped block"),
  maximal_recurrence: key(int(1), "repetitions of the block (1 = standard transformer)"),
  max_backprop: orNone(int(1)),
  maximal_recurrence_in_eval: int(1),
  hidden_size: key(int(1), "model width"),
  intermed_size: key(int(2), "GLU feed-forward width (effective width is half)"),
  input_injection_type: oneOf("add", "none", "linear", "ffn"),
  initial_hidden_randomized: bool,
  state_init: oneOf("embed", "zero", "normal", "unit"),
  norm: only(str(), ["LayerNorm"], "abacus implements LayerNorm only"),
  norm_eps: float(0),
  norm_scheme: oneOf("post", "pre"),
  nonlin: only(str(), ["GELUglu"], "abacus implements the GLU-GELU feed-forward only"),
  sub_normalization: only(bool, [false], NO_SUBNORM),
  tie_weights: bool,
  decoder_bias: only(bool, [false], "the decoder has no bias, as in every upstream run"),
  use_bias: only(bool, [false], "dense layers have no biases, as in every upstream run"),
  final_norm: bool,
  head: key(oneOf("ffn", "identity", "linear"), "ffn, identity or linear"),
  objective_layout: only(str(), ["TBPTT"], "abacus trains with upstream's TBPTT objective only"),
  embedding: v.object({
    vocab_size: orNone(int(1)),
    pos_embedding: orNone(oneOf("abacus", "learned"), "abacus, learned or None"),
    max_seq_length: int(1),
    embedding_dim: int(1),
    normalization: only(bool, [true], "the embedding LayerNorm is always applied"),
    stable_low_precision: ignored(bool, F32),
    max_abacus_len: key(int(0), "largest random Abacus offset in training"),
    abacus_random_spacing: key(
      float(0, 1),
      "probability of spaced Abacus positions per batch (0: upstream)",
    ),
  }),
  attention: v.object({
    type: key(oneOf("pytorch", "self-attention"), "pytorch or self-attention"),
    num_attention_heads: int(1),
    skip_output_projection: only(bool, [false], "not implemented"),
    qkv_bias: only(bool, [false], NO_BIAS),
    bias_in_proj: only(bool, [false], NO_BIAS),
    max_length: int(0),
    rotary_embedding: key(oneOf(false, true, "fire"), "False, True (RoPE) or fire"),
    seq_op_in_fp32: ignored(bool, F32),
    sequence_op: only(str(), ["torch-softmax"], "abacus implements softmax only"),
    sub_normalization: only(bool, [false], NO_SUBNORM),
  }),
  init: v.object({
    type: only(str(), ["deepnorm-straight"], "abacus implements upstream's default only"),
    std: ignored(float(0), "used only by init type normal, which abacus does not implement"),
  }),
  throttle: bool,
  alpha: float(0),
  mask_before_equals: key(bool, "train only on the answer after ="),
  local_compilation: ignored(bool, COMPILE),
  loss_reduction: oneOf("mean", "none"),
  forward_only_model_with_skip: bool,
});

const DATA = v.object({
  name: str(),
  dataset: orNone(NAME, "dataset under <base_dir>/<impl.path>/ (a data-task preset name)"),
  sources: v.object({
    arithmetic: v.object({
      provider: only(str(), ["arithmetic"], "abacus reads arithmetic data only"),
      split: ignored(str(), "the splits are fixed by the data task"),
      randgen_seed: ignored(int(), "a key of upstream's placeholder source"),
      size: ignored(int(), "a key of upstream's placeholder source"),
      tokenized_dataset_path: orNone(str(), "upstream's dataset path"),
      tokenizer_type: orNone(oneOf("pad", "index", "sort"), "pad, index, sort"),
    }),
  }),
  normalizer: v.object({
    force_lowercase: ignored(bool, TEXT),
    strip_accents: ignored(bool, TEXT),
    force_english_keyboard: ignored(bool, TEXT),
  }),
  tokenizer: ignored(str(), "abacus uses upstream's character tokenizers (tokenizer_type)"),
  vocab_size: ignored(int(), "the vocabulary follows from tokenizer_type"),
  seq_length: key(int(1), "rows of the Abacus and learned position tables"),
  include_eot_token_in_corpus: ignored(bool, "every stored sample ends with EOS, as upstream"),
  max_entries_in_raw_dataset: ignored(float(), TEXT),
  max_seq_in_tokenized_dataset: ignored(float(), TEXT),
  remove_trash: ignored(bool, TEXT),
  trash_cutoff: ignored(float(), TEXT),
  deduplicate_entries: ignored(bool, TEXT),
  deduplication_threshold: ignored(float(), TEXT),
  ordering: ignored(str(), ORDER),
  validation_seqs: ignored(int(), "the test split comes from the dataset"),
});

const TRAIN = v.object({
  name: str(),
  optim: v.object({
    type: only(str(), ["AdamW"], "abacus implements AdamW only"),
    lr: key(float(0), "peak learning rate"),
    betas: floats2,
    eps: float(0),
    weight_decay: float(0),
    amsgrad: only(bool, [false], "AMSGrad is not implemented"),
    fused: ignored(bool, TORCH),
  }),
  optim_mod: v.object({
    name: only(str(), ["none"], "optimizer modifiers are not implemented"),
  }),
  limited_decay_keys: strings,
  warmup_steps: key(float(0), "warm-up, as a fraction of the budget"),
  cooldown_steps: key(float(0), "cool-down to 0, as a fraction of the budget"),
  steps: key(int(1), "stop after this many microbatch steps"),
  scheduler: only(str(), ["budget-constant"], "abacus implements upstream's trapezoid only"),
  stream_depth: ignored(int(), "each microbatch is whole dataset rows, as upstream"),
  batch_size: key(int(1), "samples per optimizer step after the ramp"),
  batch_size_ramp: key(float(0), "fraction of the budget over which the batch grows"),
  gradient_clipping: orNone(float(0), "gradient norm clip (None: off)"),
  pretrain_in_train_mode: ignored(bool, NO_DROPOUT),
  reverse_dataset_order: only(bool, [false], ORDER),
  budget: float(0),
  overall_budget: float(0),
  arch_modifications: ignored(map, "a resumed run takes its checkpoint's model_config.json"),
  checkpoint: ignored(str(), "training resumes from the run's newest checkpoint"),
  path: str(),
  budget_tokens: orNone(int(1), "token budget: drives the schedules and ends the run"),
  budget_steps: orNone(int(1), "microbatch-step budget: drives the schedules and ends the run"),
});

const IMPL = v.object({
  name: str(),
  backend: only(str(), ["webgpu", "cpu"], "upstream's torch.compile backends do not apply"),
  benchmark: ignored(bool, TORCH),
  deterministic: ignored(bool, TORCH),
  non_blocking: ignored(bool, TORCH),
  tf32_allowed: ignored(bool, TORCH),
  matmul_precision: ignored(str(), TORCH),
  mixed_precision: ignored(bool, F32),
  grad_scaling: ignored(bool, F32),
  mixed_precision_target_dtype: ignored(str(), F32),
  zero_redundancy_optimizer: only(bool, [false], DDP),
  broadcast_buffers: ignored(bool, DDP),
  bucket_cap_mb: ignored(float(), DDP),
  gradient_as_bucket_view: ignored(bool, DDP),
  static_graph: ignored(bool, DDP),
  enable_mem_efficient_sdp: ignored(bool, TORCH),
  enable_math_sdp: ignored(bool, TORCH),
  enable_flash_sdp: ignored(bool, TORCH),
  foreach_optimizer: ignored(bool, TORCH),
  compile_torch: ignored(bool, COMPILE),
  mode: ignored(str(), COMPILE),
  dynamic: ignored(bool, COMPILE),
  fullgraph: ignored(bool, COMPILE),
  _inductor_vars: ignored(map, COMPILE),
  path: key(str(), "data folder under base_dir"),
  local_staging_dir: ignored(str(), "datasets are read where they are"),
  forbid_dataset_preprocessing: ignored(bool, "train generates a preset's missing dataset"),
  temporary_corpus: ignored(bool, TEXT),
  max_raw_chunk_size: ignored(float(), TEXT),
  print_loss_every_nth_step: key(int(), "log a line every N steps"),
  save_intermediate_checkpoints: key(bool, "save checkpoints while training"),
  save_every_nth_step: int(),
  save_every_n_minutes: key(float(), "minutes between checkpoints (-1: off)"),
  save_intermediate_model_name: orNone(NAME, "folder of the rolling checkpoint, e.g. last"),
  early_termination: v.object({
    enabled: only(bool, [false], "early termination is not implemented"),
    budget: ignored(float(), EARLY),
    loss_threshold: ignored(float(), EARLY),
    overall_budget: ignored(float(), EARLY),
  }),
  microbatch_size: key(int(1), "samples per forward/backward pass"),
  threads: ignored(int(), LOADER),
  pad_to_multiple_of: ignored(int(), "the eval task pads its own batches"),
  shuffle_in_dataloader: only(bool, [false], ORDER),
  pin_memory: ignored(bool, LOADER),
  prefetch_factor: ignored(int(), LOADER),
  persistent_workers: ignored(bool, LOADER),
  default_precision: only(str(), ["float"], F32),
  dist_backend: ignored(str(), DDP),
  sharing_strategy: ignored(str(), LOADER),
  enable_huggingface_offline_mode: ignored(bool, "abacus never contacts the Hugging Face hub"),
  local_rank: ignored(int(), DDP),
  save_final_model: key(bool, "write checkpoints/FINAL_<loss> at the end"),
  push_to_huggingface_hub: only(bool, [false], "abacus never uploads to the Hugging Face hub"),
  hf_directoy_name: ignored(str(), "used only by push_to_huggingface_hub"),
  add_env_variables: ignored(map, "set environment variables in the shell instead"),
  example_token_limit: ignored(int(), "the eval task measures accuracy instead"),
  example_prompts: ignored(strings, "the eval task measures accuracy instead"),
});

const WANDB_GROUP = v.object({
  enabled: ignored(bool, WANDB),
  entity: ignored(str(), WANDB),
  project: ignored(str(), WANDB),
  tags: ignored(strings, WANDB),
});

const PRETRAIN = v.object({
  ...RUN,
  arch: ARCH,
  data: DATA,
  train: TRAIN,
  impl: IMPL,
  wandb: WANDB_GROUP,
});

const EVAL = v.object({
  name: key(NAME, "run to evaluate"),
  base_dir: orNone(str(), "root of runs and datasets (see Base dir below)"),
  model_dir: orNone(str(), "where <name>/checkpoints/ is read (default: base_dir)"),
  seed: orNone(int(), "seed of on-the-fly eval data and of the random initial state"),
  dryrun: bool,
  checkpoint: orNone(str(), "checkpoint folder to evaluate (None: the run's newest)"),
  shard: orNone(
    str(/^(\d+\/\d+|auto)$/, "2/8 or auto"),
    "evaluate piece k of N, or auto: the piece a Slurm array or Kubernetes Indexed Job gives",
  ),
  max_rec: orNone(int(1), "recurrences at eval (None: the training value)"),
  reverse_inputs: bool,
  pad_zeros: only(int(), [0], "zero-padded operands are not implemented"),
  extended_eval: bool,
  greedy: only(bool, [true], "abacus decodes greedily"),
  temp: ignored(float(), "decoding is greedy, so the temperature has no effect"),
  token_limit: ignored(int(), "abacus generates the target's length, as upstream"),
  remove_padding: bool,
  large: bool,
  ood_only: bool,
  up_to_40: bool,
  up_to_50: bool,
  checkerboard: orNone(oneOf("even", "odd")),
  big_eval_step_1: bool,
  big_eval_step_2: bool,
  big_eval_step_3: bool,
  big_eval_step_4: bool,
  big_eval_step_5: bool,
  big_eval_step_6: bool,
  big_eval_step_7: bool,
  big_eval_step_8: bool,
  big_eval_step_9: bool,
  big_eval_step_10: bool,
  max_size_given: orNone(int(0)),
  start_ind_1_given: orNone(int(0)),
  start_ind_2_given: orNone(int(0)),
  mul: bool,
  pos_arth: bool,
  pos_arth_ood: bool,
  sort_reverse: bool,
  tokenizer_type: orNone(oneOf("pad", "index", "sort")),
  budget: ignored(float(), "evaluation has no time budget"),
  overall_budget: ignored(float(), "evaluation has no time budget"),
  eval: v.object({
    name: ignored(str(), "the name of upstream's language-model eval suite"),
    arch_modifications: ignored(map, "the model comes from the checkpoint"),
    checkpoint: key(str(), "latest, or a folder name under checkpoints/"),
    path: str(),
    grid: orNone(str(/^\d+(\.\.\d+)?x\d+(\.\.\d+)?$/, "1..12x1..12"), "cells i x j"),
  }),
  data: DATA,
  impl: IMPL,
  wandb: WANDB_GROUP,
});

/**
 * The schema of each config type, by the name of the type `configTypes` writes for it to
 * cli/config_types.ts (explicit types for JSR; the check below keeps them equal to the inferred).
 */
const CONFIG_SCHEMAS: Readonly<Record<string, Key>> = {
  ArchConfig: ARCH,
  DataConfig: DATA,
  TrainConfig: TRAIN,
  ImplConfig: IMPL,
  WandbConfig: WANDB_GROUP,
  PretrainConfig: PRETRAIN,
  EvalConfig: EVAL,
};

type Same<A, B> = [A] extends [B] ? [B] extends [A] ? true : false : false;
type Folders<T> = Omit<T, "base_dir" | "model_dir"> & { base_dir: string; model_dir: string };
/** Fails `deno check` when cli/config_types.ts is not what the schema infers. */
const _inferred: [
  Same<T.ArchConfig, v.InferOutput<typeof ARCH>>,
  Same<T.DataConfig, v.InferOutput<typeof DATA>>,
  Same<T.TrainConfig, v.InferOutput<typeof TRAIN>>,
  Same<T.ImplConfig, v.InferOutput<typeof IMPL>>,
  Same<T.WandbConfig, v.InferOutput<typeof WANDB_GROUP>>,
  Same<T.PretrainConfig, Folders<v.InferOutput<typeof PRETRAIN>>>,
  Same<T.EvalConfig, Folders<v.InferOutput<typeof EVAL>>>,
] = [true, true, true, true, true, true, true];

const NAMED = new Map(Object.entries(CONFIG_SCHEMAS).map(([name, s]) => [s, name]));

// deno-lint-ignore no-explicit-any
function tsType(s: any, indent: string): string {
  if (s.pipe) {
    const { use, allowed } = keyInfo(s);
    if (use === "restricted") return allowed!.map((a) => JSON.stringify(a)).join(" | ");
    return tsType(s.pipe[0], indent);
  }
  switch (s.type) {
    case "nullable":
      return `${tsType(s.wrapped, indent)} | null`;
    case "union":
      return s.options.map((o: { literal: unknown }) => JSON.stringify(o.literal)).join(" | ");
    case "array":
      return `${tsType(s.item, indent)}[]`;
    case "record":
      return "Record<string, unknown>";
    case "object": {
      const lines = Object.entries(s.entries as Record<string, Key>).map(([k, e]) => {
        const type = /^(base|model)_dir$/.test(k) && !indent // resolved to folders at top level
          ? "string"
          : NAMED.get(e) ?? tsType(e, `${indent}  `);
        return `${indent}  readonly ${k}: ${type};`;
      });
      return `{\n${lines.join("\n")}\n${indent}}`;
    }
    default:
      return s.type;
  }
}

/**
 * The text of cli/config_types.ts: the config types written out from the schema (explicit types
 * for JSR; `deno check` fails when they differ from what valibot infers from the schema).
 *
 * @example
 * ```ts
 * import { configTypes } from "./config_keys.ts";
 * import { ok } from "node:assert/strict";
 *
 * ok(configTypes().includes('readonly head: "ffn" | "identity" | "linear";'));
 * ```
 */
export function configTypes(): string {
  const out = [
    "// Generated from the schema in cli/config_keys.ts by `deno task docs`: do not edit. The",
    "// types valibot infers from the schema, written out so JSR gets explicit types; each key's",
    "// meaning is in docs/config.md.",
    "",
    "/** `pretrain` (`deno task train`) or `eval` (`deno task eval`). */",
    'export type ConfigKind = "pretrain" | "eval";',
  ];
  for (const [name, schema] of Object.entries(CONFIG_SCHEMAS)) {
    out.push("", `/** The \`${name}\` config, as the schema defines it. */`);
    out.push(`export interface ${name} ${tsType(schema, "")}`);
  }
  out.push(
    "",
    "/** The resolved config of a kind. */",
    "export type ConfigOf<K extends ConfigKind> = " +
      'K extends "pretrain" ? PretrainConfig : EvalConfig;',
    "",
    "/** Any resolved config. */",
    "export type Config = PretrainConfig | EvalConfig;",
    "",
  );
  return out.join("\n");
}

/**
 * The presets' names: named bundles of overrides in `cli/config/presets/<name>.yaml`. What each
 * one is lives in its file: the first line is a `# ` comment of one line, which
 * `deno task train --help` prints (see `presetSummaries` in config.ts), and the comment below it
 * gives the details and measured figures.
 *
 * @example
 * ```ts
 * import { PRESET_NAMES } from "./config_keys.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(PRESET_NAMES.includes("tiny-addition"), true);
 * ```
 */
export const PRESET_NAMES: readonly string[] = Object.freeze([
  "addition-16x1",
  "addition-1x16",
  "addition-8x2",
  "multiplication-4x4",
  "sorting-8x1",
  "sorting-1x8",
  "tiny-addition",
  "tiny-multiplication",
  "tiny-sorting",
  "demo",
]);

/**
 * Group options per config kind; the first option of each group is the default.
 *
 * @example
 * ```ts
 * import { GROUP_OPTIONS } from "./config_keys.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(GROUP_OPTIONS.pretrain.arch, ["crammed-depthrecurrent"]);
 * ```
 */
export const GROUP_OPTIONS: Readonly<Record<ConfigKind, Readonly<Record<string, string[]>>>> = {
  pretrain: {
    arch: ["crammed-depthrecurrent"],
    data: ["arithmetic"],
    train: ["cramming"],
    impl: ["torch-default"],
    wandb: ["default", "none"],
  },
  eval: { data: ["arithmetic"], impl: ["torch-default"], wandb: ["default", "none"] },
};

/** Every key of an object schema as full dotted paths, in schema order (groups flattened). */
function flatKeys(schema: Key, prefix = ""): Map<string, Key> {
  const out = new Map<string, Key>();
  const entries = (schema as unknown as { entries: Record<string, Key> }).entries;
  for (const [k, s] of Object.entries(entries)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (s.type === "object") { for (const e of flatKeys(s, path)) out.set(...e); }
    else out.set(path, s);
  }
  return out;
}

const FLAT = { pretrain: flatKeys(PRETRAIN), eval: flatKeys(EVAL), arch: flatKeys(ARCH) };

/**
 * Every key of a config kind (or of a bare `arch` group, as in `model_config.json`), as full
 * dotted paths in schema order, with its schema.
 *
 * @example
 * ```ts
 * import { schemaFor } from "./config_keys.ts";
 * import { keyInfo } from "./config_schema.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(keyInfo(schemaFor("pretrain").get("impl.compile_torch")!).use, "ignored");
 * deepEqual(schemaFor("eval").has("arch.hidden_size"), false);
 * deepEqual(schemaFor("arch").has("head"), true);
 * ```
 */
export function schemaFor(kind: ConfigKind | "arch"): ReadonlyMap<string, Key> {
  return FLAT[kind];
}
