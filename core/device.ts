/**
 * The WebGPU device layer: adapter and device with the adapter's larger limits, a pipeline cache,
 * the buffer pool, and a command recorder that puts many dispatches into one submit (a submit
 * plus a wait costs ~11.6 ms on llvmpipe whatever the work, so a training step is one submit).
 * Opening a device restores its tuning from the cache file and runs no kernel; what a launcher
 * asks to measure (`requestTuning`) is measured at the next `read()` or `sync()`
 * (`core/tuning.ts`).
 * @module
 */
import {
  type Binding,
  type Buf,
  bufParts,
  type DispatchSpec,
  type KernelContext,
} from "../kernels/context.ts";
import { openGpu } from "./_adapter.ts";
import { GpuCache } from "./_gpu_cache.ts";
import { ScratchTextures } from "./_scratch_textures.ts";
import { UniformSlices } from "./_uniforms.ts";
import { BufferPool, sizeClass } from "./pool.ts";
import { measureTuning, restoreTuning } from "./tuning.ts";

const MAP_READ = 0x1, COPY_SRC = 0x4, COPY_DST = 0x8;

/** Counters that benchmarks and tests read (tuning measurements are left out). */
export interface DeviceStats {
  /** Queue submits. */
  submits: number;
  /** Dispatches recorded. */
  dispatches: number;
  /** Buffer readbacks (map-async round trips). */
  readbacks: number;
  /** Pipelines compiled. */
  pipelines: number;
  /** Bind groups created (the rest of the dispatches reused a cached one). */
  bindGroups: number;
}

/**
 * A WebGPU device with a pipeline cache, a buffer pool and a one-submit command recorder.
 *
 * Get the shared instance with `getDevice()`. Dispatches recorded through `dispatch` run at the
 * next `flush()` (or `read()`, which flushes).
 *
 * @example
 * ```ts ignore
 * import { getDevice } from "./device.ts";
 * const dev = await getDevice();
 * console.log(dev.adapterName);
 * ```
 */
export class Device implements KernelContext {
  /** Backend discriminator (see `core/tensor.ts`). */
  readonly kind = "webgpu" as const;
  /** The WebGPU device. */
  readonly device: GPUDevice;
  /** Adapter description. */
  readonly adapterName: string;
  /** True on CPU adapters such as llvmpipe. */
  readonly isCpuAdapter: boolean;
  /** Largest workgroup count per dimension. */
  readonly maxWorkgroups: number;
  /** Buffer pool for tensors and scratch. */
  readonly pool: BufferPool;
  /** Per-adapter tuning decisions. */
  tuning: Map<string, string> = new Map();
  /** Counters. */
  readonly stats: DeviceStats = {
    submits: 0,
    dispatches: 0,
    readbacks: 0,
    pipelines: 0,
    bindGroups: 0,
  };

  #cache: GpuCache;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #uniforms: UniformSlices;
  #scratch: GPUBuffer[] = [];
  #textures: ScratchTextures;
  #staging: GPUBuffer[] = [];
  #readPool = new Map<number, GPUBuffer[]>();
  #errors: string[] = [];
  #tuningOn = false;
  #wanted = new Set<string>();
  #measuring: Promise<void> | null = null;

  /** Wraps a device; use `getDevice()` or `Device.create()` instead. */
  constructor(device: GPUDevice, adapterName: string, isCpu: boolean) {
    this.device = device;
    this.adapterName = adapterName;
    this.isCpuAdapter = isCpu;
    this.maxWorkgroups = device.limits.maxComputeWorkgroupsPerDimension;
    this.#uniforms = new UniformSlices(device);
    this.pool = new BufferPool(device);
    this.#cache = new GpuCache(device);
    this.#textures = new ScratchTextures(device);
    device.addEventListener("uncapturederror", (e) => {
      const msg = (e as GPUUncapturedErrorEvent).error.message;
      this.#errors.push(msg);
      console.error(`WebGPU error: ${msg.split("\n").slice(0, 8).join("\n")}`);
    });
  }

  /**
   * Requests an adapter and a device with the adapter's limits.
   *
   * @throws Error when no WebGPU adapter exists, saying how to get one
   */
  static async create(): Promise<Device> {
    const { device, name, isCpu } = await openGpu();
    const dev = new Device(device, name, isCpu);
    dev.#tuningOn = await restoreTuning(dev.adapterName, dev.tuning);
    return dev;
  }

  /**
   * Asks for a tuning key to be measured (`matmul.family`: launchers call this when they fall
   * back to their heuristic). The measurement runs at the next `read()` or `sync()`, once the
   * work recorded before it has finished; nothing happens when the key is known, or when tuning is
   * off (`ABACUS_TUNE=0`, or a device made with `new Device` rather than `Device.create`).
   */
  requestTuning(key: string): void {
    if (this.#tuningOn && !this.tuning.has(key)) this.#wanted.add(key);
  }

  /** Runs the requested measurements (one batch at a time; later callers await the same one). */
  #measureRequested(): Promise<void> {
    if (!this.#measuring && this.#wanted.size > 0) {
      const keys = [...this.#wanted];
      this.#wanted.clear();
      const { submits, dispatches } = this.stats;
      this.#measuring = measureTuning(this, keys, () => this.#drain()).finally(() => {
        this.#measuring = null;
        Object.assign(this.stats, { submits, dispatches }); // the counters are the caller's work
      });
    }
    return this.#measuring ?? Promise.resolve();
  }

  /** Error messages WebGPU reported so far (validation, out of memory). */
  get errors(): readonly string[] {
    return this.#errors;
  }

  /** Returns the compiled pipeline for a WGSL module, compiling it on first use. */
  pipeline(code: string, entry = "main"): GPUComputePipeline {
    const p = this.#cache.pipeline(code, entry);
    this.stats.pipelines = this.#cache.pipelines;
    return p;
  }

  #ensurePass(): GPUComputePassEncoder {
    if (!this.#encoder) this.#encoder = this.device.createCommandEncoder();
    if (!this.#pass) this.#pass = this.#encoder.beginComputePass();
    return this.#pass;
  }

  #endPass(): GPUCommandEncoder {
    if (!this.#encoder) this.#encoder = this.device.createCommandEncoder();
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
    return this.#encoder;
  }

  /**
   * Records one dispatch into the current submission.
   *
   * @param spec shader, bindings, optional uniform params, workgroup counts
   */
  dispatch(spec: DispatchSpec): void {
    const pipeline = this.pipeline(spec.code);
    const all: Binding[] = spec.params
      ? [...spec.bindings, this.#uniforms.slice(spec.params)]
      : spec.bindings;
    const group = this.#cache.bindGroup(pipeline, all);
    this.stats.bindGroups = this.#cache.bindGroups;
    const pass = this.#ensurePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    const [x, y = 1, z = 1] = spec.workgroups;
    pass.dispatchWorkgroups(x, y, z);
    this.stats.dispatches++;
  }

  /** Returns a pooled scratch buffer that goes back to the pool at the next flush. */
  scratch(bytes: number): GPUBuffer {
    const b = this.pool.acquire(bytes);
    this.#scratch.push(b);
    return b;
  }

  /**
   * Returns an `rgba32float` 2D-array texture of at least `width` x `height` texels and exactly
   * `layers` layers, recycled after the current submission. Width and height are rounded up to
   * size classes (powers of two in four steps, so at most 25% larger; powers of two exactly), so
   * that the recycled textures come in few sizes when shapes vary (evaluation's prompt lengths).
   */
  scratchTexture(width: number, height: number, layers: number): GPUTexture {
    return this.#textures.take(width, height, layers);
  }

  /**
   * Uploads bytes into a buffer in submission order (a recorded copy when commands are pending,
   * so that a reused pool buffer is not overwritten before earlier commands read it).
   *
   * @param dst destination (a buffer or a range of one)
   * @param data bytes to write at the start of `dst`
   */
  upload(dst: Buf, data: ArrayBufferView): void {
    if (data.byteLength === 0) return;
    const [buffer, base] = bufParts(dst);
    const n = Math.ceil(data.byteLength / 4) * 4;
    const src = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    if (!this.#encoder) {
      if (n === data.byteLength) this.device.queue.writeBuffer(buffer, base, src);
      else {
        const padded = new Uint8Array(n);
        padded.set(src);
        this.device.queue.writeBuffer(buffer, base, padded);
      }
      return;
    }
    const staging = this.device.createBuffer({ size: n, usage: COPY_SRC, mappedAtCreation: true });
    new Uint8Array(staging.getMappedRange()).set(src);
    staging.unmap();
    this.#endPass().copyBufferToBuffer(staging, 0, buffer, base, n);
    this.#staging.push(staging);
  }

  /**
   * Records a buffer-to-buffer copy in submission order.
   *
   * @param srcOffset byte offset in the source
   * @param dstOffset byte offset in the destination
   * @param bytes byte count (a multiple of 4)
   */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.#endPass().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /**
   * Records a buffer-to-texture copy in submission order.
   *
   * @param src source buffer or range
   * @param layout bytes per row (a multiple of 256) and rows per array layer
   * @param size texels copied: [width, height, layers]
   * @param origin first texel written: [x, y, layer]; default the origin
   */
  copyBufferToTexture(
    src: Buf,
    layout: { bytesPerRow: number; rowsPerImage: number },
    dst: GPUTexture,
    size: [number, number, number],
    origin: [number, number, number] = [0, 0, 0],
  ): void {
    const [buffer, offset] = bufParts(src);
    this.#endPass().copyBufferToTexture(
      { buffer, offset, ...layout },
      { texture: dst, origin },
      size,
    );
  }

  /** Submits everything recorded so far as one command buffer. */
  flush(): void {
    if (!this.#encoder) return;
    const encoder = this.#endPass();
    this.#encoder = null;
    this.#uniforms.submitting();
    this.device.queue.submit([encoder.finish()]);
    this.stats.submits++;
    for (const b of this.#scratch) this.pool.release(b);
    this.#scratch = [];
    this.#textures.submitted();
    for (const s of this.#staging) s.destroy();
    this.#staging = [];
  }

  /**
   * Copies `bytes` bytes of a buffer back to the CPU (flushing pending work first).
   *
   * @param src source buffer or range (COPY_SRC)
   * @returns a copy of the bytes
   */
  async read(src: Buf, bytes: number, offset = 0): Promise<ArrayBuffer> {
    const [buffer, base] = bufParts(src);
    offset += base;
    const n = Math.ceil(bytes / 4) * 4;
    const size = sizeClass(n);
    const list = this.#readPool.get(size);
    const staging = list?.pop() ?? this.device.createBuffer({ size, usage: MAP_READ | COPY_DST });
    if (n > 0) this.#endPass().copyBufferToBuffer(buffer, offset, staging, 0, n);
    this.flush();
    this.stats.readbacks++;
    await staging.mapAsync(GPUMapMode.READ, 0, Math.max(n, 4));
    const out = staging.getMappedRange(0, Math.max(n, 4)).slice(0, bytes);
    staging.unmap();
    const back = this.#readPool.get(size);
    if (back) back.push(staging);
    else this.#readPool.set(size, [staging]);
    await this.#measureRequested();
    return out;
  }

  /** Flushes and waits until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    await this.#drain();
    await this.#measureRequested();
  }

  async #drain(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }
}

let shared: Promise<Device> | null = null;

/**
 * Returns the process-wide WebGPU device, creating it on first call.
 *
 * @example
 * ```ts ignore
 * import { getDevice } from "./device.ts";
 * const dev = await getDevice();
 * ```
 */
export function getDevice(): Promise<Device> {
  if (!shared) shared = Device.create();
  shared.catch(() => (shared = null));
  return shared;
}
