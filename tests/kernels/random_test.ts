import { ok } from "node:assert/strict";
import { randomNormalKernel } from "../../kernels/random.ts";
import { assertClose, gpuTest, maybeDevice, poisoned, readF32, release } from "./_harness.ts";

Deno.test({
  name: "randomNormalKernel.gpu() matches the CPU reference and depends only on (seed, b, t, h)",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const [B, T, H] = [3, 7, 33];
    const out = poisoned(dev, B * T * H);
    randomNormalKernel.gpu(dev, { out, B, T, H, seed: 12345, scale: 0.02 });
    const want = new Float32Array(B * T * H);
    randomNormalKernel.cpu({ out: want, B, T, H, seed: 12345, scale: 0.02 });
    assertClose(await readF32(dev, out, B * T * H), want, 1e-4, "noise", 1e-2);
    // One position at a time (decoding) equals the full draw.
    const step = new Float32Array(B * H);
    randomNormalKernel.cpu({ out: step, B, T: 1, H, seed: 12345, pos0: 4, scale: 0.02 });
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) ok(step[b * H + h] === want[(b * T + 4) * H + h]);
    }
    release(dev, out);
  },
});

Deno.test("randomNormalKernel.cpu() has mean 0 and variance 1 and changes with the seed", () => {
  const n = 200000;
  const a = new Float32Array(n), b = new Float32Array(n);
  randomNormalKernel.cpu({ out: a, B: 1, T: 1, H: n, seed: 1 });
  randomNormalKernel.cpu({ out: b, B: 1, T: 1, H: n, seed: 2 });
  const mean = a.reduce((s, v) => s + v, 0) / n;
  const v = a.reduce((s, x) => s + (x - mean) ** 2, 0) / n;
  ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  ok(Math.abs(v - 1) < 0.02, `variance ${v}`);
  ok(a.some((x, i) => x !== b[i]));
});
