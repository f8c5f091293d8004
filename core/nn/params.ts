/**
 * The model's parameter list: upstream's state-dict names and shapes for every variant, and
 * their initial values (`deepnorm-straight`: xavier-normal with gain (8 L)^-1/4 on dense layers,
 * q/k with gain 1, embeddings N(0, H^-1/2), LayerNorms 1/0; or plain `normal`).
 * Reference: Wang et al. 2022 (DeepNet); upstream `_init_module`; docs/checkpoint.md (names).
 * @module
 */
import type { ParamSpec } from "../arena.ts";
import type { Arch } from "./arch.ts";

/** A parameter's spec plus how to draw its initial value. */
export interface ParamInit extends ParamSpec {
  /** Fills the initial values given a standard-normal source. */
  init: (normal: () => number) => Float32Array;
}

/** Key prefix of block `j` itself (its input-injection adapter lives there). */
export function blockPrefix(arch: Arch, block: number): string {
  return arch.forwardOnlyModelWithSkip
    ? `encoder.recurrent_blocks.${block}._orig_mod.`
    : `encoder.recurrent_block._orig_mod.`;
}

/** Key prefix of block `j`'s layer `i` (the `_orig_mod.` segment as upstream's compiled block). */
export function layerPrefix(arch: Arch, block: number, layer: number): string {
  return `${blockPrefix(arch, block)}layers.${layer}.`;
}

/** Attention weight keys for a layer prefix (FIRE's only with self-attention). */
export function attnKeys(arch: Arch, p: string): { inProj: string; outProj: string; fire: string } {
  const attn = arch.attentionType === "pytorch" ? `${p}attn.attn.` : `${p}attn.`;
  return {
    inProj: `${attn}in_proj_weight`,
    outProj: `${attn}out_proj.weight`,
    fire: `${attn}rotary_emb.`,
  };
}

/** Number of (block, layer) pairs with their own weights. */
export function blockLayout(arch: Arch): { blocks: number; layersPerBlock: number } {
  return arch.forwardOnlyModelWithSkip
    ? { blocks: arch.layersInRecurrentBlock, layersPerBlock: 1 }
    : { blocks: 1, layersPerBlock: arch.layersInRecurrentBlock };
}

const fill = (n: number, v: number) => () => new Float32Array(n).fill(v);
const normalFill = (n: number, std: number) => (normal: () => number) => {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = std * normal();
  return a;
};

/**
 * Lists every parameter of a model with its name, shape, decay group and initialiser.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { paramList } from "./params.ts";
 * import { resolveArch } from "./arch.ts";
 * const arch = resolveArch({ hidden_size: 8, intermed_size: 16, layers_in_recurrent_block: 1,
 *   maximal_recurrence: 1, attention: { num_attention_heads: 2 } }, 19);
 * assert(paramList(arch).some((p) => p.name === "decoder.weight"));
 * ```
 */
export function paramList(arch: Arch): ParamInit[] {
  const H = arch.hiddenSize, I = arch.intermedSize, V = arch.vocabSize;
  const normal = arch.initType === "normal";
  const gain = Math.pow(8 * arch.layersInRecurrentBlock * arch.maximalRecurrence, -0.25);
  const dense = (out: number, inp: number, g = gain) =>
    normalFill(out * inp, normal ? arch.initStd : g * Math.sqrt(2 / (out + inp)));
  const emb = (n: number) => normalFill(n * H, normal ? arch.initStd : 1 / Math.sqrt(H));
  const list: ParamInit[] = [];
  const add = (name: string, shape: number[], init: ParamInit["init"]) =>
    list.push({ name, shape, init });
  const ln = (prefix: string) => {
    add(`${prefix}weight`, [H], fill(H, 1));
    add(`${prefix}bias`, [H], fill(H, 0));
  };
  const ffn = (prefix: string, inp: number) => {
    add(`${prefix}dense_in.weight`, [I, inp], dense(I, inp));
    if (arch.useBias) add(`${prefix}dense_in.bias`, [I], fill(I, 0));
    add(`${prefix}dense_out.weight`, [H, I / 2], dense(H, I / 2));
    if (arch.useBias) add(`${prefix}dense_out.bias`, [H], fill(H, 0));
  };

  add("encoder.embedding.word_embedding.weight", [V, H], emb(V));
  if (arch.posEmbedding) {
    add(
      "encoder.embedding.pos_embedding.embedding.weight",
      [arch.maxSeqLength, H],
      emb(arch.maxSeqLength),
    );
  }
  if (arch.embeddingNormalization) ln("encoder.embedding.norm.");

  const { blocks, layersPerBlock } = blockLayout(arch);
  for (let j = 0; j < blocks; j++) {
    const bp = blockPrefix(arch, j);
    if (arch.inputInjectionType === "linear") {
      add(`${bp}adapter.weight`, [H, 2 * H], dense(H, 2 * H));
    }
    if (arch.inputInjectionType === "ffn") ffn(`${bp}ffn.`, 2 * H);
    for (let i = 0; i < layersPerBlock; i++) {
      const p = layerPrefix(arch, j, i);
      ln(`${p}residual1.norm.`);
      ln(`${p}residual2.norm.`);
      const k = attnKeys(arch, p);
      if (arch.attentionType === "pytorch") {
        const qk = normalFill(2 * H * H, normal ? arch.initStd : 1 / Math.sqrt(H));
        const v = normalFill(H * H, normal ? arch.initStd : gain / Math.sqrt(H));
        add(k.inProj, [3 * H, H], (n) => {
          const a = new Float32Array(3 * H * H);
          a.set(qk(n));
          a.set(v(n), 2 * H * H);
          return a;
        });
      } else add(k.inProj, [3 * H, H], dense(3 * H, H));
      if (!arch.skipOutputProjection) add(k.outProj, [H, H], dense(H, H));
      if (arch.rotary === "fire") {
        const f = k.fire;
        add(`${f}mlp.0.weight`, [32, 1], dense(32, 1));
        add(`${f}mlp.0.bias`, [32], fill(32, 0));
        add(`${f}mlp.2.weight`, [arch.heads, 32], dense(arch.heads, 32));
        add(`${f}mlp.2.bias`, [arch.heads], fill(arch.heads, 0));
        add(`${f}c`, [], fill(1, 0.1));
        add(`${f}L_multiplier`, [], fill(1, 1));
      }
      ffn(`${p}ffn.`, H);
    }
  }
  if (arch.head === "ffn") ffn("encoder.head.", H);
  if (arch.head === "linear") {
    add("encoder.head.weight", [H, H], dense(H, H));
    if (arch.useBias) add("encoder.head.bias", [H], fill(H, 0));
  }
  if (arch.finalNorm) ln("encoder.final_norm.");
  add("adapter.weight", [H, H], dense(H, H));
  if (!arch.tieWeights) add("decoder.weight", [V, H], dense(V, H));
  if (arch.decoderBias) add("decoder.bias", [V], fill(V, 0));
  return list;
}

/**
 * Counts parameters by component (embedding, block, head, output), as `deno task summary` shows.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { paramCounts } from "./params.ts";
 * import { resolveArch } from "./arch.ts";
 * const arch = resolveArch({ hidden_size: 8, intermed_size: 16, attention: { num_attention_heads: 2 } }, 19);
 * const c = paramCounts(arch);
 * assert(c.total === c.embedding + c.blocks + c.head + c.output);
 * ```
 */
export function paramCounts(
  arch: Arch,
): { embedding: number; blocks: number; head: number; output: number; total: number } {
  const c = { embedding: 0, blocks: 0, head: 0, output: 0, total: 0 };
  for (const p of paramList(arch)) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const key = p.name.startsWith("encoder.embedding.")
      ? "embedding"
      : p.name.startsWith("encoder.recurrent_block")
      ? "blocks"
      : p.name.startsWith("encoder.")
      ? "head"
      : "output";
    c[key] += n;
    c.total += n;
  }
  return c;
}
