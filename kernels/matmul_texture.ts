/**
 * The matmul variant for CPU adapters (Mesa llvmpipe), where storage-buffer and workgroup-memory
 * loads compile to a loop over the 8 SIMD lanes but texture loads gather. Each operand is put
 * into an `rgba32float` texture (packed by a kernel, or copied when its rows already have the
 * texel layout), then every invocation computes a register tile of C from read-only
 * storage-texture loads (2.5x cheaper per load than sampled ones), sizes baked in as constants.
 * @module
 */
import { type Buf, type KernelContext, roundUp } from "./context.ts";
import { program } from "./program.ts";
import { copierOf, extents, fill, fillCost, offsetOf, operands } from "./_matmul_fill.ts";
import type { MatmulPlan, TextureTile } from "./matmul_plan.ts";

/**
 * Texel layouts of the two operands: `aK` = A's texels hold 4 consecutive k of one row m (else 4
 * consecutive m of one k), `bK` = B's texels hold 4 consecutive k of one column n (else 4 n).
 */
export interface TextureForm {
  /** A texels along k (texel (k/4, m)) instead of along m (texel (m/4, k)). */
  aK: boolean;
  /** B texels along k (texel (k/4, n)) instead of along n (texel (n/4, k)). */
  bK: boolean;
}

/**
 * Invocations per workgroup along n: one SIMD vector (llvmpipe vectorises along x only). A
 * workgroup covers `TEXTURE_WGX * tn` columns of C, and its lanes past N cost as much as the others.
 */
export const TEXTURE_WGX = 8;
const WGX = TEXTURE_WGX;

/** What the main texture kernel's text depends on: sizes, tile, texel layouts, C's form. */
type MainKey = {
  m: number;
  n: number;
  k: number;
  batch: number;
  strideA: number;
  strideB: number;
  strideC: number;
  accumulate: boolean;
  tm: number;
  tn: number;
  aK: boolean;
  bK: boolean;
  /** C may be written as vec4 rows (n and the C stride multiples of 4, 16-byte aligned). */
  vec: boolean;
};

const TEX = "texture_storage_2d_array<rgba32float, read>";

const MAIN = program({
  label: (k: MainKey) => `matmul.texture${k.tm}x${k.tn}`,
  inputs: { ta: TEX, tb: TEX },
  outputs: { c: "C" },
  workgroup: [WGX, 1],
  per: "none",
  head: (k) =>
    `alias C = ${k.vec && !(!k.aK && k.bK) ? "vec4f" : "f32"};
const M = ${k.m}u;
const N = ${k.n}u;
const K = ${roundUp(k.k, 4)}u;`,
  body: mainCode,
});

/**
 * Main kernel: per step of 4 k, loads tm/4 or tm texels of A and tn/4 or tn of B, and adds their
 * products into tm x tn accumulators (vec4s along n, or along m when only B is along k).
 */
function mainCode(p: MainKey): string {
  const { tm, tn } = p, X = "xyzw", { aK, bK } = p;
  const load = (tex: string, x: string, y: string, layer: string) =>
    `textureLoad(${tex}, vec2u(${x}, ${y}), ${layer})`;
  const loads: string[] = [], fma: string[] = [], decl: string[] = [], store: string[] = [];
  if (aK) {
    for (let i = 0; i < tm; i++) {
      loads.push(`    let a${i} = ${load("ta", "k4", `m0 + ${i}u`, "la")};`);
    }
  } else {
    for (let c = 0; c < 4; c++) {
      for (let s = 0; s < tm / 4; s++) {
        loads.push(`    let a${c}_${s} = ${load("ta", `m4 + ${s}u`, `k + ${c}u`, "la")};`);
      }
    }
  }
  if (bK) {
    for (let j = 0; j < tn; j++) {
      loads.push(`    let b${j} = ${load("tb", "k4", `n0 + ${j}u`, "lb")};`);
    }
  } else {
    for (let c = 0; c < 4; c++) {
      for (let q = 0; q < tn / 4; q++) {
        loads.push(`    let b${c}_${q} = ${load("tb", `n4 + ${q}u`, `k + ${c}u`, "lb")};`);
      }
    }
  }
  // A(i, c) and B(c, j): the scalar for row m0+i / column n0+j at k + c.
  const A = (i: number, c: number) => (aK ? `a${i}.${X[c]}` : `a${c}_${i >> 2}.${X[i & 3]}`);
  const overM = !aK && bK; // accumulators along m: acc (s, j) = C(m0+4s.., n0+j)
  const acc = (i: number, j: number) =>
    overM ? `c${i >> 2}_${j}.${X[i & 3]}` : `c${i}_${j >> 2}.${X[j & 3]}`;
  if (overM) {
    for (let s = 0; s < tm / 4; s++) {
      for (let j = 0; j < tn; j++) {
        decl.push(`  var c${s}_${j} = vec4f(0.0);`);
        const terms = [0, 1, 2, 3].map((c) => `a${c}_${s} * b${j}.${X[c]}`);
        fma.push(`    c${s}_${j} += ${terms.join(" + ")};`);
      }
    }
  } else {
    for (let i = 0; i < tm; i++) {
      for (let q = 0; q < tn / 4; q++) {
        decl.push(`  var c${i}_${q} = vec4f(0.0);`);
        const terms = bK
          ? [`vec4f(${[0, 1, 2, 3].map((e) => `dot(a${i}, b${4 * q + e})`).join(", ")})`]
          : [0, 1, 2, 3].map((c) => `${A(i, c)} * b${c}_${q}`);
        fma.push(`    c${i}_${q} += ${terms.join(" + ")};`);
      }
    }
  }
  // C as vec4 rows when every row starts 16-byte aligned (and accumulators run along n).
  const vec = !overM && p.vec;
  const exact = p.m % tm === 0 && p.n % tn === 0;
  for (let i = 0; i < tm; i++) {
    const row = `m0 + ${i}u < M`;
    for (let q = 0; q < tn / 4; q++) {
      if (vec) {
        const idx = `base4 + ${(i * p.n) / 4 + q}u`, v = `c${i}_${q}`;
        const st = `c[${idx}] = ${p.accumulate ? `c[${idx}] + ${v}` : v};`;
        store.push(exact ? `  ${st}` : `  if (${row} && n0 + ${4 * q}u < N) { ${st} }`);
        continue;
      }
      for (let e = 0; e < 4; e++) {
        const j = 4 * q + e, idx = `base + ${i * p.n + j}u`, v = acc(i, j);
        const st = `c[${idx}] = ${p.accumulate ? `c[${idx}] + ${v}` : v};`;
        store.push(exact ? `  ${st}` : `  if (${row} && n0 + ${j}u < N) { ${st} }`);
      }
    }
  }
  const layer = (stride: number) => (p.batch === 1 || stride === 0 ? "0u" : "gid.z");
  return `  let n0 = gid.x * ${tn}u;
  let m0 = gid.y * ${tm}u;
  if (m0 >= M || n0 >= N) { return; }
  let n4 = n0 / 4u;
  let m4 = m0 / 4u;
  let la = ${layer(p.strideA)};
  let lb = ${layer(p.strideB)};
${decl.join("\n")}
  for (var k = 0u; k < K; k += 4u) {
    let k4 = k / 4u;
${loads.join("\n")}
${fma.join("\n")}
  }
  let base = gid.z * ${p.strideC}u + m0 * N + n0;
  let base4 = base / 4u;
${store.join("\n")}`;
}

/**
 * Main-kernel GFLOP per CPU-second of each form (`aK` then `bK`, T/F), 16x16 tiles on llvmpipe,
 * averaged over 512^3, 1024^3 and the transformer shapes. Texels along m (or n) put the rows of
 * the texture M (or N) * 4 bytes apart: from 8 KB on, every load touches a new page (-25%).
 */
const FORM_RATE = { FF: 32, TF: 31, FT: 24, TT: 24 };
const WIDE_ROWS = 2048;

/**
 * Whether the texture variant can run a plan with a tile on this device (texture size limits).
 *
 * @example
 * ```ts ignore
 * if (textureFits(ctx, plan, { tm: 16, tn: 16 })) matmulTexture(ctx, plan, { tm: 16, tn: 16 });
 * ```
 * @returns true when each operand's texture fits the device's limits in at least one layout
 */
export function textureFits(ctx: KernelContext, p: MatmulPlan<unknown>, t: TextureTile): boolean {
  const sizes = [{ rows: p.m, k: p.k, tile: t.tm }, { rows: p.n, k: p.k, tile: t.tn }];
  const ok = sizes.every((o) => layoutFits(ctx, o, true) || layoutFits(ctx, o, false));
  return p.k > 0 && ok && p.batch <= ctx.device.limits.maxTextureArrayLayers;
}

/** Whether an operand's texture in a layout is within the 2D size limit. */
function layoutFits(
  ctx: KernelContext,
  o: { rows: number; k: number; tile: number },
  alongK: boolean,
): boolean {
  return extents(o, alongK).every((d) => d <= ctx.device.limits.maxTextureDimension2D);
}

/**
 * Chooses the operand layouts of the texture variant by estimated CPU time: the main kernel's
 * rate in each form (fastest with texels along m and n, unless M or N is large) plus the cost of
 * filling each texture (a copy when the rows already have the layout, a vec4 or scalar pack).
 *
 * @example
 * ```ts ignore
 * const form = textureForm(ctx, plan, { tm: 16, tn: 16 });
 * ```
 * @param ctx kernel context (whether it can copy buffers into textures)
 */
export function textureForm(
  ctx: KernelContext,
  p: MatmulPlan<unknown>,
  tile: TextureTile,
): TextureForm {
  const [a, b] = operands(p as MatmulPlan<Buf>, tile), canCopy = copierOf(ctx) !== null;
  const flops = 2 * p.batch * p.m * p.n * p.k;
  let best: TextureForm = { aK: false, bK: false }, bestCost = Infinity;
  for (const aK of [false, true]) {
    for (const bK of [false, true]) {
      if (!layoutFits(ctx, a, aK) || !layoutFits(ctx, b, bK)) continue;
      let rate = FORM_RATE[`${aK ? "T" : "F"}${bK ? "T" : "F"}`];
      if (!aK && p.m >= WIDE_ROWS) rate *= 0.75;
      if (!bK && p.n >= WIDE_ROWS) rate *= 0.75;
      const cost = flops / rate + fillCost(a, aK, canCopy) + fillCost(b, bK, canCopy);
      if (cost < bestCost) [best, bestCost] = [{ aK, bK }, cost];
    }
  }
  return best;
}

/**
 * Runs one matmul with the texture variant: fill two textures (copies or pack dispatches), then
 * the main dispatch.
 *
 * `p` must satisfy `textureFits`. The main shader is compiled once per plan, tile and form (sizes
 * are constants), which suits training, where shapes repeat every step.
 *
 * @example
 * ```ts ignore
 * matmulTexture(ctx, plan, { tm: 16, tn: 16 });
 * ```
 * @param ctx kernel context (a `TextureCopier` too, optionally)
 * @param p the resolved matmul (see `resolveMatmul` in `matmul.ts`)
 * @param form operand layouts (default: `textureForm`'s choice)
 */
export function matmulTexture(
  ctx: KernelContext,
  p: MatmulPlan<Buf>,
  tile: TextureTile,
  form: TextureForm = textureForm(ctx, p, tile),
): void {
  const [a, b] = operands(p, tile), copier = copierOf(ctx);
  const ta = fill(ctx, a, form.aK, copier), tb = fill(ctx, b, form.bK, copier);
  const { m, n, k, batch, strideA, strideB, strideC, accumulate } = p;
  const vec = n % 4 === 0 && strideC % 4 === 0 && offsetOf(p.out) % 16 === 0;
  MAIN.run(ctx, {
    key: { m, n, k, batch, strideA, strideB, strideC, accumulate, ...tile, ...form, vec },
    bind: { ta, tb, c: p.out },
    workgroups: [Math.ceil(n / tile.tn / WGX), Math.ceil(m / tile.tm), batch],
  });
}
