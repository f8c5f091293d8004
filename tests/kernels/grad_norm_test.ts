import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { gradNormKernel, gradNormScratch } from "../../kernels/grad_norm.ts";
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
