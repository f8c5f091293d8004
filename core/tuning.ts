/**
 * Per-adapter tuning decisions that outlive a process, kept in `$XDG_CACHE_HOME/abacus/tuning.json`
 * (or `~/.cache/...`). Two halves, so that opening a device never runs a kernel:
 *
 * - `restoreTuning` reads the file when a device opens (a file read, nothing measured).
 * - `measureTuning` measures a key nobody stored (the matmul family: a fraction of a second)
 *   and saves it. It runs lazily: the matmul launcher, on finding no `matmul.family`, asks its
 *   context (`requestTuning`) and keeps to its adapter-kind guess for that launch; the device runs
 *   the measurement at its next async call (`read()` or `sync()`), after the caller's recorded work
 *   has finished and while the caller awaits it, so later launches follow the measurement.
 *
 * `ABACUS_TUNE=0` skips both (the adapter-kind guess is used).
 * @module
 */
import type { KernelContext } from "../kernels/context.ts";
import { probeMatmulFamily } from "../kernels/matmul_tune.ts";

function env(k: string): string | undefined {
  if (!("Deno" in globalThis)) return undefined; // a browser: no cache file, nothing saved
  try {
    return Deno.env.get(k);
  } catch {
    return undefined;
  }
}

/** The cache folder and file, or null without a home. */
function cachePaths(): { dir: string; file: string } | null {
  const home = env("XDG_CACHE_HOME") ?? (env("HOME") ? `${env("HOME")}/.cache` : null);
  return home ? { dir: `${home}/abacus`, file: `${home}/abacus/tuning.json` } : null;
}

async function readCache(file: string): Promise<Record<string, Record<string, string>>> {
  try {
    return JSON.parse(await Deno.readTextFile(file));
  } catch {
    return {};
  }
}

/**
 * Fills `tuning` from the cache file's entry for the adapter, when that entry holds a measured
 * matmul family (every key of it is then honoured). Measures nothing.
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { restoreTuning } from "./tuning.ts";
 * const tuning = new Map<string, string>();
 * ok(typeof await restoreTuning("no such adapter", tuning) === "boolean" && tuning.size === 0);
 * ```
 * @param adapterName the adapter's description (the file's key)
 * @returns false when `ABACUS_TUNE=0` turns tuning off (nothing is read or measured then)
 */
export async function restoreTuning(
  adapterName: string,
  tuning: Map<string, string>,
): Promise<boolean> {
  if (env("ABACUS_TUNE") === "0") return false;
  const paths = cachePaths();
  if (!paths) return true;
  const mine = (await readCache(paths.file))[adapterName];
  if (mine && typeof mine["matmul.family"] === "string") {
    for (const [k, v] of Object.entries(mine)) tuning.set(k, v);
  }
  return true;
}

/**
 * Measures the one known key, `matmul.family`, when `ctx.tuning` lacks it, stores it there and
 * saves it to the cache file (a read-only home only costs the measurement again next time).
 *
 * @example
 * ```ts ignore
 * await measureTuning(dev, () => dev.sync());
 * console.log(dev.tuning.get("matmul.family"));
 * ```
 * @param ctx kernel context (its `tuning` receives the result)
 * @param sync flushes the recorded work and waits for it
 */
export async function measureTuning(ctx: KernelContext, sync: () => Promise<void>): Promise<void> {
  if (ctx.tuning.has("matmul.family")) return;
  await probeMatmulFamily(ctx, sync);
  const paths = cachePaths();
  if (!paths) return;
  try {
    const all = await readCache(paths.file);
    all[ctx.adapterName] = { "matmul.family": ctx.tuning.get("matmul.family")! };
    await Deno.mkdir(paths.dir, { recursive: true });
    const tmp = `${paths.file}.${Deno.pid}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(all, null, 2));
    await Deno.rename(tmp, paths.file);
  } catch {
    // A read-only home only costs the probe again next time.
  }
}
