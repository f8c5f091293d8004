// The typed shape of a resolved config: one interface per group, mirroring the YAML files in
// cli/config/ key for key (snake_case, as upstream spells them), so the training and eval code
// read `cfg.arch.hidden_size` exactly where upstream reads `cfg.arch.hidden_size`.
// Keys abacus ignores are typed too; their status is in config_keys.ts.

/** `pretrain` (`deno task train`) or `eval` (`deno task eval`). */
export type ConfigKind = "pretrain" | "eval";

/** The model (`arch` group, upstream's crammed-depthrecurrent; also `model_config.json`). */
export interface ArchConfig {
  readonly model_type: string;
  readonly layers_in_recurrent_block: number;
  readonly maximal_recurrence: number;
  readonly max_backprop: number | null;
  readonly maximal_recurrence_in_eval: number;
  readonly hidden_size: number;
  readonly intermed_size: number;
  readonly input_injection_type: "add" | "none" | "linear" | "ffn";
  readonly initial_hidden_randomized: boolean;
  readonly state_init: "embed" | "zero" | "normal" | "unit";
  readonly norm: string;
  readonly norm_eps: number;
  readonly norm_scheme: "post" | "pre";
  readonly nonlin: string;
  readonly sub_normalization: boolean;
  readonly tie_weights: boolean;
  readonly decoder_bias: boolean;
  readonly use_bias: boolean;
  readonly final_norm: boolean;
  readonly head: "ffn" | "identity";
  readonly objective_layout: string;
  readonly embedding: {
    readonly vocab_size: number | null;
    readonly pos_embedding: "abacus" | "learned" | null;
    readonly max_seq_length: number;
    readonly embedding_dim: number;
    readonly normalization: boolean;
    readonly stable_low_precision: boolean;
    readonly max_abacus_len: number;
    readonly abacus_random_spacing: number;
  };
  readonly attention: {
    readonly type: "pytorch" | "self-attention";
    readonly num_attention_heads: number;
    readonly skip_output_projection: boolean;
    readonly qkv_bias: boolean;
    readonly bias_in_proj: boolean;
    readonly max_length: number;
    readonly rotary_embedding: boolean | "fire";
    readonly seq_op_in_fp32: boolean;
    readonly sequence_op: string;
    readonly sub_normalization: boolean;
  };
  readonly init: { readonly type: string; readonly std: number | null };
  readonly throttle: boolean;
  readonly alpha: number;
  readonly mask_before_equals: boolean;
  readonly local_compilation: boolean | null;
  readonly loss_reduction: "mean" | "none";
  readonly forward_only_model_with_skip: boolean;
}

/** The data (`data` group, upstream's arithmetic data config with its source inlined). */
export interface DataConfig {
  readonly name: string;
  /** abacus: dataset name under `<base_dir>/<impl.path>/`; wins over tokenized_dataset_path. */
  readonly dataset: string | null;
  readonly sources: {
    readonly arithmetic: {
      readonly provider: string;
      readonly split: string | null;
      readonly randgen_seed: number | null;
      readonly size: number | null;
      readonly tokenized_dataset_path: string | null;
      readonly tokenizer_type: "pad" | "index" | "sort" | null;
    };
  };
  readonly normalizer: {
    readonly force_lowercase: boolean | null;
    readonly strip_accents: boolean | null;
    readonly force_english_keyboard: boolean | null;
  };
  readonly tokenizer: string | null;
  readonly vocab_size: number | null;
  readonly seq_length: number;
  readonly include_eot_token_in_corpus: boolean | null;
  readonly max_entries_in_raw_dataset: number | null;
  readonly max_seq_in_tokenized_dataset: number | null;
  readonly remove_trash: boolean | null;
  readonly trash_cutoff: number | null;
  readonly deduplicate_entries: boolean | null;
  readonly deduplication_threshold: number | null;
  readonly ordering: string | null;
  readonly validation_seqs: number | null;
}

/** The optimisation (`train` group, upstream's cramming train config with AdamW inlined). */
export interface TrainConfig {
  readonly name: string;
  readonly optim: {
    readonly type: string;
    readonly lr: number;
    readonly betas: readonly number[];
    readonly eps: number;
    readonly weight_decay: number;
    readonly amsgrad: boolean;
    readonly fused: boolean | null;
  };
  readonly optim_mod: { readonly name: string };
  readonly limited_decay_keys: readonly string[];
  readonly warmup_steps: number;
  readonly cooldown_steps: number;
  readonly steps: number;
  readonly scheduler: string;
  readonly stream_depth: number | null;
  readonly batch_size: number;
  readonly batch_size_ramp: number;
  readonly gradient_clipping: number | null;
  readonly pretrain_in_train_mode: boolean | null;
  readonly reverse_dataset_order: boolean;
  readonly budget: number;
  readonly overall_budget: number;
  readonly arch_modifications: unknown;
  readonly checkpoint: string | null;
  readonly path: string;
  /** abacus: token budget that drives the schedules and ends the run (None: off). */
  readonly budget_tokens: number | null;
  /** abacus: microbatch-step budget that drives the schedules and ends the run (None: off). */
  readonly budget_steps: number | null;
}

/** Implementation details (`impl` group, upstream's torch-default over _default). */
export interface ImplConfig {
  readonly name: string;
  /** abacus: where the math runs. */
  readonly backend: "webgpu" | "cpu";
  readonly path: string;
  readonly print_loss_every_nth_step: number;
  readonly save_intermediate_checkpoints: boolean;
  readonly save_every_nth_step: number;
  readonly save_every_n_minutes: number;
  readonly save_intermediate_model_name: string | null;
  readonly early_termination: {
    readonly enabled: boolean;
    readonly budget: number | null;
    readonly loss_threshold: number | null;
    readonly overall_budget: number | null;
  };
  readonly microbatch_size: number;
  readonly shuffle_in_dataloader: boolean;
  readonly default_precision: string;
  readonly zero_redundancy_optimizer: boolean;
  readonly save_final_model: boolean;
  readonly push_to_huggingface_hub: boolean;
  /** Upstream keys abacus accepts and ignores (PyTorch, CUDA, DDP, loader, compile settings). */
  readonly [ignored: string]: unknown;
}

/** Weights & Biases settings (`wandb` group); accepted and ignored. */
export interface WandbConfig {
  readonly enabled: boolean | null;
  readonly entity: string | null;
  readonly project: string | null;
  readonly tags: readonly string[] | null;
}

/** A resolved `deno task train` config. */
export interface PretrainConfig {
  readonly name: string;
  /** Absolute after resolution: `base_dir=`, else `$cramming_base_dir`, else `./abacus-data`. */
  readonly base_dir: string;
  readonly model_dir: string;
  readonly data_dir: string | null;
  readonly seed: number | null;
  readonly budget: number;
  readonly overall_budget: number;
  readonly dryrun: boolean;
  readonly preset: string | null;
  readonly arch: ArchConfig;
  readonly data: DataConfig;
  readonly train: TrainConfig;
  readonly impl: ImplConfig;
  readonly wandb: WandbConfig;
}

/** A resolved `deno task eval` config (upstream's cfg_eval keys plus abacus's). */
export interface EvalConfig {
  readonly name: string;
  readonly base_dir: string;
  readonly model_dir: string;
  readonly seed: number | null;
  readonly dryrun: boolean;
  readonly checkpoint: string | null;
  readonly shard: string | null;
  readonly max_rec: number | null;
  readonly reverse_inputs: boolean;
  readonly pad_zeros: number;
  readonly extended_eval: boolean;
  readonly greedy: boolean;
  readonly temp: number | null;
  readonly token_limit: number | null;
  readonly remove_padding: boolean;
  readonly large: boolean;
  readonly ood_only: boolean;
  readonly up_to_40: boolean;
  readonly up_to_50: boolean;
  readonly checkerboard: "even" | "odd" | null;
  readonly big_eval_step_1: boolean;
  readonly big_eval_step_2: boolean;
  readonly big_eval_step_3: boolean;
  readonly big_eval_step_4: boolean;
  readonly big_eval_step_5: boolean;
  readonly big_eval_step_6: boolean;
  readonly big_eval_step_7: boolean;
  readonly big_eval_step_8: boolean;
  readonly big_eval_step_9: boolean;
  readonly big_eval_step_10: boolean;
  readonly max_size_given: number | null;
  readonly start_ind_1_given: number | null;
  readonly start_ind_2_given: number | null;
  readonly mul: boolean;
  readonly pos_arth: boolean;
  readonly pos_arth_ood: boolean;
  readonly sort_reverse: boolean;
  readonly tokenizer_type: "pad" | "index" | "sort" | null;
  readonly budget: number | null;
  readonly overall_budget: number | null;
  readonly eval: {
    readonly name: string | null;
    readonly arch_modifications: unknown;
    readonly checkpoint: string;
    readonly path: string;
    /** abacus: cells `i-range x j-range`, e.g. `1..100x1..100` (None: the task's default). */
    readonly grid: string | null;
  };
  readonly data: DataConfig;
  readonly impl: ImplConfig;
  readonly wandb: WandbConfig;
}

/** The resolved config of a kind. */
export type ConfigOf<K extends ConfigKind> = K extends "pretrain" ? PretrainConfig : EvalConfig;

/** Any resolved config. */
export type Config = PretrainConfig | EvalConfig;
