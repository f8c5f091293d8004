/** Tiny model variants shared by the model and decoding tests. */
import { type Arch, resolveArch } from "../../core/nn/arch.ts";

/** Tiny variants: every positional option, looped and not, with skip, and the other arch keys. */
export const VARIANTS: Record<string, Record<string, unknown>> = {
  "abacus looped": { embedding: { pos_embedding: "abacus", max_seq_length: 48 } },
  "learned": { embedding: { pos_embedding: "learned", max_seq_length: 48 }, maximal_recurrence: 1 },
  "nope": { embedding: { pos_embedding: null } },
  "fire": {
    embedding: { pos_embedding: null },
    attention: { num_attention_heads: 2, type: "self-attention", rotary_embedding: "fire" },
  },
  "abacus+fire": {
    embedding: { pos_embedding: "abacus", max_seq_length: 48 },
    attention: { num_attention_heads: 2, type: "self-attention", rotary_embedding: "fire" },
  },
  "abacus+rope": {
    embedding: { pos_embedding: "abacus", max_seq_length: 48 },
    attention: { num_attention_heads: 2, type: "self-attention", rotary_embedding: true },
  },
  "skip": {
    forward_only_model_with_skip: true,
    layers_in_recurrent_block: 2,
    maximal_recurrence: 1,
  },
  "linear injection, pre-norm": { input_injection_type: "linear", norm_scheme: "pre" },
  "ffn injection, zero state": { input_injection_type: "ffn", state_init: "zero" },
  "tied, biases, linear head": {
    tie_weights: true,
    use_bias: true,
    decoder_bias: true,
    head: "linear",
  },
};

export const tinyArch = (v: Record<string, unknown>): Arch =>
  resolveArch({
    hidden_size: 8,
    intermed_size: 12,
    layers_in_recurrent_block: 1,
    maximal_recurrence: 2,
    attention: { num_attention_heads: 2 },
    ...v,
  }, 19);
