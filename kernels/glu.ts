/**
 * GLU with a GELU gate, the transformer's feed-forward nonlinearity: each row of the input is split
 * into a value half x and a gate half g, and out = GELU(g) * x. Forward and backward are one
 * elementwise pass each (no intermediate GELU tensor). The normal CDF comes from `unary.ts`.
 * Reference: GELU(x) = x/2 (1 + erf(x/sqrt 2)) (Hendrycks and Gimpel 2016); GLU variants
 * (Shazeer 2020).
 * @module
 */
import { erf, PHI_WGSL } from "./unary.ts";
import {
  type Binding,
  type Buf,
  cachedCode,
  type FloatArray,
  grid1d,
  type KernelContext,
} from "./context.ts";
import { flatDecl, flatInputs, flatRead } from "./_flat_texture.ts";

const CODE = new Map<string, string>();

const WG = 256;

function header(hu: number, vec: number): string {
  return /* wgsl */ `
alias V = ${vec === 4 ? "vec4f" : "f32"};
alias T = V;
const HU: u32 = ${hu}u;
struct P { n: u32 }
${PHI_WGSL}`;
}

function forwardCode(hu: number, vec: number, tex: boolean): string {
  const a = (k: string) => flatRead("a", tex, k);
  return /* wgsl */ `${header(hu, vec)}
${flatDecl(0, "a", "array<V>", tex)}
@group(0) @binding(1) var<storage, read_write> out: array<V>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gi: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gi.x + gi.y * nw.x * ${WG}u;
  if (i >= p.n) { return; }
  let r = i / HU;
  let base = i + r * HU;
  let gk = base + HU;
  let g = ${a("gk")};
  out[i] = ${a("base")} * g * phi_cdf(g);
}`;
}

function backwardCode(hu: number, vec: number, tex: boolean): string {
  const rd = (n: string, k: string) => flatRead(n, tex, k);
  return /* wgsl */ `${header(hu, vec)}
${flatDecl(0, "a", "array<V>", tex)}
${flatDecl(1, "dOut", "array<V>", tex)}
@group(0) @binding(2) var<storage, read_write> dA: array<V>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gi: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gi.x + gi.y * nw.x * ${WG}u;
  if (i >= p.n) { return; }
  let r = i / HU;
  let base = i + r * HU;
  let gk = base + HU;
  let x = ${rd("a", "base")};
  let g = ${rd("a", "gk")};
  let dy = ${rd("dOut", "i")};
  let cdf = phi_cdf(g);
  dA[base] = dy * g * cdf;
  dA[base + HU] = dy * x * (cdf + g * 0.3989422804014327 * exp(-0.5 * g * g));
}`;
}

/** Arguments of `gluForward`: `B` is a GPU buffer for the launcher, a float array for the reference. */
export interface GluArgs<B> {
  /** Input, (R, 2H): each row is the value half x then the gate half g. */
  a: B;
  /** Output, (R, H): GELU(g) * x. */
  out: B;
  /** Rows R. */
  rows: number;
  /** Output columns H (half the input's last dimension). */
  half: number;
}

/** Arguments of `gluBackward`. */
export interface GluBackwardArgs<B> {
  /** Forward input, (R, 2H). */
  a: B;
  /** Gradient of the output, (R, H). */
  dOut: B;
  /** Gradient of the input, (R, 2H) (overwritten). */
  dA: B;
  /** Rows R. */
  rows: number;
  /** Output columns H. */
  half: number;
}

function launch(
  ctx: KernelContext,
  code: string,
  bindings: Binding[],
  units: number,
  label: string,
) {
  ctx.dispatch({
    code,
    bindings,
    params: new Uint32Array([units]),
    workgroups: grid1d(Math.ceil(units / WG), ctx.maxWorkgroups),
    label,
  });
}

/**
 * Runs GLU with a GELU gate on the GPU: out[r, j] = GELU(a[r, H + j]) * a[r, j].
 *
 * Uses vec4 loads when H is a multiple of 4. H is baked into the shader, R is a uniform.
 * Reference: GELU(x) = x/2 (1 + erf(x/sqrt 2)).
 *
 * @example
 * ```ts ignore
 * gluForward(ctx, { a, out, rows: 64, half: 512 }); // a (64, 1024) -> out (64, 512)
 * ```
 * @param ctx kernel context
 * @param g buffers and sizes
 */
export function gluForward(ctx: KernelContext, g: GluArgs<Buf>): void {
  if (g.rows * g.half === 0) return;
  const vec = g.half % 4 === 0 ? 4 : 1;
  const hu = g.half / vec;
  const { tex, bind } = flatInputs(ctx, vec === 4, [[g.a, 2 * g.rows * g.half]]);
  const code = cachedCode(CODE, `f${hu}:${vec}:${tex}`, () => forwardCode(hu, vec, tex));
  launch(ctx, code, [...bind, g.out], g.rows * hu, "glu");
}

/**
 * Runs the GLU backward on the GPU: dx = dy GELU(g), dg = dy x GELU'(g), written into one (R, 2H)
 * gradient in the input's layout.
 *
 * GELU'(g) = Phi(g) + g phi(g) with the standard normal cdf Phi and density phi.
 *
 * @example
 * ```ts ignore
 * gluBackward(ctx, { a, dOut, dA, rows: 64, half: 512 });
 * ```
 * @param ctx kernel context
 * @param g buffers and sizes
 */
export function gluBackward(ctx: KernelContext, g: GluBackwardArgs<Buf>): void {
  if (g.rows * g.half === 0) return;
  const vec = g.half % 4 === 0 ? 4 : 1;
  const hu = g.half / vec;
  const n = g.rows * g.half;
  const { tex, bind } = flatInputs(ctx, vec === 4, [[g.a, 2 * n], [g.dOut, n]]);
  const code = cachedCode(CODE, `b${hu}:${vec}:${tex}`, () => backwardCode(hu, vec, tex));
  launch(ctx, code, [...bind, g.dA], g.rows * hu, "glu_backward");
}

function cdf64(g: number): number {
  return 0.5 * (1 + erf(g * Math.SQRT1_2));
}

/**
 * CPU reference of `gluForward`, in doubles.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { gluForwardCpu } from "./glu.ts";
 * const out = new Float64Array(1);
 * gluForwardCpu({ a: new Float64Array([2, 0]), out, rows: 1, half: 1 }); // GELU(0) = 0
 * assert(out[0] === 0);
 * ```
 * @param g arrays and sizes
 */
export function gluForwardCpu(g: GluArgs<FloatArray>): void {
  const h = g.half;
  for (let r = 0; r < g.rows; r++) {
    for (let j = 0; j < h; j++) {
      const gate = g.a[r * 2 * h + h + j];
      g.out[r * h + j] = g.a[r * 2 * h + j] * gate * cdf64(gate);
    }
  }
}

/**
 * CPU reference of `gluBackward`, in doubles.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { gluBackwardCpu } from "./glu.ts";
 * const dA = new Float64Array(2);
 * gluBackwardCpu({ a: new Float64Array([3, 0]), dOut: new Float64Array([1]), dA, rows: 1, half: 1 });
 * assert(dA[0] === 0 && dA[1] === 1.5); // GELU(0) = 0, GELU'(0) = 1/2
 * ```
 * @param g arrays and sizes
 */
export function gluBackwardCpu(g: GluBackwardArgs<FloatArray>): void {
  const h = g.half;
  for (let r = 0; r < g.rows; r++) {
    for (let j = 0; j < h; j++) {
      const x = g.a[r * 2 * h + j], gate = g.a[r * 2 * h + h + j], dy = g.dOut[r * h + j];
      const cdf = cdf64(gate);
      const pdf = Math.exp(-0.5 * gate * gate) / Math.sqrt(2 * Math.PI);
      g.dA[r * 2 * h + j] = dy * gate * cdf;
      g.dA[r * 2 * h + h + j] = dy * x * (cdf + gate * pdf);
    }
  }
}
