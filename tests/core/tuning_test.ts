// Lazy tuning: opening a device runs no kernel; the first matmul that falls back to the heuristic
// asks for the family, which the device measures at its next async call and saves to the cache
// file (here in a temporary XDG_CACHE_HOME); a device opened later restores it without measuring;
// ABACUS_TUNE=0 turns both off.

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Device } from "../../core/device.ts";
import { matmulKernel } from "../../kernels/matmul.ts";
import { gpuTest } from "../kernels/_harness.ts";

/** Runs `fn` with environment variables set (undefined: removed), then restores them. */
async function withEnv(vars: Record<string, string | undefined>, fn: () => Promise<void>) {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  const put = (k: string, v: string | undefined) =>
    v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  for (const [k, v] of Object.entries(vars)) put(k, v);
  try {
    await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) put(k, v);
  }
}

/** Records one 64 x 64 x 64 matmul with the launcher's own choice of variant. */
function launchMatmul(dev: Device): void {
  const [a, b, out] = [0, 1, 2].map(() => dev.pool.acquire(64 * 64 * 4));
  matmulKernel.gpu(dev, { a, b, out, m: 64, n: 64, k: 64 });
  dev.flush();
  for (const buf of [a, b, out]) dev.pool.release(buf);
}

Deno.test({
  name: "a device measures the matmul family lazily, at its next sync, and caches it",
  ...gpuTest,
  fn: async () => {
    const home = await Deno.makeTempDir();
    try {
      await withEnv({ XDG_CACHE_HOME: home, ABACUS_TUNE: undefined }, async () => {
        const dev = await Device.create();
        try {
          strictEqual(dev.stats.dispatches, 0, "opening a device runs no kernel");
          ok(!dev.tuning.has("matmul.family"));
          await dev.sync(); // nothing was asked for: nothing is measured
          ok(!dev.tuning.has("matmul.family"));
          launchMatmul(dev);
          const counts = { ...dev.stats };
          ok(!dev.tuning.has("matmul.family"), "the launch itself measures nothing");
          await dev.sync();
          const family = dev.tuning.get("matmul.family");
          ok(family === "texture" || family === "buffer", `measured ${family}`);
          strictEqual(dev.stats.dispatches, counts.dispatches, "the counters leave the probe out");
          strictEqual(dev.stats.submits, counts.submits);
          const file = JSON.parse(await Deno.readTextFile(`${home}/abacus/tuning.json`));
          deepStrictEqual(file[dev.adapterName], { "matmul.family": family });
          const again = await Device.create();
          try {
            strictEqual(again.tuning.get("matmul.family"), family, "restored from the file");
            strictEqual(again.stats.dispatches, 0);
          } finally {
            again.device.destroy();
          }
        } finally {
          dev.device.destroy();
        }
      });
      await withEnv({ XDG_CACHE_HOME: home, ABACUS_TUNE: "0" }, async () => {
        const dev = await Device.create();
        try {
          ok(!dev.tuning.has("matmul.family"), "ABACUS_TUNE=0 reads no cache file");
          launchMatmul(dev);
          await dev.sync();
          ok(!dev.tuning.has("matmul.family"), "ABACUS_TUNE=0 measures nothing");
        } finally {
          dev.device.destroy();
        }
      });
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  },
});
