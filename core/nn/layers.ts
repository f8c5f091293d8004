/**
 * One transformer layer as upstream builds it: causal multi-head attention without biases and a
 * GLU-GELU feed-forward, each wrapped in a post-norm (x = LN(x + f(x)), upstream's default) or
 * pre-norm (x = x + f(LN(x))) residual; plus the block's input injection.
 * Reference: upstream `TransformerLayer`, `NormalizedResidualConnection`, `FFNComponent`.
 * @module
 */
import { add } from "../ops/elementwise.ts";
import { gluGelu } from "../ops/glu.ts";
import { addLayerNorm, layerNorm } from "../ops/layernorm.ts";
import { concat } from "../ops/layout.ts";
import { linear } from "../ops/matmul.ts";
import { causalAttention } from "../ops/attention.ts";
import type { Tensor } from "../tensor.ts";
import type { Arch } from "./arch.ts";

/** A dense layer's weight [out, in] and optional bias [out]. */
export interface Dense {
  /** Weight, [out, in] (applied as x @ W^T). */
  w: Tensor;
  /** Bias, [out]. */
  b: Tensor | null;
}

/** A GLU feed-forward: dense_in (H -> I), GLU halves to I/2, dense_out (I/2 -> H). */
export interface FfnWeights {
  /** Input projection. */
  dIn: Dense;
  /** Output projection. */
  dOut: Dense;
}

/** A LayerNorm's weight and bias. */
export interface NormWeights {
  /** Scale, [H]. */
  w: Tensor;
  /** Shift, [H]. */
  b: Tensor;
}

/** One layer's parameters. */
export interface LayerWeights {
  /** Norm of the attention residual. */
  norm1: NormWeights;
  /** Norm of the feed-forward residual. */
  norm2: NormWeights;
  /** Fused q/k/v projection, [3H, H]. */
  inProj: Tensor;
  /** Output projection, [H, H] (null with `skip_output_projection`). */
  outProj: Tensor | null;
  /** Feed-forward. */
  ffn: FfnWeights;
}

/** What a layer needs besides its weights. */
export interface LayerContext {
  /** Architecture. */
  arch: Arch;
  /** FIRE bias for this layer, (heads, T, T), when FIRE is on. */
  bias?: Tensor | null;
  /** Replaces causal attention over the fused projection (KV-cached decoding uses this). */
  attend?: (qkv: Tensor) => Tensor;
}

/**
 * Applies a dense layer: x @ W^T (+ b).
 *
 * @param x (..., in)
 * @returns (..., out)
 */
export function dense(x: Tensor, d: Dense): Tensor {
  const y = linear(x, d.w);
  return d.b ? add(y, d.b) : y;
}

/**
 * The GLU-GELU feed-forward: dense_out(GELU(gate) * x) with [x, gate] = dense_in(input).
 *
 * @param x (..., in)
 * @returns (..., H)
 */
export function feedForward(x: Tensor, f: FfnWeights): Tensor {
  return dense(gluGelu(dense(x, f.dIn)), f.dOut);
}

/**
 * Causal self-attention: fused q/k/v projection, attention, output projection.
 *
 * @param x (B, T, H)
 * @returns (B, T, H)
 */
export function attention(x: Tensor, w: LayerWeights, ctx: LayerContext): Tensor {
  const qkv = linear(x, w.inProj); // (B, T, 3H)
  const out = ctx.attend ? ctx.attend(qkv) : causalAttention(qkv, {
    heads: ctx.arch.heads,
    layout: ctx.arch.attentionType === "pytorch" ? "pytorch" : "interleaved",
    bias: ctx.bias ?? undefined,
    rotary: ctx.arch.rotary === "rope",
  }); // (B, T, H)
  return w.outProj ? linear(out, w.outProj) : out;
}

/**
 * One transformer layer (post-norm or pre-norm residuals).
 *
 * @param x (B, T, H)
 * @returns (B, T, H)
 */
export function transformerLayer(x: Tensor, w: LayerWeights, ctx: LayerContext): Tensor {
  if (ctx.arch.normScheme === "post") {
    const h = addLayerNorm(x, attention(x, w, ctx), w.norm1.w, w.norm1.b, ctx.arch.normEps);
    return addLayerNorm(h, feedForward(h, w.ffn), w.norm2.w, w.norm2.b, ctx.arch.normEps);
  }
  const h = add(x, attention(layerNorm(x, w.norm1.w, w.norm1.b, ctx.arch.normEps), w, ctx));
  return add(h, feedForward(layerNorm(h, w.norm2.w, w.norm2.b, ctx.arch.normEps), w.ffn));
}

/** Input-injection weights of a block (`linear`: adapter [H, 2H]; `ffn`: a feed-forward). */
export interface InjectionWeights {
  /** The linear adapter. */
  adapter?: Tensor;
  /** The feed-forward. */
  ffn?: FfnWeights;
}

/**
 * Combines the state with the embedded input before a block (upstream `TransformerBlock`).
 *
 * @param state (B, T, H)
 * @param injected (B, T, H)
 * @param arch architecture (`input_injection_type`)
 * @returns (B, T, H)
 */
export function inject(state: Tensor, injected: Tensor, arch: Arch, w: InjectionWeights): Tensor {
  switch (arch.inputInjectionType) {
    case "none":
      return state;
    case "add":
      return add(state, injected);
    case "linear":
      return linear(concat([state, injected], -1), w.adapter!);
    case "ffn":
      return feedForward(concat([state, injected], -1), w.ffn!);
  }
}
