/**
 * Shared cases of the attention kernel tests: odd shapes, seeded inputs and the CPU forward.
 * @module
 */
import type { AttentionLayout, AttentionShape } from "../../kernels/attention.ts";
import { attentionKernel } from "../../kernels/attention.ts";
import { randArray } from "./_harness.ts";

/** One test shape: sizes plus whether a bias is added. */
export interface Case extends AttentionShape {
  bias: boolean;
}

/**
 * Odd shapes covering T in {1, 7, 33}, hd in {4, 8, 12}, B in {1, 3}, with and without bias and
 * rotary, both layouts (each value meets several others), plus a head dimension that is not a
 * multiple of 4 (scalar loads) with a T spanning several query blocks. Kept short: each shape
 * is a few shaders, and llvmpipe compiles each in a fraction of a second on a cold cache.
 */
export function cases(): Case[] {
  const c = (
    batch: number,
    seq: number,
    heads: number,
    headDim: number,
    layout: AttentionLayout,
    bias: boolean,
    rotary?: { offset?: number },
  ): Case => ({ batch, seq, heads, headDim, layout, bias, rotary });
  return [
    c(1, 1, 1, 4, "pytorch", false),
    c(3, 7, 2, 8, "interleaved", true, { offset: 2 }),
    c(3, 33, 2, 12, "pytorch", true),
    c(1, 33, 3, 8, "interleaved", false, {}),
    c(1, 7, 1, 12, "pytorch", false, {}),
    c(3, 1, 2, 4, "interleaved", true, {}),
    c(2, 70, 2, 6, "interleaved", true, {}),
  ];
}

export const label = (c: Case & { path?: string }): string =>
  `B=${c.batch} T=${c.seq} heads=${c.heads} hd=${c.headDim} ${c.layout}` +
  `${c.bias ? " bias" : ""}${c.rotary ? " rotary" : ""}${c.path ? ` (${c.path})` : ""}`;

/** Inputs of a case: qkv in [-2, 2), bias, output gradient. */
export function inputs(
  c: Case,
  seed: number,
): { qkv: Float32Array; bias: Float32Array | undefined; dout: Float32Array } {
  const H = c.heads * c.headDim;
  return {
    qkv: randArray(c.batch * c.seq * 3 * H, seed, -2, 2),
    bias: c.bias ? randArray(c.heads * c.seq * c.seq, seed + 1, -1, 1) : undefined,
    dout: randArray(c.batch * c.seq * H, seed + 2),
  };
}

/** CPU forward of a case (float32 arrays). */
export function cpuForward(
  c: Case,
  x: ReturnType<typeof inputs>,
): { out: Float32Array; lse: Float32Array } {
  const out = new Float32Array(c.batch * c.seq * c.heads * c.headDim);
  const lse = new Float32Array(c.batch * c.heads * c.seq);
  attentionKernel.cpu({ ...c, qkv: x.qkv, bias: x.bias, out, lse });
  return { out, lse };
}
