import { ok, strictEqual } from "node:assert/strict";
import { probeMatmulFamily } from "../../kernels/matmul_tune.ts";
import { matmulHeuristic } from "../../kernels/matmul.ts";
import { resolveMatmul } from "../../kernels/matmul_plan.ts";
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
