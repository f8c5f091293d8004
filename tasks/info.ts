/**
 * `deno task info`: prints the WebGPU adapter abacus would use and its main limits, or a clear
 * line saying how to get one. CI runs it first to prove an adapter exists.
 * @module
 */
import { Device } from "../core/device.ts";

/**
 * Prints the adapter description and limits.
 *
 * @example
 * ```ts ignore
 * import { main } from "./info.ts";
 * await main();
 * ```
 * @returns the exit code: 0 with an adapter, 1 without
 */
export async function main(): Promise<number> {
  const dev = await Device.create().catch((e: Error) => e);
  if (dev instanceof Error) {
    console.error(dev.message);
    return 1;
  }
  const l = dev.device.limits;
  console.log(`adapter: ${dev.adapterName}${dev.isCpuAdapter ? " (CPU adapter)" : ""}`);
  console.log(
    `limits: storage binding ${l.maxStorageBufferBindingSize} B, workgroup memory ` +
      `${l.maxComputeWorkgroupStorageSize} B, invocations ${l.maxComputeInvocationsPerWorkgroup}`,
  );
  console.log(`backend override: DENO_WEBGPU_BACKEND=${Deno.env.get("DENO_WEBGPU_BACKEND") ?? ""}`);
  dev.device.destroy();
  return 0;
}

if (import.meta.main) Deno.exit(await main());
