import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { backward } from "../../core/ops/backward.ts";
import { ParamArena } from "../../core/arena.ts";
import type { Device } from "../../core/device.ts";
import {
  FIRE_KEYS,
  fireBias,
  type FireBiasOptions,
  type FireParams,
  firePositions,
} from "../../core/nn/fire.ts";
import { mul } from "../../core/ops/elementwise.ts";
import { sumAll } from "../../core/ops/reduce.ts";
import { type Backend, CPU } from "../../core/backend.ts";
import { noGrad, scope, Tensor } from "../../core/tensor.ts";
import { fireKernel } from "../../kernels/fire.ts";
import { assertClose, gpuTest, maybeDevice, mulberry, randArray } from "../kernels/_harness.ts";

type FireParamName = keyof FireParams;
const NAMES = Object.keys(FIRE_KEYS) as FireParamName[];
const FIRE_MLP_WIDTH = 32;

/** Fresh parameters as upstream initialises them (PyTorch's Linear init, c 0.1, L 1). */
function makeFire(heads: number, backend: Backend, random: () => number): FireParams {
  const uniform = (shape: number[], bound: number) =>
    Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (2 * random() - 1) * bound);
  const values: Record<FireParamName, [number[], number[]]> = {
    mlp0Weight: [[32, 1], uniform([32, 1], 1)],
    mlp0Bias: [[32], uniform([32], 1)],
    mlp2Weight: [[heads, 32], uniform([heads, 32], 1 / Math.sqrt(32))],
    mlp2Bias: [[heads], uniform([heads], 1 / Math.sqrt(32))],
    c: [[1], [0.1]],
    lMult: [[1], [1]],
  };
  const p = {} as FireParams;
  for (const n of NAMES) {
    p[n] = Tensor.fromArray(values[n][1], values[n][0], { backend });
    p[n].requiresGrad = true;
  }
  return p;
}

/** The bias and the gradients of sum(bias * W) for each parameter, all read back. */
async function run(
  fire: FireParams,
  S: number,
  options: FireBiasOptions,
  wSeed = 7,
): Promise<{ bias: Float32Array; shape: readonly number[]; grads: Float32Array[] }> {
  const backend = fire.c.backend;
  const bias = scope(() => {
    const b = fireBias(fire, S, options);
    const w = Tensor.fromArray(randArray(b.size, wSeed), b.shape, { backend });
    backward(sumAll(mul(b, w)));
    return b;
  });
  const out = {
    bias: (await bias.toArray()) as Float32Array,
    shape: bias.shape,
    grads: [] as Float32Array[],
  };
  bias.dispose();
  for (const n of NAMES) {
    const g = fire[n].grad!;
    out.grads.push((await g.toArray()) as Float32Array);
    g.dispose();
    fire[n].grad = null;
  }
  return out;
}

/** Float64 reference of the bias from parameter values: (heads, rows, S). */
function biasRef(
  p: Record<FireParamName, Float64Array>,
  pos: ArrayLike<number>,
  heads: number,
  rows: number,
): Float64Array {
  const S = pos.length, W = FIRE_MLP_WIDTH;
  const d = new Float64Array(rows * S);
  fireKernel.cpu({
    c: p.c,
    lMult: p.lMult,
    positions: pos,
    out: d,
    seq: S,
    rows,
    rowStart: S - rows,
  });
  const out = new Float64Array(heads * rows * S);
  const h = new Float64Array(W);
  for (let e = 0; e < rows * S; e++) {
    for (let k = 0; k < W; k++) h[k] = Math.max(0, p.mlp0Weight[k] * d[e] + p.mlp0Bias[k]);
    for (let o = 0; o < heads; o++) {
      let s = p.mlp2Bias[o];
      for (let k = 0; k < W; k++) s += p.mlp2Weight[o * W + k] * h[k];
      out[o * rows * S + e] = s;
    }
  }
  return out;
}

function valuesOf(fire: FireParams): Record<FireParamName, Float64Array> {
  const r = {} as Record<FireParamName, Float64Array>;
  for (const n of NAMES) r[n] = Float64Array.from(fire[n].data as Float32Array);
  return r;
}

Deno.test("firePositions() draws sorted distinct positions below maxLength when randomised", () => {
  const random = mulberry(3);
  for (const [S, max] of [[1, 1], [5, 5], [17, 40], [64, 2048]]) {
    const p = firePositions(S, { training: true, maxLength: max, random });
    ok(p.length === S);
    for (let i = 1; i < S; i++) ok(p[i] > p[i - 1], `sorted and distinct at S=${S}`);
    ok(p.every((x) => Number.isInteger(x) && x >= 0 && x < max));
    if (S === max) assertEquals([...p], [...Array(S).keys()]);
  }
  // Evaluation, max_length 0, or max_length < S: 0..S-1.
  for (const o of [{}, { training: true }, { training: true, maxLength: 4 }, { maxLength: 99 }]) {
    assertEquals([...firePositions(6, { ...o, random })], [0, 1, 2, 3, 4, 5]);
  }
  // Randomised positions spread over the range rather than clustering at its start.
  const p = firePositions(200, { training: true, maxLength: 2000, random });
  ok(p[199] > 1500 && p[0] < 500);
});

Deno.test("fireBias() is deterministic for a fixed random function", async () => {
  const opts = (seed: number): FireBiasOptions => ({
    training: true,
    maxLength: 50,
    random: mulberry(seed),
  });
  const a = await run(makeFire(2, CPU, mulberry(9)), 11, opts(4));
  const b = await run(makeFire(2, CPU, mulberry(9)), 11, opts(4));
  assertEquals(a, b);
  const c = await run(makeFire(2, CPU, mulberry(9)), 11, opts(5));
  ok(a.bias.some((x, i) => x !== c.bias[i]), "another random function draws other positions");
});

Deno.test("fireBias() values and parameter gradients match a float64 reference on cpu", async () => {
  const cases: [number, number, FireBiasOptions][] = [
    [3, 7, {}],
    [2, 9, { training: true, maxLength: 1500, random: mulberry(2) }], // max switches sides
    [1, 1, {}],
  ];
  for (const [heads, S, options] of cases) {
    const fire = makeFire(heads, CPU, mulberry(heads * 100 + S));
    if (options.maxLength) {
      fire.lMult.data[0] = 1.37; // a threshold of 701.4, between positions
      fire.c.data[0] = 0.23;
    }
    const rows = S;
    const pos = firePositions(S, { ...options, random: mulberry(2) });
    const got = await run(fire, S, { ...options, random: mulberry(2) });
    assertEquals(got.shape, [heads, rows, S]);
    const p = valuesOf(fire);
    const ref = biasRef(p, pos, heads, rows);
    const what = `Fire heads=${heads} S=${S} rows=${rows}`;
    assertClose(got.bias, ref, 1e-4, `${what}: bias`);
    const w = randArray(ref.length, 7);
    const loss = () => biasRef(p, pos, heads, rows).reduce((s, x, i) => s + x * w[i], 0);
    NAMES.forEach((n, k) => {
      const x = p[n], num = new Float64Array(x.length), h = 1e-6;
      for (let i = 0; i < x.length; i++) {
        const v = x[i];
        x[i] = v + h;
        const lp = loss();
        x[i] = v - h;
        const lm = loss();
        x[i] = v;
        num[i] = (lp - lm) / (2 * h);
      }
      assertClose(got.grads[k], num, 1e-3, `${what}: gradient of ${FIRE_KEYS[n]}`, 1e-2);
    });
  }
});

Deno.test("fireBias() accumulates gradients into parameter views of an arena", () => {
  const shapes = { mlp0Weight: [32, 1], mlp0Bias: [32], mlp2Weight: [2, 32], mlp2Bias: [2] };
  const specs = NAMES.map((n) => ({
    name: `layers.0.attn.rotary_emb.${FIRE_KEYS[n]}`,
    shape: n in shapes ? shapes[n as keyof typeof shapes] : [1],
  }));
  const arena = new ParamArena(CPU, specs);
  const fresh = makeFire(2, CPU, mulberry(1));
  const params = {} as FireParams;
  NAMES.forEach((n, i) => {
    params[n] = arena.get(specs[i].name);
    arena.write(specs[i].name, fresh[n].data);
  });
  scope(() => {
    const b = fireBias(params, 5);
    backward(sumAll(b));
  });
  ok(arena.get("layers.0.attn.rotary_emb.mlp.2.bias").grad!.data[1] === 25);
  ok(arena.get("layers.0.attn.rotary_emb.c").grad!.data[0] !== 0);
  arena.dispose();
});

Deno.test({
  name: "fireBias() agrees on cpu and webgpu, values and parameter gradients",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const live = dev.pool.live;
    const cases: [number, number, FireBiasOptions][] = [
      [3, 1, {}],
      [4, 13, {}],
      [2, 21, { training: true, maxLength: 1300 }], // random positions (opts())
    ];
    for (const [heads, S, options] of cases) {
      const make = (backend: Backend) => makeFire(heads, backend, mulberry(S));
      const opts = () => ({ ...options, random: mulberry(11) });
      const cpu = await run(make(CPU), S, opts());
      const gpuFire = make(dev as Device);
      const gpu = await run(gpuFire, S, opts());
      const what = `Fire heads=${heads} S=${S}`;
      assertEquals(gpu.shape, cpu.shape);
      assertClose(gpu.bias, cpu.bias, 1e-4, `${what}: bias`);
      NAMES.forEach((n, k) => {
        // The scalars' gradients are sums over all S^2 entries: compare relative to their size.
        const floor = 1e-3 * Math.max(1, ...cpu.grads[k].map(Math.abs));
        assertClose(gpu.grads[k], cpu.grads[k], 1e-4, `${what}: gradient of ${n}`, floor);
      });
      for (const t of Object.values(gpuFire)) t.dispose();
    }
    assertEquals(dev.pool.live, live);
    // Without gradients the intermediates are freed at once: only the bias stays.
    const fire = makeFire(2, dev as Device, mulberry(1));
    const before = dev.pool.live;
    const b = noGrad(() => fireBias(fire, 12));
    assertEquals(dev.pool.live, before + 1);
    for (const t of [b, ...Object.values(fire)]) t.dispose();
  },
});
