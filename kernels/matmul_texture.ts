/**
 * The matmul variant for CPU adapters (Mesa llvmpipe), where storage-buffer and workgroup-memory
 * loads compile to a loop over the 8 SIMD lanes but texture loads gather. Each operand is put
 * into an `rgba32float` texture (packed by a kernel, or copied, a memcpy on llvmpipe, when its
 * rows already have the texel layout), then every invocation computes a register tile of C from
 * read-only storage-texture loads (2.5x cheaper per load than sampled ones), sizes baked in as
 * constants.
 * @module
 */
import { arrayView } from "./_flat_texture.ts";
import { type Buf, type KernelContext, roundUp } from "./context.ts";
import { program } from "./program.ts";
import type { MatmulPlan, TextureTile } from "./matmul_plan.ts";

const COPY_DST = 0x02;

// Packs E(u, v), at src[z * ls + u * us + v * vs], into texels (x, u, z) = E(u, 4x .. 4x+3),
// zero where u >= U or v >= V (zeros past K keep the sums exact; past M or N they are harmless).
const PACK_WG = [16, 4] as const;

const PACK = program({
  label: "matmul.pack",
  inputs: { src: "S" },
  outputs: { dst: "texture_storage_2d_array<rgba32float, write>" },
  uniforms: { uu: "u32", vv: "u32", us: "u32", vs: "u32", ls: "u32", w: "u32", h: "u32" },
  workgroup: PACK_WG,
  per: "none",
  head: (k: { vec: boolean }) => `alias S = ${k.vec ? "vec4f" : "f32"};`,
  // Rows contiguous along v, 16-byte aligned, V a multiple of 4: one vec4 load per texel.
  body: (k) =>
    k.vec
      ? `if (gid.x >= p.w || gid.y >= p.h) { return; }
  let i = (gid.z * p.ls + min(gid.y, p.uu - 1u) * p.us) / 4u + min(gid.x, p.vv / 4u - 1u);
  let keep = gid.y < p.uu && gid.x < p.vv / 4u;
  textureStore(dst, vec2u(gid.x, gid.y), gid.z, select(vec4f(0.0), src[i], keep));`
      : `if (gid.x >= p.w || gid.y >= p.h) { return; }
  let v = gid.x * 4u + vec4u(0u, 1u, 2u, 3u);
  let i = gid.z * p.ls + min(gid.y, p.uu - 1u) * p.us + min(v, vec4u(p.vv - 1u)) * p.vs;
  let x = vec4f(src[i.x], src[i.y], src[i.z], src[i.w]);
  let keep = (v < vec4u(p.vv)) & vec4<bool>(gid.y < p.uu);
  textureStore(dst, vec2u(gid.x, gid.y), gid.z, select(vec4f(0.0), x, keep));`,
});

// Byte offset of a binding (0 for a whole buffer; plans of sizes only hold no buffers).
const offsetOf = (b: unknown): number =>
  typeof b === "object" && b !== null && "buffer" in b ? (b as GPUBufferBinding).offset ?? 0 : 0;

/** One operand's texture: texels along `alongK` or along its rows (m or n). */
interface Operand {
  src: Buf;
  /** Rows (M or N), padded to the tile in the texture. */
  rows: number;
  k: number;
  /** Element strides: between rows, between k, between layers. */
  rs: number;
  ks: number;
  ls: number;
  layers: number;
  tile: number;
}

// Texture extents [width, height] of an operand in a layout (rows padded to the tile, k to 4);
// `alongK`: texels along k, else along the rows.
function extents(
  o: { rows: number; k: number; tile: number },
  alongK: boolean,
): [number, number] {
  const r = roundUp(o.rows, o.tile), k = roundUp(o.k, 4);
  return alongK ? [k / 4, r] : [r / 4, k];
}

// Whether an operand's storage already is the texel layout, so a copy can fill the texture.
function copyable(o: Operand, alongK: boolean): boolean {
  // Texel rows: along k, each row r holds K contiguous k; along r, each k holds R contiguous r.
  const [len, count, contiguous] = alongK ? [o.k, o.rows, o.ks] : [o.rows, o.k, o.rs];
  const pitch = alongK ? o.rs : o.ks;
  return contiguous === 1 && pitch === len && (len * 4) % 256 === 0 &&
    (alongK || o.k % 4 === 0) && // rows k past K would not be zero
    (o.layers === 1 || o.ls === len * count) && offsetOf(o.src) % 16 === 0;
}

// Estimated CPU nanoseconds to fill an operand's texture (measured on llvmpipe).
function fillCost(o: Operand, alongK: boolean, canCopy: boolean): number {
  const n = o.rows * o.k * o.layers;
  if (canCopy && copyable(o, alongK)) return 0.5 * n;
  return (alongK ? o.ks : o.rs) === 1 ? 4 * n : 5.5 * n;
}

// Fills an operand's scratch texture (a copy when the context can and the rows already have the
// texel layout, else a pack dispatch) and returns its view.
function fill(ctx: KernelContext, o: Operand, alongK: boolean): GPUTextureView {
  const [w, h] = extents(o, alongK);
  const tex = ctx.scratchTexture(w, h, o.layers);
  const view = arrayView(tex);
  if (ctx.copyBufferToTexture && (tex.usage & COPY_DST) !== 0 && copyable(o, alongK)) {
    const [len, count] = alongK ? [o.k, o.rows] : [o.rows, o.k];
    ctx.copyBufferToTexture(o.src, { bytesPerRow: len * 4, rowsPerImage: count }, tex, [
      len / 4,
      count,
      o.layers,
    ]);
    return view;
  }
  // E(u, v): along k, u = row r and v = k; along r, u = k and v = r.
  const [uu, vv, us, vs] = alongK ? [o.rows, o.k, o.rs, o.ks] : [o.k, o.rows, o.ks, o.rs];
  const vec = vs === 1 && us % 4 === 0 && vv % 4 === 0 &&
    (o.layers === 1 || o.ls % 4 === 0) && offsetOf(o.src) % 16 === 0;
  PACK.run(ctx, {
    key: { vec },
    bind: { src: o.src, dst: view },
    params: { uu, vv, us, vs, ls: o.ls, w, h },
    workgroups: [Math.ceil(w / PACK_WG[0]), Math.ceil(h / PACK_WG[1]), o.layers],
  });
  return view;
}

// The A (rows m) and B (rows n) operands of a plan, as texture fills see them.
function operands(p: MatmulPlan<Buf>, tile: TextureTile): [Operand, Operand] {
  return [
    // A(m, k): stored (M, K) at m * K + k, or (K, M) at k * M + m when transposed.
    {
      src: p.a,
      rows: p.m,
      k: p.k,
      rs: p.transA ? 1 : p.k,
      ks: p.transA ? p.m : 1,
      ls: p.strideA,
      layers: p.strideA === 0 ? 1 : p.batch,
      tile: tile.tm,
    },
    // B(k, n): stored (K, N) at k * N + n, or (N, K) at n * K + k when transposed.
    {
      src: p.b,
      rows: p.n,
      k: p.k,
      rs: p.transB ? p.k : 1,
      ks: p.transB ? 1 : p.n,
      ls: p.strideB,
      layers: p.strideB === 0 ? 1 : p.batch,
      tile: tile.tn,
    },
  ];
}

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
  const [a, b] = operands(p as MatmulPlan<Buf>, tile), canCopy = !!ctx.copyBufferToTexture;
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
 * @param ctx kernel context (with `copyBufferToTexture`, operands may be copied)
 * @param p the resolved matmul (see `resolveMatmul` in `matmul.ts`)
 * @param form operand layouts (default: `textureForm`'s choice)
 */
export function matmulTexture(
  ctx: KernelContext,
  p: MatmulPlan<Buf>,
  tile: TextureTile,
  form: TextureForm = textureForm(ctx, p, tile),
): void {
  const [a, b] = operands(p, tile);
  const ta = fill(ctx, a, form.aK), tb = fill(ctx, b, form.bK);
  const { m, n, k, batch, strideA, strideB, strideC, accumulate } = p;
  const vec = n % 4 === 0 && strideC % 4 === 0 && offsetOf(p.out) % 16 === 0;
  MAIN.run(ctx, {
    key: { m, n, k, batch, strideA, strideB, strideC, accumulate, ...tile, ...form, vec },
    bind: { ta, tb, c: p.out },
    workgroups: [Math.ceil(n / tile.tn / WGX), Math.ceil(m / tile.tm), batch],
  });
}
