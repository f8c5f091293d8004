/**
 * Batched greedy decoding with a key/value cache: a prompt prefill, then one token per row per
 * step, each row at its own length, with recurrences and input injection per step and positions
 * (Abacus runs, learned, RoPE, FIRE rows, state noise) computed for the generated tokens exactly
 * as a full forward would. `cached: false` recomputes the whole sequence every step (upstream's
 * `_generate(quick=True)`) and gives the same tokens.
 * Reference: upstream `arithmetic_eval_quicker.py` / `_generate`; Pope et al. 2022 (KV caching).
 * @module
 */
import { zeros } from "../ops/basic.ts";
import { embedding } from "../ops/embedding.ts";
import { argmax } from "../ops/reduce.ts";
import { attentionDecode, type AttentionDecodeOptions } from "../ops/attention.ts";
import { permute, slice } from "../ops/layout.ts";
import { noGrad, scope, Tensor } from "../tensor.ts";
import { abacusIndices } from "./abacus.ts";
import type { ArithmeticModel } from "./model.ts";
import { initialState } from "./state.ts";

/** Options of `greedyDecode`. */
export interface DecodeOptions {
  /** Tokens to generate per row. */
  maxNewTokens: number;
  /** Stop a row at this token (default EOS = 3); the row's later outputs are PAD (0). */
  eosId?: number;
  /** Use the key/value cache (default true) or recompute the whole sequence every step. */
  cached?: boolean;
  /** Seed of the initial-state noise (default: drawn from the model's generator). */
  seed?: number;
  /** Recurrences (default `maximal_recurrence_in_eval`). */
  recurrences?: number;
}

/**
 * Generates greedily from a batch of prompts of any lengths.
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { greedyDecode } from "./decode.ts";
 * import { ArithmeticModel } from "./model.ts";
 * import { resolveArch } from "./arch.ts";
 * import { CPU } from "../backend.ts";
 * const arch = resolveArch({ hidden_size: 8, intermed_size: 16, layers_in_recurrent_block: 1,
 *   maximal_recurrence: 2, attention: { num_attention_heads: 2 },
 *   embedding: { pos_embedding: "abacus", max_seq_length: 32 } }, 19);
 * const model = ArithmeticModel.create(arch, { backend: CPU, seed: 1 });
 * const prompts = [new Int32Array([5, 14, 6, 17]), new Int32Array([7, 8, 14, 9, 17])];
 * const a = await greedyDecode(model, prompts, { maxNewTokens: 4, seed: 3 });
 * const b = await greedyDecode(model, prompts, { maxNewTokens: 4, seed: 3, cached: false });
 * ok(a.every((row, i) => row.join() === b[i].join()));
 * ```
 * @returns generated tokens per row (`maxNewTokens` each; PAD after EOS)
 */
export async function greedyDecode(
  model: ArithmeticModel,
  prompts: readonly Int32Array[],
  options: DecodeOptions,
): Promise<Int32Array[]> {
  const seed = options.seed ?? model.rng.nextU32();
  const o = { ...options, seed, eosId: options.eosId ?? 3 };
  const rows = prompts.map((p) => [...p]);
  const out = prompts.map(() => new Int32Array(options.maxNewTokens));
  if (prompts.length === 0 || options.maxNewTokens === 0) return out;
  if (prompts.some((p) => p.length === 0)) throw new Error("Cannot decode from an empty prompt");
  const step = o.cached === false ? fullStepper(model, rows, o) : cachedStepper(model, rows, o);
  const done = new Array(prompts.length).fill(false);
  try {
    for (let s = 0; s < options.maxNewTokens; s++) {
      const next = await step();
      next.forEach((tok, b) => {
        if (done[b]) return;
        out[b][s] = tok;
        rows[b].push(tok);
        if (tok === o.eosId) done[b] = true;
      });
      if (done.every(Boolean)) break;
    }
  } finally {
    step.dispose();
  }
  return out;
}

type Stepper = (() => Promise<number[]>) & { dispose: () => void };
type Opts = DecodeOptions & { seed: number; eosId: number };

/** Upstream's method: the whole (right-padded) batch through the model for every new token. */
function fullStepper(model: ArithmeticModel, rows: number[][], o: Opts): Stepper {
  const R = o.recurrences ?? model.arch.maximalRecurrenceInEval;
  const pass = { training: false, nNoGrad: R, kGrad: 0, stateSeed: o.seed };
  const fn = async () => {
    const L = Math.max(...rows.map((r) => r.length)), B = rows.length;
    const ids = new Int32Array(B * L);
    rows.forEach((r, b) => ids.set(r, b * L));
    // (B, L) best tokens; each row's next token is at its own last position.
    const best = await scope(() => noGrad(() => argmax(model.forward(ids, B, L, pass)).toArray()));
    return rows.map((r, b) => best[b * L + r.length - 1]);
  };
  return Object.assign(fn, { dispose: () => {} });
}

/** Prefill once, then one position per row per step through per-(recurrence, layer) caches. */
function cachedStepper(model: ArithmeticModel, rows: number[][], o: Opts): Stepper {
  const a = model.arch, be = model.backend, B = rows.length;
  const R = o.recurrences ?? a.maximalRecurrenceInEval;
  const P = Math.max(...rows.map((r) => r.length));
  const capacity = P + o.maxNewTokens;
  const hd = a.hiddenSize / a.heads;
  const layout = a.attentionType === "pytorch" ? "pytorch" as const : "interleaved" as const;
  const rotary = a.rotary === "rope";
  const caches = Array.from({ length: R }, () =>
    model.blocks.map((b) =>
      b.layers.map(() => ({
        k: zeros([B, a.heads, capacity, hd], { backend: be }),
        v: zeros([B, a.heads, capacity, hd], { backend: be }),
      }))
    ));
  // FIRE's bias depends only on (query, key) positions at evaluation: build (C, heads*C) tables
  // once, whose row t is query t's bias, and gather rows per step.
  const table = (bias: Tensor | null) =>
    bias ? permute(bias, [1, 0, 2]).reshape([capacity, a.heads * capacity]) : null;
  const fireTables = noGrad(() =>
    scope(() => model.fireBiases(capacity, false).map((bs) => bs.map(table)))
  );
  let prefilled = false;
  const fn = async () => {
    const best = await scope(() =>
      noGrad(() => {
        let x: Tensor, state: Tensor, decodeOpts: (fire: Tensor | null) => AttentionDecodeOptions;
        if (!prefilled) {
          // The prompts, right-padded to P, from cache length 0.
          const ids = new Int32Array(B * P);
          rows.forEach((r, b) => ids.set(r, b * P));
          x = model.embed(ids, B, P, 0);
          state = initialState(a, x, o.seed);
          decodeOpts = (fire) => ({
            heads: a.heads,
            cacheLen: 0,
            bias: fire
              ? permute(slice(fire, 0, 0, P).reshape([P, a.heads, capacity]), [1, 0, 2])
              : undefined,
          });
        } else {
          // One position per row, at the row's own length.
          const ids = new Int32Array(rows.map((r) => r[r.length - 1]));
          const at = rows.map((r) => r.length - 1);
          // Each row's last token at its Abacus index, or its absolute position.
          const last = (r: number[], t: number) =>
            a.posEmbedding === "abacus" ? abacusIndices(r, r.length)[t] : t;
          const pos = a.posEmbedding ? new Int32Array(rows.map((r, b) => last(r, at[b]))) : null;
          x = model.embedAt(ids, pos, B, 1);
          state = initialState(a, x, o.seed, at);
          const lengths = Tensor.fromArray(at, [B], { dtype: "i32", backend: be });
          decodeOpts = (fire) => ({
            heads: a.heads,
            lengths,
            biasPerRow: true,
            bias: fire ? embedding(fire, lengths).reshape([B, a.heads, 1, capacity]) : undefined,
          });
        }
        const noBias = model.blocks.map((b) => b.layers.map(() => null));
        for (let r = 0; r < R; r++) {
          state = model.recur(state, x, noBias, (j, i) => (qkv) =>
            attentionDecode(qkv, caches[r][j][i].k, caches[r][j][i].v, {
              layout,
              rotary,
              ...decodeOpts(fireTables[j][i]),
            }));
        }
        return argmax(model.readout(state)).toArray(); // (B, P) after the prefill, then (B, 1)
      })
    );
    if (!prefilled) {
      prefilled = true;
      return rows.map((r, b) => best[b * P + r.length - 1]);
    }
    return [...best];
  };
  return Object.assign(fn, {
    dispose: () => {
      for (const c of caches.flat(2)) (c.k.dispose(), c.v.dispose());
      for (const t of fireTables.flat()) t?.dispose();
    },
  });
}
