/**
 * The model's architecture settings: upstream's `arch` keys (crammed-depthrecurrent.yaml) read
 * into a typed object. Every upstream key is either honoured or rejected with a one-line reason;
 * none is silently ignored (keys that have no meaning here, like `local_compilation`, are accepted
 * and listed in `ARCH_NOTES`).
 * @module
 */

/** Positional embedding of the input. */
export type PosEmbedding = "abacus" | "learned" | null;

/** Typed architecture settings (upstream names, camelCase). */
export interface Arch {
  /** Layers in the (weight-shared) block. */
  layersInRecurrentBlock: number;
  /** Times the block runs in training. */
  maximalRecurrence: number;
  /** Largest number of recurrences back-propagated through (TBPTT). */
  maxBackprop: number;
  /** Recurrences at evaluation. */
  maximalRecurrenceInEval: number;
  /** Width H. */
  hiddenSize: number;
  /** FFN inner width I (GLU halves it). */
  intermedSize: number;
  /** How the embedded input enters each recurrence. */
  inputInjectionType: "add" | "none" | "linear" | "ffn";
  /** Whether the state starts random (else the embedded input). */
  initialHiddenRandomized: boolean;
  /** Initial state distribution. */
  stateInit: "embed" | "zero" | "normal" | "unit";
  /** LayerNorm epsilon. */
  normEps: number;
  /** Residual normalisation. */
  normScheme: "post" | "pre";
  /** Tie the decoder to the word embedding. */
  tieWeights: boolean;
  /** Bias on the decoder. */
  decoderBias: boolean;
  /** Biases on the FFN and head dense layers. */
  useBias: boolean;
  /** Final LayerNorm after the head. */
  finalNorm: boolean;
  /** Prediction head. */
  head: "ffn" | "identity" | "linear";
  /** Vocabulary size V. */
  vocabSize: number;
  /** Positional embedding. */
  posEmbedding: PosEmbedding;
  /** Rows of the positional (learned or abacus) table. */
  maxSeqLength: number;
  /** LayerNorm after the embedding sum. */
  embeddingNormalization: boolean;
  /** Largest Abacus training shift k. */
  maxAbacusLen: number;
  /** Probability of randomly spaced Abacus positions in a training batch (0: upstream). */
  abacusSpacing: number;
  /** Attention implementation (decides the fused q/k/v layout and the checkpoint keys). */
  attentionType: "pytorch" | "self-attention";
  /** Heads. */
  heads: number;
  /** Drop the attention output projection. */
  skipOutputProjection: boolean;
  /** FIRE's randomised-position range (0 = off). */
  attentionMaxLength: number;
  /** Rotary (RoPE), FIRE, or none. */
  rotary: "rope" | "fire" | null;
  /** Initialisation scheme. */
  initType: "deepnorm-straight" | "normal";
  /** Std of the `normal` init. */
  initStd: number;
  /** Loss rescaling of upstream's TBPTT. */
  throttle: boolean;
  /** Progressive-loss mix. */
  alpha: number;
  /** Train only on tokens after `=`. */
  maskBeforeEquals: boolean;
  /** `mean` over kept tokens, or `none` (per-sample mean, then batch mean). */
  lossReduction: "mean" | "none";
  /** Separate layers with input injection before each (upstream's "recall"). */
  forwardOnlyModelWithSkip: boolean;
}

/** Upstream keys accepted without effect, with the reason (printed by `deno task summary`). */
export const ARCH_NOTES: Record<string, string> = {
  model_type: "only ScriptableCrammedDepthRecurrent exists here",
  objective_layout: "TBPTT (and deepthinking, its alias) is the only objective",
  local_compilation: "torch.compile has no meaning here: kernels are compiled WGSL",
  "embedding.stable_low_precision": "abacus computes in fp32",
  "attention.seq_op_in_fp32": "abacus computes in fp32",
};

type Raw = Record<string, unknown>;

function get(raw: Raw, path: string): unknown {
  let v: unknown = raw;
  for (const k of path.split(".")) v = v && typeof v === "object" ? (v as Raw)[k] : undefined;
  return v;
}

function num(raw: Raw, path: string, fallback: number, min = 0): number {
  const v = get(raw, path);
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min) {
    throw new Error(`Invalid arch.${path}: ${JSON.stringify(v)} (expected a number >= ${min})`);
  }
  return v;
}

function int(raw: Raw, path: string, fallback: number, min = 1): number {
  const v = num(raw, path, fallback, min);
  if (!Number.isInteger(v)) throw new Error(`Invalid arch.${path}: ${v} (expected an integer)`);
  return v;
}

function probability(raw: Raw, path: string): number {
  const v = num(raw, path, 0);
  if (v > 1) throw new Error(`Invalid arch.${path}: ${v} (expected a probability in [0, 1])`);
  return v;
}

function bool(raw: Raw, path: string, fallback: boolean): boolean {
  const v = get(raw, path);
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "boolean") {
    throw new Error(`Invalid arch.${path}: ${JSON.stringify(v)} (expected True/False)`);
  }
  return v;
}

function choice<T extends string>(raw: Raw, path: string, fallback: T, allowed: readonly T[]): T {
  const v = get(raw, path) ?? fallback;
  if (!allowed.includes(v as T)) {
    throw new Error(
      `Unsupported arch.${path}=${JSON.stringify(v)}: choose one of ${allowed.join(", ")}`,
    );
  }
  return v as T;
}

function mustBe(raw: Raw, path: string, ok: unknown[], why: string): void {
  const v = get(raw, path);
  if (v !== undefined && v !== null && !ok.includes(v)) {
    throw new Error(`Unsupported arch.${path}=${JSON.stringify(v)}: ${why}`);
  }
}

/**
 * Reads upstream-style `arch` settings (nested, snake_case) into an `Arch`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { resolveArch } from "./arch.ts";
 * const a = resolveArch({ hidden_size: 64, intermed_size: 128, attention: { num_attention_heads: 4 } }, 19);
 * assert(a.maxBackprop === 2 && a.posEmbedding === "learned");
 * ```
 * @param raw the `arch` group (missing keys take upstream's defaults)
 * @param vocabSize the tokenizer's vocabulary size
 * @returns the typed settings
 * @throws Error naming the key for a value abacus does not support
 */
export function resolveArch(raw: Raw, vocabSize: number): Arch {
  mustBe(
    raw,
    "model_type",
    ["ScriptableCrammedDepthRecurrent"],
    "only the depth-recurrent model exists",
  );
  mustBe(raw, "objective_layout", ["TBPTT", "deepthinking"], "only the TBPTT objective exists");
  mustBe(raw, "norm", ["LayerNorm"], "only LayerNorm is implemented");
  mustBe(raw, "nonlin", ["GELUglu"], "only the GELU-GLU feed-forward is implemented");
  mustBe(raw, "sub_normalization", [false], "sub-normalization is not implemented");
  mustBe(raw, "attention.sub_normalization", [false], "sub-normalization is not implemented");
  mustBe(
    raw,
    "attention.qkv_bias",
    [false],
    "attention biases are not implemented (upstream runs use none)",
  );
  mustBe(raw, "attention.bias_in_proj", [false], "attention biases are not implemented");
  mustBe(raw, "attention.sequence_op", ["torch-softmax"], "only softmax attention is implemented");
  const hidden = int(raw, "hidden_size", 768);
  const embDim = get(raw, "embedding.embedding_dim");
  if (embDim !== undefined && embDim !== null && embDim !== hidden) {
    throw new Error(
      `Unsupported arch.embedding.embedding_dim=${embDim}: it must equal hidden_size (${hidden})`,
    );
  }
  const R = int(raw, "maximal_recurrence", 4);
  const intermed = int(raw, "intermed_size", 3072, 2);
  if (intermed % 2 !== 0) {
    throw new Error(`Invalid arch.intermed_size: ${intermed} (GLU needs an even size)`);
  }
  const heads = int(raw, "attention.num_attention_heads", 16);
  if (hidden % heads !== 0) {
    throw new Error(
      `Invalid arch.attention.num_attention_heads: ${heads} does not divide hidden_size ${hidden}`,
    );
  }
  const pos = get(raw, "embedding.pos_embedding");
  const posEmbedding = pos === undefined
    ? "learned"
    : pos === null || pos === "None" || pos === "none"
    ? null
    : choice(raw, "embedding.pos_embedding", "learned", ["abacus", "learned"]);
  const rot = get(raw, "attention.rotary_embedding");
  const rotary = rot === "fire"
    ? "fire"
    : rot === true || rot === "true" || rot === "True"
    ? "rope"
    : rot === undefined || rot === null || rot === false || rot === "false" || rot === "False"
    ? null
    : (() => {
      throw new Error(
        `Unsupported arch.attention.rotary_embedding=${
          JSON.stringify(rot)
        }: choose fire, true or false`,
      );
    })();
  const attentionType = choice(raw, "attention.type", "pytorch", ["pytorch", "self-attention"]);
  if (rotary && attentionType !== "self-attention") {
    throw new Error(
      `Unsupported arch.attention.rotary_embedding=${rot} with attention.type=pytorch: use "self-attention"`,
    );
  }
  const mb = get(raw, "max_backprop");
  const evalR = get(raw, "maximal_recurrence_in_eval");
  return {
    layersInRecurrentBlock: int(raw, "layers_in_recurrent_block", 4),
    maximalRecurrence: R,
    maxBackprop: Math.max(
      mb === undefined || mb === null ? Math.floor(R / 2) : int(raw, "max_backprop", 1),
      1,
    ),
    maximalRecurrenceInEval: evalR === undefined || evalR === null
      ? R
      : int(raw, "maximal_recurrence_in_eval", R),
    hiddenSize: hidden,
    intermedSize: intermed,
    inputInjectionType: choice(raw, "input_injection_type", "add", [
      "add",
      "none",
      "linear",
      "ffn",
    ]),
    initialHiddenRandomized: bool(raw, "initial_hidden_randomized", true),
    stateInit: choice(raw, "state_init", "embed", ["embed", "zero", "normal", "unit"]),
    normEps: num(raw, "norm_eps", 1e-12),
    normScheme: choice(raw, "norm_scheme", "post", ["post", "pre"]),
    tieWeights: bool(raw, "tie_weights", false),
    decoderBias: bool(raw, "decoder_bias", false),
    useBias: bool(raw, "use_bias", false),
    finalNorm: bool(raw, "final_norm", true),
    head: choice(raw, "head", "ffn", ["ffn", "identity", "linear"]),
    vocabSize,
    posEmbedding: posEmbedding as PosEmbedding,
    maxSeqLength: int(raw, "embedding.max_seq_length", 512),
    embeddingNormalization: bool(raw, "embedding.normalization", true),
    maxAbacusLen: int(raw, "embedding.max_abacus_len", 100, 0),
    abacusSpacing: probability(raw, "embedding.abacus_random_spacing"),
    attentionType,
    heads,
    skipOutputProjection: bool(raw, "attention.skip_output_projection", false),
    attentionMaxLength: int(raw, "attention.max_length", 0, 0),
    rotary,
    initType: choice(raw, "init.type", "deepnorm-straight", ["deepnorm-straight", "normal"]),
    initStd: num(raw, "init.std", 0.02),
    throttle: bool(raw, "throttle", false),
    alpha: num(raw, "alpha", 1),
    maskBeforeEquals: bool(raw, "mask_before_equals", false),
    lossReduction: choice(raw, "loss_reduction", "mean", ["mean", "none"]),
    forwardOnlyModelWithSkip: bool(raw, "forward_only_model_with_skip", false),
  };
}
