/**
 * Permute copies: any permutation of a tensor's axes (splitting and merging attention heads,
 * transposes; the backward pass is the inverse permutation). Words of 4 bytes of any dtype move
 * bit-exactly; vec4 words when the innermost axis stays innermost. Shapes travel in a uniform,
 * so a changing sequence length reuses one pipeline per rank.
 * @module
 */
import type { Buf, KernelContext } from "./context.ts";
import { type Kernel, program, type Scalar } from "./program.ts";
import type { WordArray } from "./layout.ts";

const AXES = [0, 1, 2, 3, 4, 5, 6, 7];
const uniforms = Object.fromEntries(
  AXES.flatMap((d) => [[`d${d}`, "u32"], [`s${d}`, "u32"]]),
) as Record<`${"d" | "s"}${number}`, Scalar>;

// Permute: one invocation per output word; the output index is decomposed innermost first and
// mapped through the input strides (shape and strides of the merged permutation in `p`).
const PERMUTE = program({
  label: "permute",
  inputs: { src: "W" },
  outputs: { dst: "W" },
  uniforms,
  workgroup: 256,
  head: (k: { rank: number; vec: boolean }) => `alias W = ${k.vec ? "vec4u" : "u32"};`,
  body: (k) =>
    `var rem = i;
  var s = 0u;
${
      AXES.slice(0, k.rank).reverse().map((d) =>
        `  { let q = rem / p.d${d}; s += (rem - q * p.d${d}) * p.s${d}; rem = q; }`
      ).join("\n")
    }
  dst[i] = src[s];`,
});
const params = Object.fromEntries(Object.keys(uniforms).map((u) => [u, 0])) as Record<
  keyof typeof uniforms,
  number
>;

/** A permutation with size-1 axes dropped and axes that stay adjacent merged. */
interface Merged {
  /** Input shape after merging. */
  shape: number[];
  /** Output axis k reads merged input axis perm[k]. */
  perm: number[];
}

function checkPerm(shape: readonly number[], perm: readonly number[]): void {
  const seen = new Set(perm);
  if (
    perm.length !== shape.length || seen.size !== perm.length ||
    perm.some((p) => !Number.isInteger(p) || p < 0 || p >= shape.length)
  ) {
    throw new Error(
      `Cannot permute shape [${shape.join(", ")}] by [${perm.join(", ")}]: not a permutation`,
    );
  }
}

function mergePermutation(shape: readonly number[], perm: readonly number[]): Merged {
  // Input axes longer than 1, numbered in memory order.
  const rankOf = new Map<number, number>();
  shape.forEach((d, a) => d !== 1 && rankOf.set(a, rankOf.size));
  const keep = perm.filter((a) => shape[a] !== 1);
  // Runs of axes adjacent in memory that stay adjacent in the output become one axis.
  const groups: number[][] = [];
  for (const a of keep) {
    const last = groups[groups.length - 1];
    if (last && rankOf.get(last[last.length - 1])! + 1 === rankOf.get(a)) last.push(a);
    else groups.push([a]);
  }
  const byInput = groups.map((g, k) => ({
    first: g[0],
    k,
    size: g.reduce((p, a) => p * shape[a], 1),
  }))
    .sort((x, y) => x.first - y.first);
  const merged = byInput.map((g) => g.size);
  const where = new Map(byInput.map((g, i) => [g.k, i]));
  return { shape: merged, perm: groups.map((_, k) => where.get(k)!) };
}

/** Arguments of `permuteForward` / `permuteBackward`. */
export interface PermuteArgs<B> {
  /** The input (shape). */
  a: B;
  /** The output, with out.shape[k] = shape[perm[k]]. */
  out: B;
  /** The input's shape. */
  shape: readonly number[];
  /** Output axis k is input axis perm[k]. */
  perm: readonly number[];
}

/**
 * Copies a tensor into a permuted layout on the GPU: out[i_perm[0], ..., i_perm[r-1]] = a[i].
 *
 * Size-1 axes are dropped and axes that stay adjacent are merged first (so a (B, T, N, D) to
 * (B, N, T, D) head split is a rank-4 copy with D-long runs); vec4 words when the innermost input
 * axis stays innermost with a length divisible by 4. At most 8 axes after merging.
 */
function permuteForward(ctx: KernelContext, p: PermuteArgs<Buf>): void {
  checkPerm(p.shape, p.perm);
  const m = mergePermutation(p.shape, p.perm);
  const n = m.shape.reduce((x, d) => x * d, 1);
  if (n === 0) return;
  if (m.shape.length === 0) {
    m.shape.push(1);
    m.perm.push(0);
  }
  const rank = m.shape.length;
  if (rank > 8) throw new Error(`Cannot permute ${rank} axes after merging: at most 8`);
  const inner = m.shape[rank - 1];
  const vec = m.perm[rank - 1] === rank - 1 && inner % 4 === 0 ? 4 : 1;
  const shape = m.shape.map((d, i) => (i === rank - 1 ? d / vec : d));
  const strides = new Array<number>(rank);
  for (let i = rank - 1, s = 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  m.perm.forEach((a, k) => {
    params[`d${k}`] = shape[a];
    params[`s${k}`] = strides[a];
  });
  const key = { rank, vec: vec === 4 };
  PERMUTE.run(ctx, { key, bind: { src: p.a, dst: p.out }, params, count: n / vec });
}

/** CPU reference of `permuteForward` (any rank). */
function permuteForwardCpu(p: PermuteArgs<WordArray>): void {
  checkPerm(p.shape, p.perm);
  const r = p.shape.length;
  const inStrides = new Array<number>(r);
  for (let i = r - 1, s = 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= p.shape[i];
  }
  const outShape = p.perm.map((a) => p.shape[a]);
  const n = outShape.reduce((x, d) => x * d, 1);
  for (let i = 0; i < n; i++) {
    let rem = i, s = 0;
    for (let k = r - 1; k >= 0; k--) {
      s += (rem % outShape[k]) * inStrides[p.perm[k]];
      rem = Math.floor(rem / outShape[k]);
    }
    p.out[i] = p.a[s];
  }
}

/**
 * Copies `a` into a permuted layout, output axis k being input axis `perm[k]`
 * (`out.shape[k] = shape[perm[k]]`); any 4-byte words, bit-exact.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { permuteKernel } from "./permute.ts";
 * const a = new Int32Array([0, 1, 2, 3, 4, 5]), out = new Int32Array(6); // (2, 3) -> (3, 2)
 * permuteKernel.cpu({ a, out, shape: [2, 3], perm: [1, 0] });
 * assert(out[1] === 3 && out[4] === 2); // [0, 3, 1, 4, 2, 5]
 * ```
 */
export const permuteKernel: Kernel<PermuteArgs<Buf>, PermuteArgs<WordArray>> = {
  gpu: permuteForward,
  cpu: permuteForwardCpu,
};
