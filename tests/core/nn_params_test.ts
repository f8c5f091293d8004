import { deepStrictEqual, ok } from "node:assert/strict";
import { resolveArch } from "../../core/nn/arch.ts";
import { paramCounts, paramList } from "../../core/nn/params.ts";

const paper = (layers: number, rec: number, extra: Record<string, unknown> = {}) =>
  resolveArch({
    layers_in_recurrent_block: layers,
    maximal_recurrence: rec,
    hidden_size: 1024,
    intermed_size: 2048,
    attention: { num_attention_heads: 16 },
    embedding: { pos_embedding: null },
    ...extra,
  }, 19);

Deno.test("paramCounts() matches upstream's configurations (NoPE 16x1 and 1x16)", () => {
  deepStrictEqual(paramCounts(paper(16, 1)).total, 121_743_360);
  deepStrictEqual(paramCounts(paper(1, 16)).total, 11_581_440);
  const abacus = paramCounts(paper(16, 1, { embedding: { pos_embedding: "abacus" } })).total;
  deepStrictEqual(abacus - 121_743_360, 512 * 1024); // the Abacus table, 512 x H
});

Deno.test("paramList() uses upstream's state-dict names for every variant", () => {
  const names = (a: ReturnType<typeof paper>) => paramList(a).map((p) => p.name);
  const std = names(paper(2, 1));
  ok(std.includes("encoder.recurrent_block._orig_mod.layers.1.attn.attn.in_proj_weight"));
  ok(std.includes("encoder.recurrent_block._orig_mod.layers.0.ffn.dense_out.weight"));
  ok(std.includes("adapter.weight") && std.includes("decoder.weight"));
  const skip = names(paper(3, 1, { forward_only_model_with_skip: true }));
  ok(skip.includes("encoder.recurrent_blocks.2._orig_mod.layers.0.residual2.norm.bias"));
  const fire = names(
    paper(1, 2, {
      attention: { num_attention_heads: 16, type: "self-attention", rotary_embedding: "fire" },
    }),
  );
  ok(fire.includes("encoder.recurrent_block._orig_mod.layers.0.attn.rotary_emb.mlp.2.weight"));
  ok(fire.includes("encoder.recurrent_block._orig_mod.layers.0.attn.in_proj_weight"));
  const tied = names(paper(1, 1, { tie_weights: true }));
  ok(!tied.includes("decoder.weight"));
});

Deno.test("paramList() initialises as deepnorm-straight", () => {
  const a = paper(4, 4);
  let seed = 1;
  const normal = () => {
    // Irwin-Hall approximation of N(0, 1), deterministic.
    let s = 0;
    for (let i = 0; i < 12; i++) s += (seed = (seed * 16807) % 2147483647) / 2147483647;
    return s - 6;
  };
  const std = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
  const gain = Math.pow(8 * 16, -0.25);
  const get = (n: string) => paramList(a).find((p) => p.name === n)!.init(normal);
  const inProj = get("encoder.recurrent_block._orig_mod.layers.0.attn.attn.in_proj_weight");
  const H = 1024;
  ok(Math.abs(std(inProj.subarray(0, 2 * H * H)) * Math.sqrt(H) - 1) < 0.02, "q, k gain 1");
  ok(Math.abs(std(inProj.subarray(2 * H * H)) * Math.sqrt(H) - gain) < 0.02, "v gain");
  const dIn = get("encoder.recurrent_block._orig_mod.layers.0.ffn.dense_in.weight");
  ok(Math.abs(std(dIn) / (gain * Math.sqrt(2 / (2048 + 1024))) - 1) < 0.02, "xavier normal");
  deepStrictEqual(get("encoder.final_norm.weight")[5], 1);
  const emb = get("encoder.embedding.word_embedding.weight");
  ok(Math.abs(std(emb) * Math.sqrt(H) - 1) < 0.05, "embedding std H^-1/2");
});

Deno.test("resolveArch() fills left-out keys with upstream's defaults", () => {
  deepStrictEqual(resolveArch({ maximal_recurrence: 1 }, 19).maxBackprop, 1);
  deepStrictEqual(resolveArch({ maximal_recurrence: 16 }, 19).maximalRecurrenceInEval, 16);
});
