/**
 * Per-adapter tuning decisions that outlive a process: restored from
 * `$XDG_CACHE_HOME/abacus/tuning.json` (or `~/.cache/...`), measured on first use (the matmul
 * family: a fraction of a second) and saved for later processes.
 * @module
 */
import { probeMatmulFamily } from "../kernels/matmul_tune.ts";
import type { Device } from "./device.ts";

/**
 * Fills `dev.tuning` from the cache file, measuring and saving what is missing.
 * `ABACUS_TUNE=0` skips it (the adapter-kind guess is used).
 *
 * @example
 * ```ts ignore
 * await loadTuning(dev);
 * console.log(dev.tuning.get("matmul.family"));
 * ```
 * @param dev the device
 */
export async function loadTuning(dev: Device): Promise<void> {
  const env = (k: string) => {
    try {
      return Deno.env.get(k);
    } catch {
      return undefined;
    }
  };
  if (env("ABACUS_TUNE") === "0") return;
  const home = env("XDG_CACHE_HOME") ?? (env("HOME") ? `${env("HOME")}/.cache` : null);
  const file = home ? `${home}/abacus/tuning.json` : null;
  let all: Record<string, Record<string, string>> = {};
  try {
    if (file) all = JSON.parse(await Deno.readTextFile(file));
  } catch {
    all = {};
  }
  const mine = all[dev.adapterName];
  if (mine && typeof mine["matmul.family"] === "string") {
    for (const [k, v] of Object.entries(mine)) dev.tuning.set(k, v);
    return;
  }
  await probeMatmulFamily(dev, () => dev.sync());
  if (!file) return;
  try {
    all[dev.adapterName] = { "matmul.family": dev.tuning.get("matmul.family")! };
    await Deno.mkdir(`${home}/abacus`, { recursive: true });
    const tmp = `${file}.${Deno.pid}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(all, null, 2));
    await Deno.rename(tmp, file);
  } catch {
    // A read-only home only costs the probe again next time.
  }
}
