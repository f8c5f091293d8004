// Generated from the schema in cli/config_keys.ts by `deno task docs`: do not edit. The
// types valibot infers from the schema, written out so JSR gets explicit types; each key's
// meaning is in docs/config.md.

/** `pretrain` (`deno task train`) or `eval` (`deno task eval`). */
export type ConfigKind = "pretrain" | "eval";

/** The `ArchConfig` config, as the schema defines it. */
export interface ArchConfig {
  readonly model_type: "ScriptableCrammedDepthRecurrent";
  readonly layers_in_recurrent_block: number;
  readonly maximal_recurrence: number;
  readonly max_backprop: number | null;
  readonly maximal_recurrence_in_eval: number;
  readonly hidden_size: number;
  readonly intermed_size: number;
  readonly input_injection_type: "add" | "none" | "linear" | "ffn";
  readonly initial_hidden_randomized: boolean;
  readonly state_init: "embed" | "zero" | "normal" | "unit";
  readonly norm: "LayerNorm";
  readonly norm_eps: number;
  readonly norm_scheme: "post" | "pre";
  readonly nonlin: "GELUglu";
  readonly sub_normalization: false;
  readonly tie_weights: boolean;
  readonly decoder_bias: false;
  readonly use_bias: false;
  readonly final_norm: boolean;
  readonly head: "ffn" | "identity" | "linear";
  readonly objective_layout: "TBPTT";
  readonly embedding: {
    readonly vocab_size: number | null;
    readonly pos_embedding: "abacus" | "learned" | null;
    readonly max_seq_length: number;
    readonly embedding_dim: number;
    readonly normalization: true;
    readonly stable_low_precision: boolean | null;
    readonly max_abacus_len: number;
    readonly abacus_random_spacing: number;
  };
  readonly attention: {
    readonly type: "pytorch" | "self-attention";
    readonly num_attention_heads: number;
    readonly skip_output_projection: false;
    readonly qkv_bias: false;
    readonly bias_in_proj: false;
    readonly max_length: number;
    readonly rotary_embedding: false | true | "fire";
    readonly seq_op_in_fp32: boolean | null;
    readonly sequence_op: "torch-softmax";
    readonly sub_normalization: false;
  };
  readonly init: {
    readonly type: "deepnorm-straight";
    readonly std: number | null;
  };
  readonly throttle: boolean;
  readonly alpha: number;
  readonly mask_before_equals: boolean;
  readonly local_compilation: boolean | null;
  readonly loss_reduction: "mean" | "none";
  readonly forward_only_model_with_skip: boolean;
}

/** The `DataConfig` config, as the schema defines it. */
export interface DataConfig {
  readonly name: string;
  readonly dataset: string | null;
  readonly sources: {
    readonly arithmetic: {
      readonly provider: "arithmetic";
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

/** The `TrainConfig` config, as the schema defines it. */
export interface TrainConfig {
  readonly name: string;
  readonly optim: {
    readonly type: "AdamW";
    readonly lr: number;
    readonly betas: number[];
    readonly eps: number;
    readonly weight_decay: number;
    readonly amsgrad: false;
    readonly fused: boolean | null;
  };
  readonly optim_mod: {
    readonly name: "none";
  };
  readonly limited_decay_keys: string[];
  readonly warmup_steps: number;
  readonly cooldown_steps: number;
  readonly steps: number;
  readonly scheduler: "budget-constant";
  readonly stream_depth: number | null;
  readonly batch_size: number;
  readonly batch_size_ramp: number;
  readonly gradient_clipping: number | null;
  readonly pretrain_in_train_mode: boolean | null;
  readonly reverse_dataset_order: false;
  readonly budget: number;
  readonly overall_budget: number;
  readonly arch_modifications: Record<string, unknown> | null;
  readonly checkpoint: string | null;
  readonly path: string;
  readonly budget_tokens: number | null;
  readonly budget_steps: number | null;
}

/** The `ImplConfig` config, as the schema defines it. */
export interface ImplConfig {
  readonly name: string;
  readonly backend: "webgpu" | "cpu";
  readonly benchmark: boolean | null;
  readonly deterministic: boolean | null;
  readonly non_blocking: boolean | null;
  readonly tf32_allowed: boolean | null;
  readonly matmul_precision: string | null;
  readonly mixed_precision: boolean | null;
  readonly grad_scaling: boolean | null;
  readonly mixed_precision_target_dtype: string | null;
  readonly zero_redundancy_optimizer: false;
  readonly broadcast_buffers: boolean | null;
  readonly bucket_cap_mb: number | null;
  readonly gradient_as_bucket_view: boolean | null;
  readonly static_graph: boolean | null;
  readonly enable_mem_efficient_sdp: boolean | null;
  readonly enable_math_sdp: boolean | null;
  readonly enable_flash_sdp: boolean | null;
  readonly foreach_optimizer: boolean | null;
  readonly compile_torch: boolean | null;
  readonly mode: string | null;
  readonly dynamic: boolean | null;
  readonly fullgraph: boolean | null;
  readonly _inductor_vars: Record<string, unknown> | null;
  readonly path: string;
  readonly local_staging_dir: string | null;
  readonly forbid_dataset_preprocessing: boolean | null;
  readonly temporary_corpus: boolean | null;
  readonly max_raw_chunk_size: number | null;
  readonly print_loss_every_nth_step: number;
  readonly save_intermediate_checkpoints: boolean;
  readonly save_every_nth_step: number;
  readonly save_every_n_minutes: number;
  readonly save_intermediate_model_name: string | null;
  readonly early_termination: {
    readonly enabled: false;
    readonly budget: number | null;
    readonly loss_threshold: number | null;
    readonly overall_budget: number | null;
  };
  readonly microbatch_size: number;
  readonly threads: number | null;
  readonly pad_to_multiple_of: number | null;
  readonly shuffle_in_dataloader: false;
  readonly pin_memory: boolean | null;
  readonly prefetch_factor: number | null;
  readonly persistent_workers: boolean | null;
  readonly default_precision: "float";
  readonly dist_backend: string | null;
  readonly sharing_strategy: string | null;
  readonly enable_huggingface_offline_mode: boolean | null;
  readonly local_rank: number | null;
  readonly save_final_model: boolean;
  readonly push_to_huggingface_hub: false;
  readonly hf_directoy_name: string | null;
  readonly add_env_variables: Record<string, unknown> | null;
  readonly example_token_limit: number | null;
  readonly example_prompts: string[] | null;
}

/** The `WandbConfig` config, as the schema defines it. */
export interface WandbConfig {
  readonly enabled: boolean | null;
  readonly entity: string | null;
  readonly project: string | null;
  readonly tags: string[] | null;
}

/** The `PretrainConfig` config, as the schema defines it. */
export interface PretrainConfig {
  readonly name: string;
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

/** The `EvalConfig` config, as the schema defines it. */
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
  readonly pad_zeros: 0;
  readonly extended_eval: boolean;
  readonly greedy: true;
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
    readonly arch_modifications: Record<string, unknown> | null;
    readonly checkpoint: string;
    readonly path: string;
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
