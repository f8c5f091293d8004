/**
 * GLU with a GELU gate, the transformer's feed-forward nonlinearity: each row of the input is split
 * into a value half x and a gate half g, and out = GELU(g) * x. Forward and backward are one
 * elementwise pass each (no intermediate GELU tensor). The normal CDF comes from `unary.ts`.
 * Reference: GELU(x) = x/2 (1 + erf(x/sqrt 2)) (Hendrycks and Gimpel 2016); GLU variants
 * (Shazeer 2020).
 * @module
 */
import { erf, PHI_WGSL } from "./unary.ts";
import type { Buf, FloatArray } from "./context.ts";
import { type Kernel, program } from "./program.ts";

type Key = { hu: number; vec: boolean };

const head = (k: Key) =>
  `alias V = ${k.vec ? "vec4f" : "f32"};\nalias T = V;\nconst HU: u32 = ${k.hu}u;\n${PHI_WGSL}`;
// Row r of the input holds the value half then the gate half: word i of the output reads
// words base and base + HU.
const ROW = "let r = i / HU;\n  let base = i + r * HU;\n  let gk = base + HU;";

const FORWARD = program({
  label: "glu",
  inputs: { a: "V" },
  outputs: { out: "V" },
  workgroup: 256,
  flat: (k: Key) => k.vec ? ["a"] : [],
  head,
  body: () => `${ROW}\n  let g = load_a(gk);\n  out[i] = load_a(base) * g * phi_cdf(g);`,
});

const BACKWARD = program({
  label: "glu_backward",
  inputs: { a: "V", dOut: "V" },
  outputs: { dA: "V" },
  workgroup: 256,
  flat: (k: Key) => k.vec ? ["a", "dOut"] : [],
  head,
  body: () =>
    `${ROW}
  let x = load_a(base);
  let g = load_a(gk);
  let dy = load_dOut(i);
  let cdf = phi_cdf(g);
  dA[base] = dy * g * cdf;
  dA[base + HU] = dy * x * (cdf + g * 0.3989422804014327 * exp(-0.5 * g * g));`,
});

/** Arguments of `gluKernel`: `B` is a GPU buffer on the GPU, a float array on the CPU. */
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

/**
 * Arguments of `gluBackwardKernel`: the forward input `a`, `dOut` (R, H), `dA` (R, 2H,
 * overwritten).
 */
export interface GluBackwardArgs<B> extends Omit<GluArgs<B>, "out"> {
  /** Gradient of the output, (R, H). */
  dOut: B;
  /** Gradient of the input, (R, 2H) (overwritten). */
  dA: B;
}

function cdf64(g: number): number {
  return 0.5 * (1 + erf(g * Math.SQRT1_2));
}

/**
 * GLU with a GELU gate: each row of `a` (R, 2H) is a value half x then a gate half g, and
 * `out = GELU(g) * x` (R, H).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { gluKernel } from "./glu.ts";
 * const out = new Float64Array(1);
 * gluKernel.cpu({ a: new Float64Array([3, 1]), out, rows: 1, half: 1 }); // x = 3, g = 1
 * assert(Math.abs(out[0] - 3 * 0.8413447460685429) < 1e-15); // 3 * 1 * Phi(1)
 * ```
 */
export const gluKernel: Kernel<GluArgs<Buf>, GluArgs<FloatArray>> = {
  // vec4 loads when H is a multiple of 4; H is baked into the shader.
  gpu(ctx, g) {
    const vec = g.half % 4 === 0, hu = vec ? g.half / 4 : g.half;
    FORWARD.run(ctx, {
      key: { hu, vec },
      bind: { a: g.a, out: g.out },
      floats: { a: 2 * g.rows * g.half },
      count: g.rows * hu,
    });
  },
  cpu(g) {
    const h = g.half;
    for (let r = 0; r < g.rows; r++) {
      for (let j = 0; j < h; j++) {
        const gate = g.a[r * 2 * h + h + j];
        g.out[r * h + j] = g.a[r * 2 * h + j] * gate * cdf64(gate);
      }
    }
  },
};

/**
 * GLU backward into one (R, 2H) gradient in the input's layout: `dx = dy GELU(g)` and
 * `dg = dy x (Phi(g) + g phi(g))`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { gluBackwardKernel } from "./glu.ts";
 * const dA = new Float64Array(2); // x = 3, g = 0: GELU(0) = 0, GELU'(0) = 1/2
 * const a = new Float64Array([3, 0]), dOut = new Float64Array([2]);
 * gluBackwardKernel.cpu({ a, dOut, dA, rows: 1, half: 1 });
 * assert(dA[0] === 0 && dA[1] === 3);
 * ```
 */
export const gluBackwardKernel: Kernel<GluBackwardArgs<Buf>, GluBackwardArgs<FloatArray>> = {
  gpu(ctx, g) {
    const vec = g.half % 4 === 0, hu = vec ? g.half / 4 : g.half;
    const n = g.rows * g.half;
    BACKWARD.run(ctx, {
      key: { hu, vec },
      bind: { a: g.a, dOut: g.dOut, dA: g.dA },
      floats: { a: 2 * n, dOut: n },
      count: g.rows * hu,
    });
  },
  cpu(g) {
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
  },
};
