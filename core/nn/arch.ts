/**
 * The model's architecture settings: upstream's `arch` keys (crammed-depthrecurrent.yaml, snake
 * case) mapped to a typed, camelCase `Arch`. Checking the keys is the config schema's job
 * (cli/config_keys.ts, which refuses what the model does not implement); this module validates
 * nothing and only fills keys a programmatic caller leaves out with `ARCH_DEFAULTS`, upstream's
 * defaults (a test keeps them equal to cli/config/arch/crammed-depthrecurrent.yaml).
 * @module
 */

/**
 * Typed architecture settings: upstream's `arch` keys in camelCase, each described in
 * docs/config.md; notes only where a field is not simply its key.
 */
export interface Arch {
  layersInRecurrentBlock: number;
  maximalRecurrence: number;
  /** Largest number of recurrences back-propagated through (TBPTT). */
  maxBackprop: number;
  maximalRecurrenceInEval: number;
  /** Width H. */
  hiddenSize: number;
  /** FFN inner width I (GLU halves it). */
  intermedSize: number;
  inputInjectionType: "add" | "none" | "linear" | "ffn";
  initialHiddenRandomized: boolean;
  stateInit: "embed" | "zero" | "normal" | "unit";
  normEps: number;
  normScheme: "post" | "pre";
  tieWeights: boolean;
  decoderBias: boolean;
  useBias: boolean;
  finalNorm: boolean;
  head: "ffn" | "identity" | "linear";
  /** Vocabulary size V. */
  vocabSize: number;
  posEmbedding: "abacus" | "learned" | null;
  /** Rows of the positional (learned or abacus) table. */
  maxSeqLength: number;
  embeddingNormalization: boolean;
  /** Largest Abacus training shift k (`embedding.max_abacus_len`). */
  maxAbacusLen: number;
  /** Probability of randomly spaced Abacus positions in a training batch (0: upstream). */
  abacusSpacing: number;
  /** Attention implementation (decides the fused q/k/v layout and the checkpoint keys). */
  attentionType: "pytorch" | "self-attention";
  heads: number;
  skipOutputProjection: boolean;
  /** FIRE's randomised-position range (0 = off). */
  attentionMaxLength: number;
  /** Rotary (RoPE), FIRE, or none. */
  rotary: "rope" | "fire" | null;
  initType: "deepnorm-straight" | "normal";
  initStd: number;
  throttle: boolean;
  alpha: number;
  maskBeforeEquals: boolean;
  /** `mean` over kept tokens, or `none` (per-sample mean, then batch mean). */
  lossReduction: "mean" | "none";
  /** Separate layers with input injection before each (upstream's "recall"). */
  forwardOnlyModelWithSkip: boolean;
}

/** Upstream's `arch` keys that the model reads (snake_case, as in `model_config.json`). */
export interface ArchSettings {
  layers_in_recurrent_block: number;
  maximal_recurrence: number;
  /** None: half of maximal_recurrence, at least 1. */
  max_backprop: number | null;
  /** Default: maximal_recurrence. */
  maximal_recurrence_in_eval?: number;
  hidden_size: number;
  intermed_size: number;
  input_injection_type: Arch["inputInjectionType"];
  initial_hidden_randomized: boolean;
  state_init: Arch["stateInit"];
  norm_eps: number;
  norm_scheme: Arch["normScheme"];
  tie_weights: boolean;
  decoder_bias: boolean;
  use_bias: boolean;
  final_norm: boolean;
  head: Arch["head"];
  embedding: {
    pos_embedding: Arch["posEmbedding"];
    max_seq_length: number;
    normalization: boolean;
    max_abacus_len: number;
    abacus_random_spacing: number;
  };
  attention: {
    type: Arch["attentionType"];
    num_attention_heads: number;
    skip_output_projection: boolean;
    max_length: number;
    rotary_embedding: boolean | "fire";
  };
  init: { type: Arch["initType"]; std: number | null };
  throttle: boolean;
  alpha: number;
  mask_before_equals: boolean;
  loss_reduction: Arch["lossReduction"];
  forward_only_model_with_skip: boolean;
}

/** `ArchSettings` with any key left out (its default is used). */
export type ArchInput = {
  [K in keyof ArchSettings]?: ArchSettings[K] extends object ? Partial<ArchSettings[K]>
    : ArchSettings[K];
};

/**
 * Upstream's arch defaults (crammed-depthrecurrent.yaml with `data.seq_length` 512), for callers
 * that build a model without the config loader.
 *
 * @example
 * ```ts
 * import { ARCH_DEFAULTS } from "./arch.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(ARCH_DEFAULTS.hidden_size, 768);
 * ```
 */
export const ARCH_DEFAULTS: Readonly<ArchSettings> = Object.freeze<ArchSettings>({
  layers_in_recurrent_block: 4,
  maximal_recurrence: 4,
  max_backprop: null,
  hidden_size: 768,
  intermed_size: 3072,
  input_injection_type: "add",
  initial_hidden_randomized: true,
  state_init: "embed",
  norm_eps: 1e-12,
  norm_scheme: "post",
  tie_weights: false,
  decoder_bias: false,
  use_bias: false,
  final_norm: true,
  head: "ffn",
  embedding: {
    pos_embedding: "learned",
    max_seq_length: 512,
    normalization: true,
    max_abacus_len: 100,
    abacus_random_spacing: 0,
  },
  attention: {
    type: "pytorch",
    num_attention_heads: 16,
    skip_output_projection: false,
    max_length: 0,
    rotary_embedding: false,
  },
  init: { type: "deepnorm-straight", std: 0.02 },
  throttle: false,
  alpha: 1,
  mask_before_equals: false,
  loss_reduction: "mean",
  forward_only_model_with_skip: false,
});

/**
 * Maps upstream-style `arch` settings (nested, snake_case, already validated by the config
 * schema) to an `Arch`; keys left out take `ARCH_DEFAULTS`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { resolveArch } from "./arch.ts";
 * const a = resolveArch({
 *   hidden_size: 64,
 *   intermed_size: 128,
 *   attention: { num_attention_heads: 4 },
 * }, 19);
 * assert(a.maxBackprop === 2 && a.posEmbedding === "learned");
 * ```
 * @param input the `arch` group (e.g. a loaded config's `cfg.arch`)
 */
export function resolveArch(input: ArchInput, vocabSize: number): Arch {
  const d = ARCH_DEFAULTS;
  const c = {
    ...d,
    ...input,
    embedding: { ...d.embedding, ...input.embedding },
    attention: { ...d.attention, ...input.attention },
    init: { ...d.init, ...input.init },
  };
  const R = c.maximal_recurrence;
  const rotary = c.attention.rotary_embedding;
  return {
    layersInRecurrentBlock: c.layers_in_recurrent_block,
    maximalRecurrence: R,
    maxBackprop: Math.max(c.max_backprop ?? Math.floor(R / 2), 1),
    maximalRecurrenceInEval: c.maximal_recurrence_in_eval ?? R,
    hiddenSize: c.hidden_size,
    intermedSize: c.intermed_size,
    inputInjectionType: c.input_injection_type,
    initialHiddenRandomized: c.initial_hidden_randomized,
    stateInit: c.state_init,
    normEps: c.norm_eps,
    normScheme: c.norm_scheme,
    tieWeights: c.tie_weights,
    decoderBias: c.decoder_bias,
    useBias: c.use_bias,
    finalNorm: c.final_norm,
    head: c.head,
    vocabSize,
    posEmbedding: c.embedding.pos_embedding,
    maxSeqLength: c.embedding.max_seq_length,
    embeddingNormalization: c.embedding.normalization,
    maxAbacusLen: c.embedding.max_abacus_len,
    abacusSpacing: c.embedding.abacus_random_spacing,
    attentionType: c.attention.type,
    heads: c.attention.num_attention_heads,
    skipOutputProjection: c.attention.skip_output_projection,
    attentionMaxLength: c.attention.max_length,
    rotary: rotary === "fire" ? "fire" : rotary ? "rope" : null,
    initType: c.init.type,
    initStd: c.init.std ?? d.init.std!,
    throttle: c.throttle,
    alpha: c.alpha,
    maskBeforeEquals: c.mask_before_equals,
    lossReduction: c.loss_reduction,
    forwardOnlyModelWithSkip: c.forward_only_model_with_skip,
  };
}
