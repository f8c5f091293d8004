/**
 * The arithmetic transformer of upstream (`ScriptableRecurrentLMBPTT`): embedding (+ Abacus or
 * learned positions) and LayerNorm, a block of layers run `maximal_recurrence` times with input
 * injection (or separate layers with injection before each), head FFN, final norm, an untied
 * H x H adapter applied as x @ W, and the decoder. Parameters live in one flat arena. A layer is
 * causal multi-head attention without biases and a GLU-GELU feed-forward, each wrapped in a
 * post-norm (x = LN(x + f(x)), upstream's default) or pre-norm (x = x + f(LN(x))) residual.
 * Reference: McLeish et al. 2024 §3-4; upstream `crammed_depthrecurrent.py` (`TransformerLayer`,
 * `NormalizedResidualConnection`, `FFNComponent`).
 * @module
 */
import { ParamArena } from "../arena.ts";
import { Rng } from "../../kernels/rng.ts";
import { add } from "../ops/elementwise.ts";
import { gluGelu } from "../ops/glu.ts";
import { addLayerNorm, layerNorm } from "../ops/layernorm.ts";
import { concat } from "../ops/layout.ts";
import { causalAttention } from "../ops/attention.ts";
import { embedding } from "../ops/embedding.ts";
import { linear, matmul } from "../ops/matmul.ts";
import { type Backend, defaultBackend } from "../backend.ts";
import { noGrad, Tensor } from "../tensor.ts";
import { abacusIndices, drawAbacusPositions, longestDigitRun } from "./abacus.ts";
import type { Arch } from "./arch.ts";
import { initialState } from "./state.ts";
import { FIRE_KEYS, fireBias, type FireParams } from "./fire.ts";
import { attnKeys, blockLayout, blockPrefix, layerPrefix, paramList } from "./params.ts";

/** A dense layer's weight [out, in] and optional bias [out]. */
export interface Dense {
  /** Weight, [out, in] (applied as x @ W^T). */
  w: Tensor;
  /** Bias, [out]. */
  b: Tensor | null;
}

/** A GLU feed-forward: dense_in (H -> I), GLU halves to I/2, dense_out (I/2 -> H). */
export interface FfnWeights {
  dIn: Dense;
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
  ffn: FfnWeights;
  /** FIRE's parameters (null without FIRE). */
  fire: FireParams | null;
}

/** x @ W^T (+ b): (..., in) -> (..., out). */
function dense(x: Tensor, d: Dense): Tensor {
  const y = linear(x, d.w);
  return d.b ? add(y, d.b) : y;
}

/** The GLU-GELU feed-forward: dense_out(GELU(gate) * x) with [x, gate] = dense_in(input). */
function feedForward(x: Tensor, f: FfnWeights): Tensor {
  return dense(gluGelu(dense(x, f.dIn)), f.dOut);
}

/**
 * One layer, (B, T, H) -> (B, T, H); `attend` maps the fused q/k/v projection (B, T, 3H) to the
 * heads' outputs (B, T, H), which the output projection (if any) then maps back.
 */
function transformerLayer(
  x: Tensor,
  w: LayerWeights,
  arch: Arch,
  attend: (qkv: Tensor) => Tensor,
): Tensor {
  const attention = (h: Tensor) => {
    const out = attend(linear(h, w.inProj));
    return w.outProj ? linear(out, w.outProj) : out;
  };
  const eps = arch.normEps;
  if (arch.normScheme === "post") {
    const h = addLayerNorm(x, attention(x), w.norm1.w, w.norm1.b, eps);
    return addLayerNorm(h, feedForward(h, w.ffn), w.norm2.w, w.norm2.b, eps);
  }
  const h = add(x, attention(layerNorm(x, w.norm1.w, w.norm1.b, eps)));
  return add(h, feedForward(layerNorm(h, w.norm2.w, w.norm2.b, eps), w.ffn));
}

/** Combines the state with the embedded input before a block (upstream `TransformerBlock`). */
function inject(state: Tensor, injected: Tensor, arch: Arch, w: ModelBlock["injection"]): Tensor {
  if (arch.inputInjectionType === "none") return state;
  if (arch.inputInjectionType === "add") return add(state, injected);
  const both = concat([state, injected], -1); // (B, T, 2H)
  return w instanceof Tensor ? linear(both, w) : feedForward(both, w!);
}

/** One block's weights: its input injection and its layers. */
export interface ModelBlock {
  /** `linear` injection's adapter [H, 2H], `ffn` injection's feed-forward, else null. */
  injection: Tensor | FfnWeights | null;
  layers: LayerWeights[];
}

/** Options of one forward pass. */
export interface ForwardOptions {
  /** Training mode: draws the Abacus positions and FIRE positions (eval: none). */
  training: boolean;
  /** Recurrences run without gradient first (TBPTT's n; default: all in eval, else 0). */
  nNoGrad?: number;
  /** Recurrences run with gradient after those (TBPTT's k; default: 0 in eval, else all). */
  kGrad?: number;
  /** Seed of the initial-state noise (default: drawn from the model's generator). */
  stateSeed?: number;
  /** Abacus shift, or position map (see `drawAbacusPositions`), to use instead of a draw. */
  abacusShift?: number | Int32Array;
}

/**
 * The model: parameters (upstream's names) and the forward pass on either backend.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { ArithmeticModel } from "./model.ts";
 * import { resolveArch } from "./arch.ts";
 * import { CPU } from "../backend.ts";
 * const arch = resolveArch({ hidden_size: 16, intermed_size: 32, layers_in_recurrent_block: 1,
 *   maximal_recurrence: 2, attention: { num_attention_heads: 2 },
 *   embedding: { pos_embedding: "abacus", max_seq_length: 32 } }, 19);
 * const model = ArithmeticModel.create(arch, { backend: CPU, seed: 1 });
 * const logits = model.forward(new Int32Array([5, 14, 6, 17, 7, 3]), 1, 6, { training: false });
 * assert(logits.shape.join(",") === "1,6,19");
 * ```
 */
export class ArithmeticModel {
  readonly arch: Arch;
  /** All parameters in one flat arena. */
  readonly arena: ParamArena;
  /** Where the parameters live. */
  readonly backend: Backend;
  /** Generator for shifts, FIRE positions, TBPTT draws and state seeds. */
  readonly rng: Rng;
  /** Weights per block (one block, or one per layer with skip), with each layer's FIRE. */
  readonly blocks: ModelBlock[] = [];
  #head: FfnWeights | Dense | null;

  /** Wraps an arena whose parameters carry upstream's names; use `create` for a fresh model. */
  constructor(arch: Arch, arena: ParamArena, rng: Rng) {
    this.arch = arch;
    this.arena = arena;
    this.backend = arena.backend;
    this.rng = rng;
    const p = (n: string) => arena.get(n);
    const ffn = (pre: string): FfnWeights => ({
      dIn: this.#dense(`${pre}dense_in.`),
      dOut: this.#dense(`${pre}dense_out.`),
    });
    const { blocks, layersPerBlock } = blockLayout(arch);
    for (let j = 0; j < blocks; j++) {
      const bp = blockPrefix(arch, j);
      const injection = arch.inputInjectionType === "linear"
        ? p(`${bp}adapter.weight`)
        : arch.inputInjectionType === "ffn"
        ? ffn(`${bp}ffn.`)
        : null;
      const layers: LayerWeights[] = [];
      for (let i = 0; i < layersPerBlock; i++) {
        const lp = layerPrefix(arch, j, i), k = attnKeys(arch, lp);
        const fire = () => Object.entries(FIRE_KEYS).map(([n, key]) => [n, p(k.fire + key)]);
        layers.push({
          norm1: { w: p(`${lp}residual1.norm.weight`), b: p(`${lp}residual1.norm.bias`) },
          norm2: { w: p(`${lp}residual2.norm.weight`), b: p(`${lp}residual2.norm.bias`) },
          inProj: p(k.inProj),
          outProj: this.#opt(k.outProj),
          ffn: ffn(`${lp}ffn.`),
          fire: arch.rotary === "fire" ? Object.fromEntries(fire()) as FireParams : null,
        });
      }
      this.blocks.push({ injection, layers });
    }
    this.#head = arch.head === "ffn"
      ? ffn("encoder.head.")
      : arch.head === "linear"
      ? this.#dense("encoder.head.")
      : null;
  }

  #opt(name: string): Tensor | null {
    return this.arena.names.includes(name) ? this.arena.get(name) : null;
  }

  /** LayerNorm with the `weight` and `bias` under a key prefix. */
  #norm(x: Tensor, pre: string): Tensor {
    const p = (n: string) => this.arena.get(pre + n);
    return layerNorm(x, p("weight"), p("bias"), this.arch.normEps);
  }

  /** A dense layer's `weight` and optional `bias` under a key prefix. */
  #dense(pre: string): Dense {
    return { w: this.arena.get(`${pre}weight`), b: this.#opt(`${pre}bias`) };
  }

  /** Makes a model with freshly initialised parameters (upstream's init). */
  static create(arch: Arch, options: { backend?: Backend; seed?: number } = {}): ArithmeticModel {
    const backend = options.backend ?? defaultBackend();
    const list = paramList(arch);
    const arena = new ParamArena(backend, list);
    const init = new Rng(options.seed ?? 0, 1);
    for (const spec of list) arena.write(spec.name, spec.init(() => init.normal()));
    return new ArithmeticModel(arch, arena, new Rng(options.seed ?? 0, 2));
  }

  /**
   * Embeds tokens: word embedding (+ positions), then LayerNorm.
   *
   * @param ids token ids (B*T)
   * @param shift Abacus shift, or a position map from `drawAbacusPositions`
   * @returns (B, T, H)
   */
  embed(ids: Int32Array, B: number, T: number, shift: number | Int32Array): Tensor {
    const a = this.arch;
    const pos = a.posEmbedding === "abacus"
      ? abacusIndices(ids, T, shift)
      : a.posEmbedding === "learned"
      ? Int32Array.from({ length: B * T }, (_, i) => i % T)
      : null;
    return this.embedAt(ids, pos, B, T);
  }

  /**
   * Embeds tokens with given positional-table rows (Abacus indices or absolute positions), then
   * LayerNorm. Decoding uses it for tokens whose positions depend on earlier tokens.
   *
   * @param ids token ids (B*T)
   * @param pos table rows (B*T), or null without a positional table
   * @returns (B, T, H)
   * @throws Error when a position falls outside the table
   */
  embedAt(ids: Int32Array, pos: Int32Array | null, B: number, T: number): Tensor {
    const a = this.arch, be = this.backend, p = (n: string) => this.arena.get(n);
    const idsT = Tensor.fromArray(ids, [B, T], { dtype: "i32", backend: be });
    let x = embedding(p("encoder.embedding.word_embedding.weight"), idsT); // (B, T, H)
    if (a.posEmbedding && pos) {
      const max = pos.reduce((m, v) => Math.max(m, v), 0);
      if (max >= a.maxSeqLength) {
        const what = a.posEmbedding === "abacus" ? "Abacus index" : "Position";
        throw new Error(
          `${what} ${max} exceeds the table of ${a.maxSeqLength} rows (embedding.max_seq_length)`,
        );
      }
      const table = p("encoder.embedding.pos_embedding.embedding.weight");
      x = add(x, embedding(table, Tensor.fromArray(pos, [B, T], { dtype: "i32", backend: be })));
    }
    return a.embeddingNormalization ? this.#norm(x, "encoder.embedding.norm.") : x;
  }

  /**
   * FIRE biases for every (block, layer), (heads, T, T) each (null entries without FIRE).
   *
   * @param training randomise positions (when `attention.max_length` allows)
   */
  fireBiases(T: number, training: boolean): (Tensor | null)[][] {
    const maxLength = this.arch.attentionMaxLength;
    return this.blocks.map((b) =>
      b.layers.map(({ fire: f }) =>
        f ? fireBias(f, T, { training, maxLength, random: () => this.rng.float() }) : null
      )
    );
  }

  /**
   * One pass of the recurrent block (or of all skip blocks).
   *
   * @param state (B, T, H)
   * @param injected embedded input (B, T, H)
   * @param biases FIRE biases per (block, layer)
   * @param attend per-(block, layer) attention override (KV-cached decoding)
   * @returns the new state (B, T, H)
   */
  recur(
    state: Tensor,
    injected: Tensor,
    biases: (Tensor | null)[][],
    attend?: (block: number, layer: number) => (qkv: Tensor) => Tensor,
  ): Tensor {
    const a = this.arch, layout = a.attentionType === "pytorch" ? "pytorch" : "interleaved";
    this.blocks.forEach((b, j) => {
      state = inject(state, injected, a, b.injection);
      b.layers.forEach((w, i) => {
        const bias = biases[j][i] ?? undefined, rotary = a.rotary === "rope";
        const causal = (qkv: Tensor) =>
          causalAttention(qkv, { heads: a.heads, layout, bias, rotary });
        state = transformerLayer(state, w, a, attend?.(j, i) ?? causal);
      });
    });
    return state;
  }

  /**
   * Head, final norm, adapter and decoder: hidden states to logits.
   *
   * @param h (B, T, H)
   * @returns (B, T, V)
   */
  readout(h: Tensor): Tensor {
    const a = this.arch, p = (n: string) => this.arena.get(n), head = this.#head;
    if (head) h = "dIn" in head ? feedForward(h, head) : dense(h, head);
    if (a.finalNorm) h = this.#norm(h, "encoder.final_norm.");
    h = matmul(h, p("adapter.weight")); // x @ W (upstream's transposed adapter)
    const decoder = a.tieWeights ? "encoder.embedding.word_embedding.weight" : "decoder.weight";
    const logits = linear(h, p(decoder));
    return a.decoderBias ? add(logits, p("decoder.bias")) : logits;
  }

  /**
   * Runs the model on a batch of token rows.
   *
   * @param ids token ids, (B*T) row-major
   * @returns logits (B, T, V)
   */
  forward(ids: Int32Array, B: number, T: number, options: ForwardOptions): Tensor {
    const a = this.arch;
    const shift = options.abacusShift ??
      (options.training && a.posEmbedding === "abacus"
        ? drawAbacusPositions(longestDigitRun(ids, T), a.maxAbacusLen, a.abacusSpacing, this.rng)
        : 0);
    const seed = options.stateSeed ?? this.rng.nextU32();
    const n = options.nNoGrad ?? (options.training ? 0 : a.maximalRecurrenceInEval);
    const k = options.kGrad ?? (options.training ? a.maximalRecurrence : 0);
    const x = this.embed(ids, B, T, shift);
    const biases = this.fireBiases(T, options.training);
    // The initial state records nothing for backward, so it is made inside the no-grad part.
    let state = noGrad(() => {
      let s = initialState(this.arch, x, seed);
      for (let r = 0; r < n; r++) s = this.recur(s, x, biases);
      return s;
    });
    for (let r = 0; r < k; r++) state = this.recur(state, x, biases);
    return this.readout(state);
  }

  /** Releases the parameters. */
  dispose(): void {
    this.arena.dispose();
  }
}
