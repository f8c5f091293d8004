import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import {
  type AdamWArgs,
  adamwKernel,
  gradNormKernel,
  gradNormScratch,
} from "../../kernels/adamw.ts";
import { roundUp } from "../../kernels/context.ts";
import {
  assertClose,
  chunkedContext,
  gpuStyleContext,
  gpuTest,
  maybeDevice,
  poisoned,
  randArray,
  readF32,
  release,
  upload,
  withNaNTail,
} from "./_harness.ts";

interface Case {
  n: number;
  decayEnd: number;
  step: number;
  maxGradNorm: number | null;
  norm?: number;
}

Deno.test({
  name: "adamwKernel.gpu() matches the CPU reference on odd sizes, decay boundaries and clipping",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const cases: Case[] = [
      { n: 1, decayEnd: 1, step: 1, maxGradNorm: null },
      { n: 5, decayEnd: 2, step: 3, maxGradNorm: 0.5, norm: 2.5 }, // clipping active
      { n: 259, decayEnd: 0, step: 1, maxGradNorm: 100, norm: 7 }, // clipping inactive
      { n: 1031, decayEnd: 517, step: 10, maxGradNorm: 0.5 }, // norm from gradNorm()
      { n: 70001, decayEnd: 70001, step: 2, maxGradNorm: null },
    ];
    const contexts = [["whole", dev], ["chunked", chunkedContext(dev, 1024)]] as const;
    for (const [c, [how, ctx]] of cases.flatMap((c) => contexts.map((x) => [c, x] as const))) {
      const what = `adamw n=${c.n} decayEnd=${c.decayEnd} clip=${c.maxGradNorm} (${how})`;
      const len = roundUp(c.n, 4) + 8;
      const p0 = randArray(c.n, 1 + c.n), g = randArray(c.n, 2 + c.n, -3, 3);
      const m0 = randArray(c.n, 3 + c.n, -0.1, 0.1), v0 = randArray(c.n, 4 + c.n, 0, 0.05);
      const param = upload(dev, withNaNTail(p0, len));
      const grad = upload(dev, withNaNTail(g, len));
      const m = upload(dev, withNaNTail(m0, len));
      const v = upload(dev, withNaNTail(v0, len));
      const norm = poisoned(dev, 1);
      const normCpu = new Float64Array(1);
      if (c.norm !== undefined) {
        dev.upload(norm, new Float32Array([c.norm]));
        normCpu[0] = c.norm;
      } else if (c.maxGradNorm !== null) {
        gradNormKernel.gpu(ctx, { grad, n: c.n, out: norm });
        gradNormKernel.cpu({ grad: g, n: c.n, out: normCpu });
      }
      const hp = {
        n: c.n,
        decayEnd: c.decayEnd,
        lr: 0.05,
        beta1: 0.9,
        beta2: 0.98,
        eps: 1e-12,
        weightDecay: 0.1,
        step: c.step,
        maxGradNorm: c.maxGradNorm,
      };
      adamwKernel.gpu(ctx, { ...hp, param, grad, m, v, norm });
      const want: AdamWArgs<Float64Array> = {
        ...hp,
        param: Float64Array.from(p0),
        grad: Float64Array.from(g),
        m: Float64Array.from(m0),
        v: Float64Array.from(v0),
        norm: normCpu,
      };
      adamwKernel.cpu(want);
      const [gp, gm, gv] = [
        await readF32(dev, param, len),
        await readF32(dev, m, len),
        await readF32(dev, v, len),
      ];
      assertClose(gp.subarray(0, c.n), want.param, 1e-4, `${what} param`);
      // The update itself (about lr), not only the parameter it is added to.
      const delta = (a: ArrayLike<number>) => Array.from(p0, (x, i) => a[i] - x);
      assertClose(delta(gp), delta(want.param), 1e-4, `${what} update`, 1e-2);
      // m = b1 m + (1 - b1) g cancels: floor at the terms' scale.
      assertClose(gm.subarray(0, c.n), want.m, 1e-4, `${what} m`, 1e-3);
      assertClose(gv.subarray(0, c.n), want.v, 1e-4, `${what} v`, 1e-8);
      for (const [name, got] of [["param", gp], ["m", gm], ["v", gv]] as const) {
        ok(got.subarray(c.n).every(Number.isNaN), `${what}: ${name} written past n`);
      }
      release(dev, param, grad, m, v, norm);
    }
  },
});

Deno.test("adamwKernel.cpu() applies decoupled weight decay only below decayEnd", () => {
  const param = new Float64Array([2, 2]), grad = new Float64Array([0, 0]);
  const m = new Float64Array(2), v = new Float64Array(2);
  adamwKernel.cpu({
    param,
    grad,
    m,
    v,
    n: 2,
    decayEnd: 1,
    lr: 0.5,
    beta1: 0.9,
    beta2: 0.98,
    eps: 1e-8,
    weightDecay: 0.1,
    step: 1,
  });
  // Zero gradient: the decayed element shrinks by lr * wd * p, the other stays.
  assertClose(param, [2 * (1 - 0.05), 2], 1e-12, "decay");
});

Deno.test("adamwKernel.cpu() clips by min(1, maxGradNorm / (norm + 1e-6))", () => {
  const run = (maxGradNorm: number | null) => {
    const m = new Float64Array(1);
    adamwKernel.cpu({
      param: new Float64Array(1),
      grad: new Float64Array([4]),
      m,
      v: new Float64Array(1),
      n: 1,
      decayEnd: 0,
      lr: 0.1,
      beta1: 0.5,
      beta2: 0.5,
      eps: 0,
      weightDecay: 0,
      step: 1,
      maxGradNorm,
      norm: new Float64Array([4]),
    });
    return m[0];
  };
  assertClose([run(null), run(100), run(1)], [2, 2, 0.5 * 4 / (4 + 1e-6)], 1e-12, "m");
});

Deno.test({
  name: "gradNormKernel.gpu() matches the CPU reference on odd sizes with a NaN tail",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    // Whole bindings, and chunks of 256 floats (a binding limit of 1 KiB).
    const contexts = [
      ["whole", dev],
      ["chunked", chunkedContext(dev, 1024)],
      ["GPU-style", gpuStyleContext(dev)],
      ["GPU-style chunked", { ...gpuStyleContext(dev), tuning: chunkedContext(dev, 1024).tuning }],
    ] as const;
    for (const [how, ctx] of contexts) {
      for (const n of [1, 3, 257, 1023, 70001, 300007]) {
        const g = randArray(n, n, -2, 2);
        const grad = upload(dev, withNaNTail(g, roundUp(n, 4) + 8));
        const out = poisoned(dev, 1);
        const partials = ctx === dev ? undefined : dev.pool.acquire(gradNormScratch(ctx, n) * 4);
        gradNormKernel.gpu(ctx, { grad, n, out, partials });
        const want = new Float64Array(1);
        gradNormKernel.cpu({ grad: g, n, out: want });
        assertClose(await readF32(dev, out, 1), want, 1e-5, `gradNorm n=${n} (${how})`);
        release(dev, grad, out, ...(partials ? [partials] : []));
      }
    }
  },
});

Deno.test({
  name:
    "gradNormKernel.gpu() counts every element once, past the first grid stride and in the tail",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const n = 300007; // 75002 vec4s: more than 256 workgroups x 256 threads cover at once
    const g = new Float32Array(n);
    [0, 262143, 262144, 262147, 299999, n - 1].forEach((i, k) => (g[i] = k + 1));
    const grad = upload(dev, withNaNTail(g, n + 9));
    const out = poisoned(dev, 1);
    gradNormKernel.gpu(dev, { grad, n, out });
    assertClose(await readF32(dev, out, 1), [Math.sqrt(91)], 1e-6, "sparse gradNorm");
    release(dev, grad, out);
  },
});

Deno.test({
  name: "gradNormKernel.gpu() gives bit-identical results run after run",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const n = 123457;
    const grad = upload(dev, randArray(n, 7));
    const out = poisoned(dev, 4);
    const runs: number[] = [];
    for (let r = 0; r < 3; r++) {
      gradNormKernel.gpu(dev, { grad, n, out });
      runs.push((await readF32(dev, out, 1))[0]);
    }
    assertEquals(runs, [runs[0], runs[0], runs[0]]);
    release(dev, grad, out);
  },
});

Deno.test("gradNormKernel.cpu() is the L2 norm of the first n elements", () => {
  const out = new Float64Array(1);
  gradNormKernel.cpu({ grad: new Float64Array([3, 4, 99]), n: 2, out });
  assertEquals(out[0], 5);
});
