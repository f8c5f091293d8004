/**
 * The storage-buffer matmul variants: workgroup-memory tiles (`buffer128`, `buffer64`,
 * `buffer16`), which real GPUs like, and a register tile read straight from storage buffers
 * (`direct`), the cheap choice for small shapes on CPU adapters (one dispatch, sizes in params,
 * so no compile per shape). `buffer128` is the large-shape GPU kernel, after the fastest WebGPU
 * SGEMMs: 128 x 128 tiles of C per workgroup of 256, staged through workgroup memory k-major as
 * `vec4f` (operands whose contiguous side is a multiple of 4 are read as `vec4f` from global
 * memory too), and an 8 x 8 register tile per invocation held as 16 `vec4f`, so each step of the
 * inner loop reads 4 `vec4f` from workgroup memory for 64 multiply-adds.
 * @module
 */
import { type Buf, bufParts, type KernelContext } from "./context.ts";
import { program } from "./program.ts";
import type { MatmulPlan } from "./matmul_plan.ts";

/** Workgroup-tile shapes: BM x BN of C per workgroup, TM x TN per invocation, BK deep. */
const BUFFER_TILES = {
  buffer64: { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 },
  buffer16: { bm: 16, bn: 16, bk: 16, tm: 2, tn: 2 },
} as const;

/** The storage-buffer variant names. */
export type BufferVariant = keyof typeof BUFFER_TILES | "buffer128" | "direct";

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

/**
 * Whether a storage-buffer variant's dispatch fits the device's workgroup-count limit.
 *
 * @example
 * ```ts ignore
 * if (bufferFits(ctx, plan, "direct")) matmulBuffer(ctx, plan, "direct");
 * ```
 * @param v `direct` or a workgroup-tile variant
 * @returns true when every dispatch dimension is within `ctx.maxWorkgroups`
 */
export function bufferFits(
  ctx: KernelContext,
  p: MatmulPlan<unknown>,
  v: BufferVariant,
): boolean {
  const [x, y, z] = workgroups(p, v);
  return x <= ctx.maxWorkgroups && y <= ctx.maxWorkgroups && z <= ctx.maxWorkgroups;
}

function workgroups(p: MatmulPlan<unknown>, v: BufferVariant): [number, number, number] {
  if (v === "direct") {
    return [Math.ceil(p.n / (DT * DWX)), Math.ceil(p.m / (DT * DWY)), p.batch];
  }
  const { bm, bn } = v === "buffer128" ? T128 : BUFFER_TILES[v];
  return [Math.ceil(p.n / bn), Math.ceil(p.m / bm), p.batch];
}

/**
 * Runs one matmul with a storage-buffer variant (one dispatch; sizes and strides in params, so
 * one pipeline serves every shape with the same transposes and accumulation).
 *
 * @example
 * ```ts ignore
 * matmulBuffer(ctx, resolveMatmul({ a, b, out, m: 64, n: 64, k: 32 }), "buffer64");
 * ```
 * @param p the resolved matmul (see `resolveMatmul` in `matmul.ts`)
 * @param v `direct`, `buffer128`, `buffer64` or `buffer16`
 */
export function matmulBuffer(
  ctx: KernelContext,
  p: MatmulPlan<Buf>,
  v: BufferVariant,
): void {
  const { m, n, k, strideA: sa, strideB: sb, strideC: sc, transA, transB, accumulate } = p;
  if (v === "buffer128") {
    const va = vec4Readable(p.a, transA ? m : k, sa), vb = vec4Readable(p.b, transB ? k : n, sb);
    TILE128.run(ctx, {
      key: { transA, transB, accumulate, va, vb },
      bind: { a: p.a, b: p.b, c: p.out },
      params: { m, n, k, sa, sb, sc },
      workgroups: workgroups(p, v),
    });
    return;
  }
  BUFFER.run(ctx, {
    key: { v, transA, transB, accumulate },
    bind: { a: p.a, b: p.b, c: p.out },
    params: { m, n, k, sa, sb, sc },
    workgroups: workgroups(p, v),
  });
}
