/**
 * Counter-based normal noise for the recurrent state initialisation (`state_init: embed` draws
 * 0.02 * N(0, 1) at every forward). The value at (b, t, h) depends only on (seed, b, t, h), so a
 * KV-cached decode that computes one new position reproduces full recomputation exactly.
 * Reference: PCG hash (Jarzynski & Olano 2020, "Hash Functions for GPU Rendering"); Box-Muller.
 * @module
 */
import type { Buf, FloatArray } from "./context.ts";
import { type Kernel, program } from "./program.ts";

const PCG = /* wgsl */ `
fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}
// Box-Muller from the hash x of (seed, b, t, h).
fn normal(x: u32) -> f32 {
  let y = pcg(x ^ 0x9e3779b9u);
  let u1 = (f32(x >> 8u) + 1.0) / 16777217.0;
  let u2 = f32(y >> 8u) / 16777216.0;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}`;

const NORMAL = program({
  label: "randomNormal",
  outputs: { out: "f32" },
  uniforms: { T: "u32", H: "u32", seed: "u32", pos0: "u32", scale: "f32" },
  workgroup: 256,
  head: () => PCG,
  body: () =>
    `let h = i % p.H;
  let t = (i / p.H) % p.T + p.pos0;
  let b = i / (p.H * p.T);
  out[i] = p.scale * normal(pcg(h + pcg(t + pcg(b + pcg(p.seed)))));`,
});

const NORMAL_AT = program({
  label: "randomNormalAt",
  inputs: { pos: "u32" },
  outputs: { out: "f32" },
  uniforms: { H: "u32", seed: "u32", scale: "f32" },
  workgroup: 256,
  head: () => PCG,
  body: () =>
    `let h = i % p.H;
  let b = i / p.H;
  out[i] = p.scale * normal(pcg(h + pcg(pos[b] + pcg(b + pcg(p.seed)))));`,
});

/** Arguments of `randomNormalKernel`: noise for (B, T, H) at positions pos0..pos0+T-1. */
export interface RandomNormalArgs<B> {
  /** Output, (B, T, H). */
  out: B;
  /** Batch rows. */
  B: number;
  /** Positions in this call. */
  T: number;
  /** Channels. */
  H: number;
  /** 32-bit seed (differs per forward call). */
  seed: number;
  /** Absolute position of t = 0 (for incremental decoding). */
  pos0?: number;
  /** Multiplier (0.02 for upstream's `embed` init). */
  scale?: number;
}

/** Arguments of `randomNormalAtKernel`: one (H) noise vector per batch row, `out` (B, H). */
export interface RandomNormalAtArgs<B> extends Omit<RandomNormalArgs<B>, "T" | "pos0"> {
  /** Position of each row, (B) u32. */
  pos: B;
}

function pcg(v: number): number {
  const s = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

// The noise of (seed, b, t) for h < H into out[at..], drawn as the shader draws it.
function noiseRow(
  out: FloatArray,
  at: number,
  H: number,
  seed: number,
  b: number,
  t: number,
  scale: number,
): void {
  const th = pcg((t + pcg((b + pcg(seed >>> 0)) >>> 0)) >>> 0);
  for (let h = 0; h < H; h++) {
    const x = pcg((h + th) >>> 0);
    const y = pcg((x ^ 0x9e3779b9) >>> 0);
    const u1 = Math.fround((Math.fround(x >>> 8) + 1) / 16777217);
    const u2 = Math.fround((y >>> 8) / 16777216);
    out[at + h] = scale * Math.sqrt(-2 * Math.log(u1)) * Math.cos(6.283185307179586 * u2);
  }
}

/**
 * `scale * N(0, 1)` noise for (B, T, H), each value keyed by (seed, b, pos0 + t, h) alone, so a
 * later call for one new position draws what a full call drew there.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { randomNormalKernel } from "./random.ts";
 * const full = new Float32Array(8), one = new Float32Array(2); // (1, 4, 2) and (1, 1, 2)
 * randomNormalKernel.cpu({ out: full, B: 1, T: 4, H: 2, seed: 7 });
 * randomNormalKernel.cpu({ out: one, B: 1, T: 1, H: 2, seed: 7, pos0: 3, scale: 2 });
 * assert(full[7] !== 0 && one[1] === 2 * full[7]);
 * ```
 */
export const randomNormalKernel: Kernel<RandomNormalArgs<Buf>, RandomNormalArgs<FloatArray>> = {
  gpu(ctx, a) {
    NORMAL.run(ctx, {
      key: {},
      bind: { out: a.out },
      params: { T: a.T, H: a.H, seed: a.seed >>> 0, pos0: a.pos0 ?? 0, scale: a.scale ?? 1 },
      count: a.B * a.T * a.H,
    });
  },
  // The same hash, so both backends draw the same noise.
  cpu(a) {
    const { B, T, H } = a;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        noiseRow(a.out, (b * T + t) * H, H, a.seed, b, t + (a.pos0 ?? 0), a.scale ?? 1);
      }
    }
  },
};

/**
 * The noise of `randomNormalKernel` with each batch row b at its own position `pos[b]`: (B, H) from
 * (seed, b, pos[b], h) (cached decoding, where rows have different lengths).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { randomNormalAtKernel, randomNormalKernel } from "./random.ts";
 * const full = new Float64Array(6), at = new Float64Array(2); // (2, 3, 1) and (2, 1)
 * randomNormalKernel.cpu({ out: full, B: 2, T: 3, H: 1, seed: 7 });
 * randomNormalAtKernel.cpu({ pos: [2, 0], out: at, B: 2, H: 1, seed: 7 });
 * assert(at[0] === full[2] && at[1] === full[3] && at[0] !== at[1]);
 * ```
 */
export const randomNormalAtKernel: Kernel<
  RandomNormalAtArgs<Buf>,
  Omit<RandomNormalAtArgs<never>, "pos" | "out"> & { pos: ArrayLike<number>; out: FloatArray }
> = {
  gpu(ctx, a) {
    NORMAL_AT.run(ctx, {
      key: {},
      bind: { pos: a.pos, out: a.out },
      params: { H: a.H, seed: a.seed >>> 0, scale: a.scale ?? 1 },
      count: a.B * a.H,
    });
  },
  cpu(a) {
    for (let b = 0; b < a.B; b++) noiseRow(a.out, b * a.H, a.H, a.seed, b, a.pos[b], a.scale ?? 1);
  },
};
