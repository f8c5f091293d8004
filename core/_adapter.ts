/**
 * Finding a WebGPU adapter and opening a device with all of its limits (private to
 * `core/device.ts`).
 * @module
 */

/** An opened device and what abacus needs to know about its adapter. */
export interface OpenedGpu {
  /** The device, with the adapter's limits required. */
  device: GPUDevice;
  /** Adapter description. */
  name: string;
  /** Whether the adapter is a CPU rasterizer (llvmpipe, lavapipe, SwiftShader, WARP). */
  isCpu: boolean;
}

/**
 * Mesa's drivers look for a display server when they load and print "error: XDG_RUNTIME_DIR is
 * invalid or not set" twice on a machine whose environment lacks the variable (a container, a
 * CI job, ssh without a session). Point it at the system's temporary folder before the driver is
 * loaded; a value the user set is kept. Skipped without the env permission.
 */
function quietDisplayProbe(): void {
  if (!("Deno" in globalThis) || Deno.build.os !== "linux") return; // a browser has no driver env
  if (Deno.permissions.querySync({ name: "env" }).state !== "granted") return;
  const dir = Deno.env.get("XDG_RUNTIME_DIR");
  if (dir !== undefined && dir !== "") return;
  Deno.env.set("XDG_RUNTIME_DIR", Deno.env.get("TMPDIR") || "/tmp");
}

/**
 * Requests the high-performance adapter and a device with every limit the adapter offers (and
 * the `subgroups` feature when it has it).
 *
 * @example
 * ```ts ignore
 * const { device, name, isCpu } = await openGpu();
 * ```
 * @throws Error when no WebGPU adapter exists, saying how to get one
 */
export async function openGpu(): Promise<OpenedGpu> {
  quietDisplayProbe();
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  const adapter = gpu ? await gpu.requestAdapter({ powerPreference: "high-performance" }) : null;
  if (!adapter) {
    throw new Error(
      "No WebGPU adapter found: install a driver (on Linux without a GPU: " +
        "apt-get install mesa-vulkan-drivers) or choose the cpu backend (ABACUS_BACKEND=cpu)",
    );
  }
  const requiredLimits: Record<string, number> = {};
  const lim = adapter.limits as unknown as Record<string, number>;
  for (const key in adapter.limits) {
    const v = lim[key];
    if (typeof v === "number") requiredLimits[key] = v;
  }
  // Subgroup operations when the adapter offers them (row reductions use them on GPUs).
  const requiredFeatures = adapter.features.has("subgroups" as GPUFeatureName)
    ? ["subgroups" as GPUFeatureName]
    : [];
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const info = adapter.info;
  // Browsers often leave the description empty (Chromium: vendor "google", architecture
  // "swiftshader"), so the other fields name the adapter there.
  const name = info.description ||
    [info.vendor, info.architecture, info.device].filter(Boolean).join(" ");
  const isCpu = info.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader|warp/i.test(name);
  return { device, name, isCpu };
}
