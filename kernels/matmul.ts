/**
 * Batched matmul C = op(A) op(B) with optional transposes read in place (no copies), per-operand
 * batch strides (0 = one matrix shared by the whole batch, e.g. a weight) and accumulation
 * (C += A B, for gradients). Two kinds of variant; `matmulKernel` picks one per adapter and
 * shape class, from `tuneMatmul`'s measurements.
 *
 * Storage buffers: workgroup-memory tiles (`buffer128`, `buffer64`, `buffer16`), which real GPUs
 * like, and a register tile read straight from storage buffers (`direct`), the cheap choice for
 * small shapes on CPU adapters (one dispatch, sizes in params, so no compile per shape).
 * `buffer128` is the large-shape GPU kernel, after the fastest WebGPU SGEMMs: 128 x 128 tiles of
 * C per workgroup of 256, staged through workgroup memory k-major as `vec4f` (operands whose
 * contiguous side is a multiple of 4 are read as `vec4f` from global memory too), and an 8 x 8
 * register tile per invocation held as 16 `vec4f`, so each step of the inner loop reads 4
 * `vec4f` from workgroup memory for 64 multiply-adds.
 *
 * Textures, for CPU adapters (Mesa llvmpipe), where storage-buffer and workgroup-memory loads
 * compile to a loop over the 8 SIMD lanes but texture loads gather: each operand is put into an
 * `rgba32float` texture (packed by a kernel, or copied, a memcpy on llvmpipe, when its rows
 * already have the texel layout), then every invocation computes a register tile of C from
 * read-only storage-texture loads (2.5x cheaper per load than sampled ones), sizes baked in as
 * constants.
 * @module
 */
import {
  type Buf,
  bufParts,
  checkLoopBudget,
  type FloatArray,
  type KernelContext,
  roundUp,
} from "./context.ts";
import { arrayView, FLAT_TEXTURE_TYPE, type Kernel, program } from "./program.ts";

/** Every variant, in the order `tuneMatmul` tries them (see `MatmulVariant`). */
export const MATMUL_VARIANTS = [
  "buffer128",
  "buffer64",
  "buffer16",
  "direct",
  "texture4x4",
  "texture8x8",
  "texture16x8",
  "texture12x16",
  "texture16x16",
] as const;

/**
 * Variants `matmulKernel` can run (the module doc describes each): workgroup-memory tiles
 * `buffer<size>`, `direct`, and `texture<rows>x<columns>` register tiles on packed textures.
 */
export type MatmulVariant = typeof MATMUL_VARIANTS[number];

/**
 * Arguments of `matmul`: `B` is `Buf` for the launcher, a typed array for the reference.
 *
 * Shapes per batch element z: op(A) is (M, K), op(B) is (K, N), C is (M, N) row-major.
 * A is stored (M, K), or (K, M) when `transA`; B is stored (K, N), or (N, K) when `transB`.
 * Element strides between A's and B's batch elements default to the dense sizes; 0 shares one
 * matrix. C is dense, (batch, M, N).
 */
export interface MatmulArgs<B> {
  /** Left operand, (batch, M, K) or (batch, K, M) when `transA`. */
  a: B;
  /** Right operand, (batch, K, N) or (batch, N, K) when `transB`. */
  b: B;
  /** Output, (batch, M, N); must not alias `a` or `b`. */
  out: B;
  /** Rows of C. */
  m: number;
  /** Columns of C. */
  n: number;
  /** Inner dimension. */
  k: number;
  /** Batch count (default 1). */
  batch?: number;
  /** A is stored (K, M). */
  transA?: boolean;
  /** B is stored (N, K). */
  transB?: boolean;
  /** Elements between A's batch elements (default M * K; 0 = shared). */
  strideA?: number;
  /** Elements between B's batch elements (default K * N; 0 = shared). */
  strideB?: number;
  /** Add into `out` (C += op(A) op(B)) instead of overwriting it. */
  accumulate?: boolean;
  /** Force a variant instead of the tuned or heuristic choice (ignored by the reference). */
  variant?: MatmulVariant;
}

/** `MatmulArgs` with every default filled in (what the variants receive). */
export type MatmulPlan<B = Buf> = Required<Omit<MatmulArgs<B>, "variant">>;

/**
 * Fills in the defaults of `MatmulArgs` and checks the sizes.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { resolveMatmul } from "./matmul.ts";
 * const p = resolveMatmul({ a: 0, b: 0, out: 0, m: 2, n: 3, k: 4, batch: 5, strideB: 0 });
 * assert(p.strideA === 8 && p.strideB === 0 && !p.transA);
 * ```
 * @throws Error on negative or fractional sizes
 */
export function resolveMatmul<B>(args: MatmulArgs<B>): MatmulPlan<B> {
  const { m, n, k } = args, batch = args.batch ?? 1;
  const p: MatmulPlan<B> = {
    a: args.a,
    b: args.b,
    out: args.out,
    m,
    n,
    k,
    batch,
    transA: args.transA ?? false,
    transB: args.transB ?? false,
    strideA: args.strideA ?? m * k,
    strideB: args.strideB ?? k * n,
    accumulate: args.accumulate ?? false,
  };
  for (const key of ["m", "n", "k", "batch", "strideA", "strideB"] as const) {
    if (!Number.isInteger(p[key]) || p[key] < 0) {
      throw new Error(`Cannot matmul with ${key} = ${p[key]}: sizes must be integers >= 0`);
    }
  }
  return p;
}

/**
 * The tuning key of a matmul: sizes bucketed by powers of two, so one measurement serves a class.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { matmulShapeClass } from "./matmul.ts";
 * assert(matmulShapeClass({ m: 1000, n: 512, k: 128, batch: 4 }) === "matmul:4096x128x512");
 * ```
 * @param s sizes (batch multiplies M)
 * @returns a key such as `matmul:4096x128x512` (M x K x N, each rounded up to a power of two)
 */
export function matmulShapeClass(s: { m: number; n: number; k: number; batch?: number }): string {
  const up = (x: number) => 2 ** Math.ceil(Math.log2(Math.max(1, x)));
  return `matmul:${up(s.m * (s.batch ?? 1))}x${up(s.k)}x${up(s.n)}`;
}

/** A register tile: each invocation computes `tm` rows by `tn` columns of C. */
interface TextureTile {
  /** Rows of C per invocation (a multiple of 4). */
  tm: number;
  /** Columns of C per invocation (a multiple of 4). */
  tn: number;
}

// ------------------------------------------------------------ storage-buffer variants

/** Workgroup-tile shapes: BM x BN of C per workgroup, TM x TN per invocation, BK deep. */
const BUFFER_TILES = {
  buffer64: { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 },
  buffer16: { bm: 16, bn: 16, bk: 16, tm: 2, tn: 2 },
} as const;

/** The storage-buffer variant names. */
type BufferVariant = keyof typeof BUFFER_TILES | "buffer128" | "direct";

/** `buffer128`'s tile: 128 x 128 of C per workgroup of 16 x 16, 8 x 8 per invocation, 16 deep. */
const T128 = { bm: 128, bn: 128, bk: 16, tm: 8, tn: 8, wx: 16, wy: 16 } as const;

/** What `buffer128`'s text depends on: transposes, accumulation, `vec4f` loads of A and B. */
type Key128 = { transA: boolean; transB: boolean; accumulate: boolean; va: boolean; vb: boolean };

/**
 * One operand's tile load for `buffer128`: 512 groups of 4 floats per operand tile (BK x 128),
 * two per invocation, each group 4 consecutive elements along the operand's contiguous side.
 * `along` is that side (`k` or the tile side `x`, i.e. m for A and n for B). Groups along x store
 * one `vec4f` of the k-major tile; groups along k scatter their 4 values into 4 rows of it.
 */
function load128(
  name: "a" | "b",
  along: "k" | "x",
  vec: boolean,
  index: (x: string, k: string) => string,
  lim: string,
): string {
  const tile = name === "a" ? "As" : "Bs", x0 = name === "a" ? "bm0" : "bn0";
  const q = T128.bm / 4; // vec4f per tile row
  const pos = along === "x"
    ? `let kk = e / ${q}u; let xx = (e % ${q}u) * 4u;`
    : `let xx = e / 4u; let kk = (e % 4u) * 4u;`;
  // Element (x + dx, k + dk) of the operand, zero outside.
  const at = (dx: string, dk: string) =>
    `select(0.0, ${name}[${index(`${x0} + xx + ${dx}`, `k0 + kk + ${dk}`)}], ` +
    `${x0} + xx + ${dx} < ${lim} && k0 + kk + ${dk} < p.k)`;
  const d = (c: number) => along === "x" ? [`${c}u`, "0u"] : ["0u", `${c}u`];
  let load: string;
  if (vec) {
    // The group is all inside or all outside (the contiguous side is a multiple of 4).
    load = `var v = vec4f(0.0);
      if (${x0} + xx < ${lim} && k0 + kk < p.k) { v = ${name}[(${
      index(`${x0} + xx`, "k0 + kk")
    }) / 4u]; }`;
  } else {
    load = `let v = vec4f(${[0, 1, 2, 3].map((c) => at(d(c)[0], d(c)[1])).join(",\n        ")});`;
  }
  const store = along === "x"
    ? `${tile}[kk * ${q}u + xx / 4u] = v;`
    : [0, 1, 2, 3].map((c) => `${tile}[(kk + ${c}u) * ${q}u + xx / 4u][xx % 4u] = v[${c}];`)
      .join("\n      ");
  return `for (var e = lid; e < ${T128.bk * q}u; e += 256u) {
      ${pos}
      ${load}
      ${store}
    }`;
}

/** `buffer128`'s body (see the module doc). */
function tile128Code(p: Key128): string {
  const ix = indexers({ v: "buffer64", ...p });
  const q = T128.bm / 4;
  // Invocation (tx, ty) owns rows ty*4 + {0..3} and 64 + ty*4 + {0..3}, columns likewise with
  // tx: reading As/Bs at [k][ty] and [k][16 + ty] (neighbouring invocations, neighbouring words).
  const acc: string[] = [], fmas: string[] = [], stores: string[] = [];
  for (let i = 0; i < 8; i++) {
    for (let j = 0; j < 2; j++) acc.push(`c${i}${j}`);
  }
  for (let i = 0; i < 8; i++) {
    const av = `a${i >> 2}.${"xyzw"[i & 3]}`;
    for (let j = 0; j < 2; j++) fmas.push(`c${i}${j} = fma(vec4f(${av}), b${j}, c${i}${j});`);
  }
  for (let i = 0; i < 8; i++) {
    const row = `bm0 + ${(i >> 2) * 64}u + ty * 4u + ${i & 3}u`;
    for (let j = 0; j < 2; j++) {
      for (let c = 0; c < 4; c++) {
        const col = `bn0 + ${j * 64}u + tx * 4u + ${c}u`;
        const ci = `cb + r${i} * p.n + ${col}`;
        const v = `c${i}${j}.${"xyzw"[c]}`;
        stores.push(
          `if (r${i} < p.m && ${col} < p.n) { c[${ci}] = ${
            p.accumulate ? `c[${ci}] + ` : ""
          }${v}; }`,
        );
      }
    }
    stores.unshift(`let r${i} = ${row};`);
  }
  return `let tx = lxy.x;
  let ty = lxy.y;
  let bm0 = wid.y * ${T128.bm}u;
  let bn0 = wid.x * ${T128.bn}u;
  let ab = wid.z * p.sa;
  let bb = wid.z * p.sb;
  let cb = wid.z * p.sc;
  var ${acc.join(" = vec4f(0.0);\n  var ")} = vec4f(0.0);
  for (var k0 = 0u; k0 < p.k; k0 += ${T128.bk}u) {
    ${load128("a", p.transA ? "x" : "k", p.va, (m, k) => ix.a(m, k), "p.m")}
    ${load128("b", p.transB ? "k" : "x", p.vb, (n, k) => ix.b(k, n), "p.n")}
    workgroupBarrier();
    for (var kk = 0u; kk < ${T128.bk}u; kk++) {
      let a0 = As[kk * ${q}u + ty];
      let a1 = As[kk * ${q}u + 16u + ty];
      let b0 = Bs[kk * ${q}u + tx];
      let b1 = Bs[kk * ${q}u + 16u + tx];
      ${fmas.join("\n      ")}
    }
    workgroupBarrier();
  }
  ${stores.join("\n  ")}`;
}

const TILE128 = program({
  label: "matmul.buffer128",
  inputs: { a: "TA", b: "TB" },
  outputs: { c: "f32" },
  uniforms: { m: "u32", n: "u32", k: "u32", sa: "u32", sb: "u32", sc: "u32" },
  workgroup: [T128.wx, T128.wy],
  per: "none",
  head: (k: Key128) =>
    `alias TA = ${k.va ? "vec4f" : "f32"};\nalias TB = ${k.vb ? "vec4f" : "f32"};
var<workgroup> As: array<vec4f, ${(T128.bk * T128.bm) / 4}>;
var<workgroup> Bs: array<vec4f, ${(T128.bk * T128.bn) / 4}>;`,
  body: tile128Code,
});

/**
 * Whether an operand can be read as `vec4f`: its contiguous side, batch stride and binding
 * offset are all multiples of 4 floats.
 */
function vec4Readable(b: Buf, contiguous: number, stride: number): boolean {
  return contiguous % 4 === 0 && stride % 4 === 0 && bufParts(b)[1] % 16 === 0;
}

/** What the buffer kernels' text depends on: the variant, transposes and accumulation. */
type Key = {
  v: keyof typeof BUFFER_TILES | "direct";
  transA: boolean;
  transB: boolean;
  accumulate: boolean;
};

/** Element index expressions of A(m, k) and B(k, n) for the plan's transposes. */
function indexers(
  p: Key,
): { a: (m: string, k: string) => string; b: (k: string, n: string) => string } {
  return {
    a: (m, k) => p.transA ? `ab + (${k}) * p.m + ${m}` : `ab + (${m}) * p.k + ${k}`,
    b: (k, n) => p.transB ? `bb + (${n}) * p.k + ${k}` : `bb + (${k}) * p.n + ${n}`,
  };
}

/** Workgroup-memory tiled kernel; sizes and strides in params, transposes baked in. */
function tiledCode(p: Key): string {
  const { bm, bn, bk, tm, tn } = BUFFER_TILES[p.v as keyof typeof BUFFER_TILES];
  const wx = bn / tn, wy = bm / tm, nt = wx * wy, ix = indexers(p);
  // Load orders follow memory order, so neighbouring invocations read neighbouring elements.
  const aPos = p.transA
    ? `let kk = e / ${bm}u; let mm = e % ${bm}u;`
    : `let mm = e / ${bk}u; let kk = e % ${bk}u;`;
  const bPos = p.transB
    ? `let nn = e / ${bk}u; let kk = e % ${bk}u;`
    : `let kk = e / ${bn}u; let nn = e % ${bn}u;`;
  const store = p.accumulate ? "c[ci] = c[ci] + acc[i][j];" : "c[ci] = acc[i][j];";
  return `  let bm0 = wid.y * ${bm}u;
  let bn0 = wid.x * ${bn}u;
  let ab = wid.z * p.sa;
  let bb = wid.z * p.sb;
  var acc: array<array<f32, ${tn}>, ${tm}>;
  for (var k0 = 0u; k0 < p.k; k0 += ${bk}u) {
    for (var e = lid; e < ${bm * bk}u; e += ${nt}u) {
      ${aPos}
      var v = 0.0;
      if (bm0 + mm < p.m && k0 + kk < p.k) { v = a[${ix.a("bm0 + mm", "k0 + kk")}]; }
      As[kk * ${bm}u + mm] = v;
    }
    for (var e = lid; e < ${bn * bk}u; e += ${nt}u) {
      ${bPos}
      var v = 0.0;
      if (bn0 + nn < p.n && k0 + kk < p.k) { v = b[${ix.b("k0 + kk", "bn0 + nn")}]; }
      Bs[kk * ${bn}u + nn] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${bk}u; kk++) {
      var ar: array<f32, ${tm}>;
      var br: array<f32, ${tn}>;
      for (var i = 0u; i < ${tm}u; i++) { ar[i] = As[kk * ${bm}u + lxy.y + i * ${wy}u]; }
      for (var j = 0u; j < ${tn}u; j++) { br[j] = Bs[kk * ${bn}u + lxy.x + j * ${wx}u]; }
      for (var i = 0u; i < ${tm}u; i++) {
        for (var j = 0u; j < ${tn}u; j++) { acc[i][j] = fma(ar[i], br[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < ${tm}u; i++) {
    let row = bm0 + lxy.y + i * ${wy}u;
    for (var j = 0u; j < ${tn}u; j++) {
      let col = bn0 + lxy.x + j * ${wx}u;
      if (row < p.m && col < p.n) {
        let ci = wid.z * p.sc + row * p.n + col;
        ${store}
      }
    }
  }`;
}

/** Rows and columns of C per invocation in the direct variant. */
const DT = 4;
/** Direct variant workgroup: 8 along x (llvmpipe vectorises along x only), 4 along y. */
const DWX = 8, DWY = 4;

/** Register-tile kernel reading storage buffers directly (no workgroup memory). */
function directCode(p: Key): string {
  const ix = indexers(p), loads: string[] = [], fmas: string[] = [], stores: string[] = [];
  for (let i = 0; i < DT; i++) loads.push(`    let a${i} = a[${ix.a(`r${i}`, "k")}];`);
  for (let j = 0; j < DT; j++) loads.push(`    let b${j} = b[${ix.b("k", `q${j}`)}];`);
  for (let i = 0; i < DT; i++) {
    for (let j = 0; j < DT; j++) {
      fmas.push(`    c${i}${j} = fma(a${i}, b${j}, c${i}${j});`);
      const ci = `cb + (m0 + ${i}u) * p.n + n0 + ${j}u`;
      const v = p.accumulate ? `c[${ci}] + c${i}${j}` : `c${i}${j}`;
      stores.push(`  if (m0 + ${i}u < p.m && n0 + ${j}u < p.n) { c[${ci}] = ${v}; }`);
    }
  }
  const decl = Array.from({ length: DT * DT }, (_, t) => `c${(t / DT) | 0}${t % DT}`);
  // Rows and columns past the edge are clamped for loading (always in bounds), not stored.
  const clamp = (v: string, base: string, lim: string) =>
    Array.from({ length: DT }, (_, t) => `  let ${v}${t} = min(${base} + ${t}u, ${lim} - 1u);`)
      .join("\n");
  return `  let n0 = gid.x * ${DT}u;
  let m0 = gid.y * ${DT}u;
  if (m0 >= p.m || n0 >= p.n) { return; }
  let ab = gid.z * p.sa;
  let bb = gid.z * p.sb;
  let cb = gid.z * p.sc;
${clamp("r", "m0", "p.m")}
${clamp("q", "n0", "p.n")}
  var ${decl.join(" = 0.0;\n  var ")} = 0.0;
  for (var k = 0u; k < p.k; k++) {
${loads.join("\n")}
${fmas.join("\n")}
  }
${stores.join("\n")}`;
}

const BUFFER = program({
  label: (k: Key) => `matmul.${k.v}`,
  inputs: { a: "f32", b: "f32" },
  outputs: { c: "f32" },
  uniforms: { m: "u32", n: "u32", k: "u32", sa: "u32", sb: "u32", sc: "u32" },
  workgroup: (k) => {
    if (k.v === "direct") return [DWX, DWY];
    const { bm, bn, tm, tn } = BUFFER_TILES[k.v];
    return [bn / tn, bm / tm];
  },
  per: "none",
  head: (k) => {
    if (k.v === "direct") return "";
    const { bm, bn, bk } = BUFFER_TILES[k.v];
    return `var<workgroup> As: array<f32, ${bk * bm}>;\nvar<workgroup> Bs: array<f32, ${bk * bn}>;`;
  },
  body: (k) => k.v === "direct" ? directCode(k) : tiledCode(k),
});

function workgroups(p: MatmulPlan<unknown>, v: BufferVariant): [number, number, number] {
  if (v === "direct") {
    return [Math.ceil(p.n / (DT * DWX)), Math.ceil(p.m / (DT * DWY)), p.batch];
  }
  const { bm, bn } = v === "buffer128" ? T128 : BUFFER_TILES[v];
  return [Math.ceil(p.n / bn), Math.ceil(p.m / bm), p.batch];
}

// Runs one matmul with a storage-buffer variant (one dispatch; sizes and strides in params, so
// one pipeline serves every shape with the same transposes and accumulation).
function matmulBuffer(
  ctx: KernelContext,
  p: MatmulPlan<Buf>,
  v: BufferVariant,
): void {
  const { m, n, k, strideA: sa, strideB: sb, transA, transB, accumulate } = p;
  const launch = {
    bind: { a: p.a, b: p.b, c: p.out },
    params: { m, n, k, sa, sb, sc: m * n },
    workgroups: workgroups(p, v),
  };
  if (v !== "buffer128") {
    BUFFER.run(ctx, { key: { v, transA, transB, accumulate }, ...launch });
    return;
  }
  const va = vec4Readable(p.a, transA ? m : k, sa), vb = vec4Readable(p.b, transB ? k : n, sb);
  TILE128.run(ctx, { key: { transA, transB, accumulate, va, vb }, ...launch });
}

// ------------------------------------------------------------ texture variants

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
  const canCopy = !!ctx.copyBufferToTexture && copyable(o, alongK);
  // Packing: E(u, v) = src[z * ls + u * us + v * vs] into texel (x, u, z); along k, u = row r
  // and v = k; along r, u = k and v = r.
  const [uu, vv, us, vs] = alongK ? [o.rows, o.k, o.rs, o.ks] : [o.k, o.rows, o.ks, o.rs];
  const make = (): GPUTexture => {
    const tex = ctx.scratchTexture(w, h, o.layers);
    const copyTo = (tex.usage & GPUTextureUsage.COPY_DST) !== 0;
    if (canCopy && copyTo) {
      const [len, count] = alongK ? [o.k, o.rows] : [o.rows, o.k];
      ctx.copyBufferToTexture!(o.src, { bytesPerRow: len * 4, rowsPerImage: count }, tex, [
        len / 4,
        count,
        o.layers,
      ]);
      return tex;
    }
    const vec = vs === 1 && us % 4 === 0 && vv % 4 === 0 &&
      (o.layers === 1 || o.ls % 4 === 0) && offsetOf(o.src) % 16 === 0;
    PACK.run(ctx, {
      key: { vec },
      bind: { src: o.src, dst: arrayView(tex) },
      params: { uu, vv, us, vs, ls: o.ls, w, h },
      workgroups: [Math.ceil(w / PACK_WG[0]), Math.ceil(h / PACK_WG[1]), o.layers],
    });
    return tex;
  };
  // What the texture holds besides the source buffer's bytes, whatever the operand's role: a
  // copy holds rows of the buffer, so the two products of a backward share their dY copy (its
  // texture may be padded for another tile: rows past M or N are never stored); a pack holds
  // what its parameters and extents select (the decoder's dX and dW pack dlogits alike).
  const at = offsetOf(o.src);
  const key = canCopy
    ? `mm:copy:${at}:${alongK ? o.k : o.rows}:${alongK ? o.rows : o.k}:${o.layers}`
    : `mm:pack:${at}:${uu}:${vv}:${us}:${vs}:${o.ls}:${o.layers}:${w}:${h}`;
  return arrayView(ctx.textureFrom?.(o.src, key, make) ?? make());
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

/** Texel layouts of the two operands. */
interface TextureForm {
  /** A texels along k (texel (k/4, m)) instead of along m (texel (m/4, k)). */
  aK: boolean;
  /** B texels along k (texel (k/4, n)) instead of along n (texel (n/4, k)). */
  bK: boolean;
}

/**
 * Invocations per workgroup along n: one SIMD vector (llvmpipe vectorises along x only). A
 * workgroup covers `WGX * tn` columns of C, and its lanes past N cost as much as the others.
 */
const WGX = 8;

/** What the main texture kernel's text depends on: sizes, tile, texel layouts, C's form. */
type MainKey = {
  m: number;
  n: number;
  k: number;
  batch: number;
  strideA: number;
  strideB: number;
  accumulate: boolean;
  tm: number;
  tn: number;
  aK: boolean;
  bK: boolean;
  /** C may be written as vec4 rows (n and the C stride multiples of 4, 16-byte aligned). */
  vec: boolean;
  /** The product computed is C^T: element (m, n) goes to out[n * M + m] (batch 1). */
  transC: boolean;
};

const MAIN = program({
  label: (k: MainKey) => `matmul.texture${k.tm}x${k.tn}`,
  inputs: { ta: FLAT_TEXTURE_TYPE, tb: FLAT_TEXTURE_TYPE },
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
  const loads: string[] = [], fma: string[] = [], decl: string[] = [], store: string[] = [];
  // One operand's texels per step of 4 k (`o`: a or b, texture t<o> in layer l<o>; `t` its tile
  // and `r` its row variable, m or n): along k, one per row; else t / 4 per k.
  const texels = (o: string, alongK: boolean, t: number, r: string): void => {
    const at = (x: string, y: string) => `textureLoad(t${o}, vec2u(${x}, ${y}), l${o})`;
    if (alongK) {
      for (let i = 0; i < t; i++) loads.push(`    let ${o}${i} = ${at("k4", `${r}0 + ${i}u`)};`);
    } else {
      for (let c = 0; c < 4; c++) {
        for (let s = 0; s < t / 4; s++) {
          loads.push(`    let ${o}${c}_${s} = ${at(`${r}4 + ${s}u`, `k + ${c}u`)};`);
        }
      }
    }
  };
  texels("a", aK, tm, "m");
  texels("b", bK, tn, "n");
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
        const j = 4 * q + e, v = acc(i, j);
        const idx = p.transC ? `tbase + ${j * p.m + i}u` : `base + ${i * p.n + j}u`;
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
  let base = gid.z * ${p.m * p.n}u + m0 * N + n0;
  let base4 = base / 4u;
  let tbase = n0 * M + m0;
${store.join("\n")}`;
}

/**
 * Main-kernel GFLOP per CPU-second of each form (`aK` then `bK`, T/F), 16x16 tiles on llvmpipe,
 * averaged over 512^3, 1024^3 and the transformer shapes. Texels along m (or n) put the rows of
 * the texture M (or N) * 4 bytes apart: from 8 KB on, every load touches a new page (-25%).
 */
const FORM_RATE = { FF: 32, TF: 31, FT: 24, TT: 24 };
const WIDE_ROWS = 2048;

/** Whether an operand's texture in a layout is within the 2D size limit `max`. */
function layoutFits(
  o: { rows: number; k: number; tile: number },
  alongK: boolean,
  max: number,
): boolean {
  const [w, h] = extents(o, alongK);
  return w <= max && h <= max;
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
 */
export function textureForm(
  ctx: KernelContext,
  p: MatmulPlan<unknown>,
  tile: TextureTile,
): TextureForm {
  const [a, b] = operands(p as MatmulPlan<Buf>, tile), canCopy = !!ctx.copyBufferToTexture;
  const flops = 2 * p.batch * p.m * p.n * p.k, max = ctx.device.limits.maxTextureDimension2D;
  let best: TextureForm = { aK: false, bK: false }, bestCost = Infinity;
  for (const aK of [false, true]) {
    for (const bK of [false, true]) {
      if (!layoutFits(a, aK, max) || !layoutFits(b, bK, max)) continue;
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
 * `p` must satisfy `matmulVariantFits`. The main shader is compiled once per plan, tile and form
 * (sizes are constants), which suits training, where shapes repeat every step.
 *
 * @example
 * ```ts ignore
 * matmulTexture(ctx, plan, { tm: 16, tn: 16 });
 * ```
 * @param ctx kernel context (with `copyBufferToTexture`, operands may be copied)
 * @param form operand layouts (default: `textureForm`'s choice)
 * @param transC `p` is the transposed product (`transposedPlan`): write its C^T into `p.out`
 */
export function matmulTexture(
  ctx: KernelContext,
  p: MatmulPlan<Buf>,
  tile: TextureTile,
  form: TextureForm = textureForm(ctx, p, tile),
  transC = false,
): void {
  if (transC && p.batch !== 1) throw new Error("A transposed matmul output needs batch 1");
  const [a, b] = operands(p, tile);
  const ta = fill(ctx, a, form.aK), tb = fill(ctx, b, form.bK);
  const { m, n, k, batch, strideA, strideB, accumulate } = p;
  const vec = !transC && n % 4 === 0 && offsetOf(p.out) % 16 === 0;
  MAIN.run(ctx, {
    key: { m, n, k, batch, strideA, strideB, accumulate, ...tile, ...form, vec, transC },
    bind: { ta, tb, c: p.out },
    workgroups: [Math.ceil(n / tile.tn / WGX), Math.ceil(m / tile.tm), batch],
  });
}

// ------------------------------------------------------------ choosing and running a variant

// The storage-buffer variants, and the register tile of a `texture<tm>x<tn>` variant.
const isBuffer = (v: MatmulVariant): v is BufferVariant => !v.startsWith("texture");
const TILES = new Map<MatmulVariant, TextureTile>(
  MATMUL_VARIANTS.filter((v) => !isBuffer(v)).map((v) => {
    const [tm, tn] = v.slice("texture".length).split("x").map(Number);
    return [v, Object.freeze({ tm, tn })]; // shared by every launch: never modified
  }),
);
const tileOf = (v: MatmulVariant): TextureTile => TILES.get(v)!;
// The texture variants, largest tile first (`matmulHeuristic` keeps the first of equal costs).
const TEXTURE_VARIANTS = [...TILES.keys()].reverse();

/**
 * Whether a variant can run a plan on this device.
 *
 * @example
 * ```ts ignore
 * const ok = matmulVariantFits(ctx, resolveMatmul(args), "texture16x16");
 * ```
 * @returns false when the texture variant's textures would exceed the device limits
 */
export function matmulVariantFits(
  ctx: KernelContext,
  p: MatmulPlan<unknown>,
  v: MatmulVariant,
): boolean {
  // Storage-buffer variants: the workgroup-count limit; texture variants: the texture size limits.
  if (isBuffer(v)) return workgroups(p, v).every((d) => d <= ctx.maxWorkgroups);
  const { tm, tn } = tileOf(v), limits = ctx.device.limits, max = limits.maxTextureDimension2D;
  const sizes = [{ rows: p.m, k: p.k, tile: tm }, { rows: p.n, k: p.k, tile: tn }];
  const ok = sizes.every((o) => layoutFits(o, true, max) || layoutFits(o, false, max));
  const layers = limits.maxTextureArrayLayers;
  return p.k > 0 && ok && p.batch <= layers && p.batch <= ctx.maxWorkgroups;
}

/**
 * GFLOP per CPU-second of the texture kernels' main loop by tile (bench/NOTES.md). The 12x16 tile
 * (fewer accumulators to spill) beats 16x16 by 8-10% on long sums (K = 1216: weight gradients)
 * and loses 4-5% on short ones (K = 128..384). 16x8 (64 columns per workgroup, like 8x8) beats
 * 8x8 by 5-10% on N = 64 outputs.
 */
function tileRate(v: MatmulVariant, k: number): number {
  if (v === "texture12x16") return k >= 1024 ? 33 : 28.5;
  return v === "texture16x16" ? 30 : v === "texture16x8" ? 23 : v === "texture8x8" ? 21 : 15;
}

/**
 * The variant `matmulKernel` runs when nothing was tuned for a shape class. CPU adapters (the
 * texture family): packed textures once the work pays for the two extra dispatches and a compile
 * per shape (about 2^18 multiply-adds), else `direct`. GPUs: workgroup tiles, the largest that
 * still gives the device about 128 workgroups.
 *
 * @example
 * ```ts ignore
 * const v = matmulHeuristic(ctx, resolveMatmul({ a: 0, b: 0, out: 0, m: 1024, n: 1024, k: 1024 }));
 * ```
 */
export function matmulHeuristic(ctx: KernelContext, p: MatmulPlan<unknown>): MatmulVariant {
  const macs = p.batch * p.m * p.n * p.k;
  if (textureFamily(ctx)) return macs >= 1 << 18 ? textureChoice(ctx, p)?.v ?? "direct" : "direct";
  const cells = p.m * p.n * p.batch;
  return cells >= 128 * 128 * 128 ? "buffer128" : cells >= 64 * 64 * 32 ? "buffer64" : "buffer16";
}

// Whether the texture variants are the family here: measured on first use
// (`probeMatmulFamily`), else a guess from the adapter kind.
function textureFamily(ctx: KernelContext): boolean {
  return (ctx.tuning.get("matmul.family") ?? (ctx.isCpuAdapter ? "texture" : "buffer")) ===
    "texture";
}

// The texture tile with the least estimated time (padded work over the tile's measured rate,
// bench/NOTES.md) among those leaving at least 4 workgroups per CPU thread (texture4x4 always
// qualifies), and that time; null when none fits. A workgroup spans WGX tiles along n, and its
// lanes past N cost like the others: N = 64 pads to 128 columns with 16x16 tiles but to none
// with 8x8.
function textureChoice(
  ctx: KernelContext,
  p: MatmulPlan<unknown>,
): { v: MatmulVariant; cost: number } | null {
  let best: { v: MatmulVariant; cost: number } | null = null;
  // The CPU threads an adapter such as llvmpipe spreads workgroups over (the machine's cores).
  const threads = navigator.hardwareConcurrency || 4;
  for (const v of TEXTURE_VARIANTS) {
    const { tm, tn } = tileOf(v), wide = WGX * tn;
    const groups = Math.ceil(p.m / tm) * Math.ceil(p.n / wide) * p.batch;
    const cost = groups * tm * wide / tileRate(v, p.k);
    const busy = groups >= 4 * threads || v === "texture4x4";
    if (busy && cost < (best?.cost ?? Infinity) && matmulVariantFits(ctx, p, v)) best = { v, cost };
  }
  return best;
}

/**
 * The plan of C^T = op(B)^T op(A)^T (batch 1): M and N, the operands and their transposes
 * swapped. Texture kernels run it when C has few columns (N = 19: a decoder's logits), which
 * would idle most of a workgroup's lanes, and write C^T back transposed (`matmulTexture`).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { resolveMatmul, transposedPlan } from "./matmul.ts";
 * const t = transposedPlan(resolveMatmul({ a: 0, b: 1, out: 2, m: 1216, n: 19, k: 128, transB: true }));
 * assert(t.m === 19 && t.n === 1216 && t.a === 1 && !t.transA && t.transB);
 * ```
 */
export function transposedPlan<B>(p: MatmulPlan<B>): MatmulPlan<B> {
  if (p.batch !== 1) throw new Error("Only a batch-1 matmul runs transposed");
  return {
    ...p,
    a: p.b,
    b: p.a,
    m: p.n,
    n: p.m,
    transA: !p.transB,
    transB: !p.transA,
    strideA: p.strideB,
    strideB: p.strideA,
  };
}

// Whether the heuristic runs a plan as its transposed product: texture family, batch 1, and at
// most 2/3 of the estimated time.
function runsTransposed(ctx: KernelContext, p: MatmulPlan<unknown>): boolean {
  if (p.batch !== 1 || !textureFamily(ctx) || p.m * p.n * p.k < 1 << 18) return false;
  const as = textureChoice(ctx, p), t = textureChoice(ctx, transposedPlan(p));
  return !!as && !!t && t.cost * 1.5 <= as.cost;
}

/**
 * Batched matrix product `out = op(a) op(b)` (batch, M, N), with optional transposes, strides and
 * accumulation; `gpu` returns the variant that ran (or null).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { matmulKernel } from "./matmul.ts";
 * const out = new Float32Array(1), a = new Float32Array([1, 2]), b = new Float32Array([3, 4]);
 * matmulKernel.cpu({ a, b, out, m: 1, n: 1, k: 2 }); // (1, 2) @ (2, 1)
 * assert(out[0] === 11);
 * ```
 */
export const matmulKernel: Kernel<MatmulArgs<Buf>, MatmulArgs<FloatArray>, MatmulVariant | null> = {
  // The variant is `args.variant` when given, else the winner `tuneMatmul` stored for the shape
  // class in `ctx.tuning`, else `matmulHeuristic`'s.
  gpu(ctx, args) {
    const p = resolveMatmul(args);
    if (p.m === 0 || p.n === 0 || p.batch === 0) return null;
    let v = args.variant ?? ctx.tuning.get(matmulShapeClass(p)) as MatmulVariant | undefined;
    if (!v || !matmulVariantFits(ctx, p, v)) {
      // No family measured yet: ask for the measurement (`core/device.ts`) and guess meanwhile.
      if (!ctx.tuning.has("matmul.family")) ctx.requestTuning?.("matmul.family");
      if (runsTransposed(ctx, p)) {
        const t = transposedPlan(p), tv = matmulHeuristic(ctx, t);
        checkLoopBudget(ctx, Math.ceil(t.k / 4), `A matmul over K = ${t.k} (lower the microbatch)`);
        matmulTexture(ctx, t, tileOf(tv), undefined, true);
        return tv;
      }
      v = matmulHeuristic(ctx, p);
    }
    // Each invocation walks K (by 1 in `direct`, 16 in the tiled buffers, 4 in the textures).
    const steps = Math.ceil(p.k / (v === "direct" ? 1 : isBuffer(v) ? 16 : 4));
    checkLoopBudget(ctx, steps, `A matmul over K = ${p.k} (lower the microbatch if K counts rows)`);
    if (isBuffer(v)) matmulBuffer(ctx, p, v);
    else matmulTexture(ctx, p, tileOf(v));
    return v;
  },
  // Reference: C[z, m, n] = sum_k op(A)[z, m, k] * op(B)[z, k, n].
  cpu(args) {
    const p = resolveMatmul(args);
    const { m: M, n: N, k: K } = p;
    const row = new Float64Array(N);
    for (let z = 0; z < p.batch; z++) {
      const ao = z * p.strideA, bo = z * p.strideB, co = z * M * N;
      // A(m, k) = a[ao + m * am + k * ak]; B(k, n) = b[bo + k * bk + n * bn]
      const am = p.transA ? 1 : K, ak = p.transA ? M : 1;
      const bk = p.transB ? 1 : N, bn = p.transB ? K : 1;
      for (let m = 0; m < M; m++) {
        row.fill(0);
        for (let k = 0; k < K; k++) {
          const av = p.a[ao + m * am + k * ak];
          const base = bo + k * bk;
          for (let n = 0; n < N; n++) row[n] += av * p.b[base + n * bn];
        }
        const c = co + m * N;
        for (let n = 0; n < N; n++) p.out[c + n] = p.accumulate ? p.out[c + n] + row[n] : row[n];
      }
    }
  },
};
