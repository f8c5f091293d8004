import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import { ParamArena } from "../../core/arena.ts";
import { ARENA_ALIGN, type ParamSpec } from "../../core/arena.ts";
import { AdamW, type AdamWOptions } from "../../core/optim.ts";
import { type Backend, CPU } from "../../core/backend.ts";
import { scope, type Tensor } from "../../core/tensor.ts";
import type { Device } from "../../core/device.ts";
import { assertClose, HAS_GPU, maybeDevice, randArray } from "../kernels/_harness.ts";

/** Upstream-style names: decay and no-decay parameters interleaved, odd sizes. */
const SPECS: ParamSpec[] = [
  { name: "embedding.word_embedding.weight", shape: [11, 7] },
  { name: "layers.0.attn.bias", shape: [5] },
  { name: "layers.0.norm1.weight", shape: [13] },
  { name: "layers.0.attn.Wqkv.weight", shape: [3, 3, 3] },
  { name: "LayerNorm.weight", shape: [1] },
  { name: "head.weight", shape: [65] },
];
/** Offsets the layout must give: decay group first, 64-element aligned, in the given order. */
const OFFSETS: Record<string, number> = {
  "embedding.word_embedding.weight": 0,
  "layers.0.attn.Wqkv.weight": 128,
  "head.weight": 192,
  "layers.0.attn.bias": 320,
  "layers.0.norm1.weight": 384,
  "LayerNorm.weight": 448,
};

async function backends(): Promise<[string, Backend][]> {
  const dev = HAS_GPU ? await maybeDevice() : null;
  return dev ? [["cpu", CPU], ["webgpu", dev]] : [["cpu", CPU]];
}

function size(s: ParamSpec): number {
  return s.shape.reduce((a, b) => a * b, 1);
}

function initial(): Record<string, Float32Array> {
  return Object.fromEntries(SPECS.map((s, i) => [s.name, randArray(size(s), 100 + i)]));
}

/** Writes a gradient through the parameter's `grad` view (the way autograd would). */
function setGrad(p: Tensor, g: Float32Array): void {
  if (p.backend.kind === "cpu") p.grad!.data.set(g);
  else (p.backend as Device).upload(p.grad!.buffer, g);
}

/** Independent reference: PyTorch clip_grad_norm_ then torch.optim.AdamW, per parameter. */
class Reference {
  p: Map<string, Float64Array>;
  m = new Map<string, Float64Array>();
  v = new Map<string, Float64Array>();
  t = 0;
  clipped = 0;
  lastNorm = 0;
  constructor(init: Record<string, Float32Array>, readonly o: Required<AdamWOptions>) {
    this.p = new Map(Object.entries(init).map(([k, a]) => [k, Float64Array.from(a)]));
    for (const [k, a] of this.p) {
      this.m.set(k, new Float64Array(a.length));
      this.v.set(k, new Float64Array(a.length));
    }
  }
  step(grads: Record<string, Float32Array>, lr: number): void {
    const o = this.o;
    this.t++;
    let total = 0;
    for (const g of Object.values(grads)) for (const x of g) total += x * x;
    this.lastNorm = Math.sqrt(total);
    let coef = 1;
    if (o.maxGradNorm !== null) {
      coef = Math.min(1, o.maxGradNorm / (this.lastNorm + 1e-6));
      if (coef < 1) this.clipped++;
    }
    const [b1, b2] = o.betas;
    for (const [name, p] of this.p) {
      const noDecay = name.includes("bias") || name.includes("LayerNorm") ||
        name.includes("norm");
      const wd = noDecay ? 0 : o.weightDecay;
      const m = this.m.get(name)!, v = this.v.get(name)!, g = grads[name];
      for (let i = 0; i < p.length; i++) {
        const gi = g[i] * coef;
        p[i] *= 1 - lr * wd;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        const mHat = m[i] / (1 - b1 ** this.t), vHat = v[i] / (1 - b2 ** this.t);
        p[i] -= lr * mHat / (Math.sqrt(vHat) + o.eps);
      }
    }
  }
}

const BASE: Required<AdamWOptions> = {
  lr: 0.02,
  betas: [0.9, 0.98],
  eps: 1e-12,
  weightDecay: 0.1,
  maxGradNorm: 0.5,
};

/** Runs 10 steps on a backend and the reference side by side, comparing after every step. */
async function compareTenSteps(
  backend: Backend,
  opts: Required<AdamWOptions>,
  gradScale: (t: number) => number,
): Promise<Reference> {
  const init = initial();
  const arena = new ParamArena(backend, SPECS);
  arena.writeAll(init);
  const opt = new AdamW(arena, opts);
  const ref = new Reference(init, opts);
  for (let t = 1; t <= 10; t++) {
    const lr = opts.lr * (1 - t / 20); // changes every step
    const grads: Record<string, Float32Array> = {};
    SPECS.forEach((s, i) => {
      const g = randArray(size(s), 1000 * t + i);
      grads[s.name] = g.map((x) => x * gradScale(t));
      setGrad(arena.get(s.name), grads[s.name]);
    });
    opt.step(lr);
    ref.step(grads, lr);
    const got = await arena.readAll();
    for (const [name, want] of ref.p) {
      const what = `step ${t} ${name}`;
      assertClose(got[name], want, 1e-4, what);
      const delta = (a: ArrayLike<number>) => Array.from(init[name], (x, i) => a[i] - x);
      assertClose(delta(got[name]), delta(want), 1e-4, `${what} (total update)`, 1e-2);
    }
    opt.zeroGrad();
  }
  const state = await opt.stateDict();
  assertEquals(state.step, 10);
  for (const name of arena.names) {
    assertClose(state.m[name], ref.m.get(name)!, 1e-4, `m ${name}`, 1e-3);
    assertClose(state.v[name], ref.v.get(name)!, 1e-4, `v ${name}`, 1e-6);
    ok((await arena.get(name).grad!.toArray()).every((x) => x === 0), `zeroGrad ${name}`);
  }
  opt.dispose();
  arena.dispose();
  return ref;
}

Deno.test({
  name: "ParamArena lays out the decay group first at 64-element offsets on both backends",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    for (const [kind, backend] of await backends()) {
      const arena = new ParamArena(backend, SPECS);
      assertEquals(arena.names, SPECS.map((s) => s.name), kind);
      for (const e of arena.entries) {
        assertEquals(e.offset, OFFSETS[e.name], `${kind} offset of ${e.name}`);
        assertEquals(e.offset % ARENA_ALIGN, 0);
        assertEquals(e.decay, e.offset < arena.decayEnd, `${kind} group of ${e.name}`);
      }
      assertEquals([arena.decayEnd, arena.size], [320, 512], kind);
      arena.dispose();
    }
  },
});

Deno.test({
  name: "ParamArena views read back written values and gradients are views into the arena",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    for (const [kind, backend] of await backends()) {
      const arena = new ParamArena(backend, SPECS);
      const init = initial();
      arena.writeAll(init);
      const grads = Object.fromEntries(SPECS.map((s, i) => [s.name, randArray(size(s), 50 + i)]));
      for (const s of SPECS) {
        const p = arena.get(s.name);
        ok(p.requiresGrad && p.grad !== null, `${kind} ${s.name} requires grad`);
        assertEquals([p.shape, p.grad!.shape], [s.shape, s.shape]);
        assertEquals(await p.toArray(), init[s.name], `${kind} view ${s.name}`);
        setGrad(p, grads[s.name]);
      }
      const all = await arena.readAll();
      const allGrads = await arena.readAll("grad");
      for (const s of SPECS) {
        assertEquals(all[s.name], init[s.name], `${kind} readAll ${s.name}`);
        assertEquals(allGrads[s.name], grads[s.name], `${kind} grad ${s.name}`);
        const one = new Float32Array(await arena.get(s.name).toArray());
        assertEquals(one, init[s.name], `${kind} read ${s.name}`);
      }
      // The padding between parameters stays zero.
      const flat = arena.paramBuffer instanceof Float32Array
        ? arena.paramBuffer
        : new Float32Array(await (backend as Device).read(arena.paramBuffer, arena.size * 4));
      assertEquals(flat.subarray(77, 128).every((x) => x === 0), true, `${kind} padding`);
      arena.zeroGrad();
      for (const s of SPECS) {
        ok((await arena.get(s.name).grad!.toArray()).every((x) => x === 0), `${kind} zeroGrad`);
      }
      arena.dispose();
    }
  },
});

Deno.test("ParamArena rejects duplicate names, bad shapes and incomplete loads", () => {
  throws(() => new ParamArena(CPU, [SPECS[0], SPECS[0]]), /used twice/);
  throws(() => new ParamArena(CPU, [{ name: "w", shape: [2, 0] }]), /bad shape/);
  const arena = new ParamArena(CPU, SPECS);
  throws(() => arena.write("head.weight", [1, 2]), /has 65 values, got 2/);
  throws(() => arena.writeAll({ "head.weight": new Float32Array(65) }), /missing/);
  throws(() => arena.get("nope"), /No parameter named nope/);
  const custom = new ParamArena(CPU, [{ name: "a.weight", shape: [3], decay: false }]);
  assertEquals(custom.decayEnd, 0);
  // Views belong to the arena: a scope() around its construction does not free them.
  const scoped = scope(() => new ParamArena(CPU, SPECS));
  ok(!scoped.get("head.weight").disposed && !scoped.get("head.weight").grad!.disposed);
});

for (
  const [label, opts, scale] of [
    ["clipping active", BASE, () => 1],
    ["clipping inactive", BASE, () => 0.01],
    ["clipping on some steps", BASE, (t: number) => (t % 3 === 0 ? 0.01 : 1)],
    ["no clipping", { ...BASE, maxGradNorm: null }, () => 1],
  ] as [string, Required<AdamWOptions>, (t: number) => number][]
) {
  Deno.test({
    name: `AdamW.step() matches a per-parameter PyTorch-style reference for 10 steps (${label})`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      for (const [kind, backend] of await backends()) {
        const ref = await compareTenSteps(backend, opts, scale).catch((e) => {
          throw new Error(`${kind}: ${e.message}`);
        });
        const want = { "clipping active": 10, "clipping on some steps": 7 }[label] ?? 0;
        assertEquals(ref.clipped, want, `${kind}: steps that clipped`);
      }
    },
  });
}

Deno.test({
  name: "AdamW.step() records 3 dispatches, no readback, and leaves pool.live unchanged",
  ignore: !HAS_GPU,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const arena = new ParamArena(dev, SPECS);
    arena.writeAll(initial());
    SPECS.forEach((s, i) => setGrad(arena.get(s.name), randArray(size(s), 9 + i)));
    const opt = new AdamW(arena, BASE);
    await dev.sync();
    const live = dev.pool.live, before = { ...dev.stats };
    opt.step(1e-3);
    assertEquals(dev.stats.dispatches - before.dispatches, 3); // norm partials, norm, AdamW
    opt.zeroGrad();
    dev.flush();
    await dev.sync();
    assertEquals(dev.pool.live, live);
    assertEquals(dev.stats.readbacks, before.readbacks);
    assertEquals(dev.stats.submits - before.submits, 1);
    opt.dispose();
    arena.dispose();
  },
});

Deno.test({
  name: "AdamW.loadStateDict() resumes bit-identically on both backends",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    for (const [kind, backend] of await backends()) {
      const grads = (t: number) =>
        Object.fromEntries(SPECS.map((s, i) => [s.name, randArray(size(s), 77 * t + i)]));
      const run = (arena: ParamArena, opt: AdamW, from: number, to: number) => {
        for (let t = from; t < to; t++) {
          const g = grads(t);
          for (const s of SPECS) setGrad(arena.get(s.name), g[s.name]);
          opt.step(0.01);
          opt.zeroGrad();
        }
      };
      const a = new ParamArena(backend, SPECS);
      a.writeAll(initial());
      const optA = new AdamW(a, BASE);
      run(a, optA, 0, 3);
      const b = new ParamArena(backend, SPECS);
      b.writeAll(await a.readAll());
      const optB = new AdamW(b, BASE);
      optB.loadStateDict(await optA.stateDict());
      assertEquals(optB.stepCount, 3);
      run(a, optA, 3, 5);
      run(b, optB, 3, 5);
      assertEquals(await b.readAll(), await a.readAll(), `${kind} params`);
      assertEquals(await optB.stateDict(), await optA.stateDict(), `${kind} state`);
      throws(() => optB.loadStateDict({ step: 1, m: {}, v: {} }), /Cannot load first moments/);
      for (const x of [optA, optB, a, b]) x.dispose();
    }
  },
});

Deno.test({
  name: "AdamW and zeroGrad over an arena larger than one storage binding match the reference",
  ignore: !HAS_GPU,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dev = (await maybeDevice())!;
    // A binding limit of 1 KiB splits the 512-element arena into two chunks, the decay boundary
    // (element 320) inside the second: fill, gradient norm and AdamW each run per chunk.
    dev.tuning.set("maxBinding", "1024");
    try {
      const ref = await compareTenSteps(dev, BASE, (t) => (t % 3 === 0 ? 0.01 : 1));
      assertEquals(ref.clipped, 7, "steps that clipped");
    } finally {
      dev.tuning.delete("maxBinding");
    }
  },
});
