import { ok, strictEqual } from "node:assert/strict";
import { probeMatmulFamily } from "../../kernels/matmul_tune.ts";
import { matmulHeuristic, resolveMatmul } from "../../kernels/matmul.ts";
import { gpuTest, maybeDevice } from "./_harness.ts";

Deno.test({
  name: "probeMatmulFamily() measures the families and matmulHeuristic() follows its choice",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const saved = dev.tuning.get("matmul.family");
    try {
      const family = await probeMatmulFamily(dev, () => dev.sync());
      ok(family === "texture" || family === "buffer");
      strictEqual(dev.tuning.get("matmul.family"), family);
      if (dev.isCpuAdapter) strictEqual(family, "texture", "llvmpipe serves textures ~20x faster");
      const plan = resolveMatmul({ m: 512, k: 512, n: 512, a: 0, b: 0, out: 0 });
      dev.tuning.set("matmul.family", "buffer");
      ok(matmulHeuristic(dev, plan).startsWith("buffer"));
      dev.tuning.set("matmul.family", "texture");
      ok(matmulHeuristic(dev, plan).startsWith("texture"));
    } finally {
      if (saved) dev.tuning.set("matmul.family", saved);
      else dev.tuning.delete("matmul.family");
    }
  },
});

Deno.test({
  name: "matmulHeuristic() on CPU adapters counts a workgroup's 8 tiles along n as padding",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const saved = dev.tuning.get("matmul.family");
    try {
      dev.tuning.set("matmul.family", "texture");
      const pick = (m: number, n: number, k: number, transA = false) =>
        matmulHeuristic(dev, resolveMatmul({ m, n, k, transA, a: 0, b: 0, out: 0 }));
      // 16x16 covers 128 columns per workgroup, 16x8 and 8x8 64, 4x4 32 (rates 30, 23, 21, 15
      // GFLOP/s): N = 128 fills 16x16, N = 64 would leave half its lanes idle, N = 19 fits 4x4.
      strictEqual(pick(1216, 128, 128), "texture16x16");
      strictEqual(pick(1216, 64, 128), "texture16x8");
      strictEqual(pick(1216, 19, 128), "texture4x4");
      strictEqual(pick(1216, 256, 64), "texture16x16");
      // Long sums (weight gradients, K = B * T) spill less with 12x16 (rates 33 vs 30).
      strictEqual(pick(128, 128, 1216, true), "texture12x16");
      strictEqual(pick(1216, 128, 384), "texture16x16");
    } finally {
      if (saved) dev.tuning.set("matmul.family", saved);
      else dev.tuning.delete("matmul.family");
    }
  },
});
