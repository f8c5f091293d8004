/**
 * Shared test helpers for kernel tests: the device, seeded random inputs, poisoned outputs
 * (so unwritten elements fail), GPU runs and relative-error comparison against CPU references.
 * @module
 */
import { type Device, getDevice } from "../../core/device.ts";
import { fillKernel } from "../../kernels/fill.ts";
import type { KernelContext } from "../../kernels/context.ts";

/** The shared device, or null when no adapter exists (GPU tests then skip). */
export async function maybeDevice(): Promise<Device | null> {
  try {
    return await getDevice();
  } catch {
    return null;
  }
}

/** Whether a WebGPU adapter exists (evaluated once at module load). */
export const HAS_GPU: boolean = (await maybeDevice()) !== null;

/** A tiny seeded generator for test inputs (mulberry32), independent of the library's Rng. */
export function mulberry(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded uniform values in [lo, hi). */
export function randArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = mulberry(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}

/** Seeded integers in [0, hi). */
export function randInts(n: number, seed: number, hi: number): Int32Array {
  const r = mulberry(seed);
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.floor(r() * hi);
  return a;
}

/** Uploads an array into a new pooled buffer. */
export function upload(
  dev: Device,
  data: Float32Array | Int32Array | Uint32Array,
): GPUBuffer {
  const b = dev.pool.acquire(Math.max(4, data.byteLength));
  dev.upload(b, data);
  return b;
}

/** A pooled output buffer of n elements filled with NaN (f32) or 0x7fffffff (ints). */
export function poisoned(dev: Device, n: number, dtype: "f32" | "i32" = "f32"): GPUBuffer {
  const b = dev.pool.acquire(Math.max(4, n * 4));
  fillKernel.gpu(dev, { out: b, n, value: dtype === "f32" ? NaN : 0x7fffffff, dtype });
  return b;
}

/** Reads n f32 values back. */
export async function readF32(dev: Device, b: GPUBuffer, n: number): Promise<Float32Array> {
  return new Float32Array(await dev.read(b, n * 4));
}

/** Reads n i32 values back. */
export async function readI32(dev: Device, b: GPUBuffer, n: number): Promise<Int32Array> {
  return new Int32Array(await dev.read(b, n * 4));
}

/** Max relative error: |a-b| / max(|b|, floor), NaN-aware (NaN anywhere = Infinity). */
export function maxRelError(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  floor = 1e-3,
): number {
  if (got.length !== want.length) return Infinity;
  let m = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), floor);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Asserts max relative error is under tol with a message naming the worst index. */
export function assertClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol = 1e-4,
  what = "values",
  floor = 1e-3,
): void {
  if (got.length !== want.length) {
    throw new Error(`${what}: length ${got.length} != ${want.length}`);
  }
  let worst = -1, m = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), floor);
    if (!(d <= m)) {
      m = Number.isNaN(d) ? Infinity : d;
      worst = i;
    }
  }
  if (m > tol) {
    throw new Error(
      `${what}: max rel error ${m} at ${worst} (got ${got[worst]}, want ${want[worst]})`,
    );
  }
}

/** Releases pooled buffers. */
export function release(dev: Device, ...bufs: GPUBuffer[]): void {
  for (const b of bufs) dev.pool.release(b);
}

/** Options for GPU tests: skipped (ignored) when there is no adapter; no leak sanitizers. */
export const gpuTest = { ignore: !HAS_GPU, sanitizeResources: false, sanitizeOps: false };

/**
 * The device as a CPU adapter without buffer-to-texture copies: launchers then read their inputs
 * from storage buffers (the path real GPUs and copy-less contexts take) with the CPU geometry.
 */
export function storageContext(dev: Device): KernelContext {
  return {
    device: dev.device,
    adapterName: dev.adapterName,
    isCpuAdapter: dev.isCpuAdapter,
    maxWorkgroups: dev.maxWorkgroups,
    dispatch: (spec) => dev.dispatch(spec),
    scratch: (bytes) => dev.scratch(bytes),
    scratchTexture: (w, h, l) => dev.scratchTexture(w, h, l),
    tuning: dev.tuning,
  };
}

/** The two input paths kernel tests run: flat textures (on CPU adapters) and storage buffers. */
export function inputPaths(dev: Device): [string, KernelContext][] {
  return [["textures", dev], ["buffers", storageContext(dev)]];
}

/**
 * The device with a storage binding limit of `bytes` (the `maxBinding` tuning value), so that
 * launchers of whole-buffer kernels split their work into many binding-sized chunks.
 */
export function chunkedContext(dev: Device, bytes: number): KernelContext {
  return {
    ...storageContext(dev),
    tuning: new Map([...dev.tuning, ["maxBinding", String(bytes)]]),
  };
}

/** The device presented as a discrete GPU (no copies): launchers take their GPU code paths. */
export function gpuStyleContext(dev: Device): KernelContext {
  return { ...storageContext(dev), isCpuAdapter: false };
}

/** `n` values followed by NaN up to `len` (so reads past `n` would poison the result). */
export function withNaNTail(values: Float32Array, len: number): Float32Array {
  const a = new Float32Array(len).fill(NaN);
  a.set(values);
  return a;
}
