/**
 * The WebGPU device layer: adapter and device with the adapter's larger limits, a pipeline cache,
 * the buffer pool, and a command recorder that puts many dispatches into one submit (a submit
 * plus a wait costs ~11.6 ms on llvmpipe whatever the work, so a training step is one submit).
 *
 * Per-adapter tuning decisions outlive a process in `$XDG_CACHE_HOME/abacus/tuning.json` (or
 * `~/.cache/...`), in two halves so that opening a device never runs a kernel: opening restores
 * the file's entry (a file read, nothing measured); a key nobody stored (the matmul family, a
 * fraction of a second to measure) is measured lazily: the matmul launcher, on finding no
 * `matmul.family`, asks its context (`requestTuning`) and keeps to its adapter-kind guess for that
 * launch; the device runs the measurement at its next async call (`read()` or `sync()`), after the
 * caller's recorded work has finished and while the caller awaits it, so later launches follow
 * the measurement. `ABACUS_TUNE=0` skips both (the adapter-kind guess is used).
 * @module
 */
import {
  type Binding,
  type Buf,
  bufParts,
  type DispatchSpec,
  type KernelContext,
} from "../kernels/context.ts";
import { BufferPool } from "./pool.ts";
import { probeMatmulFamily } from "../kernels/matmul_tune.ts";

const MAP_READ = 0x1, COPY_SRC = 0x4, COPY_DST = 0x8;

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

/** The cache file's entries by adapter name ({} when it is missing or unreadable). */
function readCache(file: string): Promise<Record<string, Record<string, string>>> {
  return Deno.readTextFile(file).then(JSON.parse).catch(() => ({}));
}

/**
 * Fills `tuning` from the cache file's entry for the adapter, when that entry holds a measured
 * matmul family (every key of it is then honoured). Measures nothing; returns false when
 * `ABACUS_TUNE=0` turns tuning off.
 */
async function restoreTuning(
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
 * Measures the one known key, `matmul.family`, when `ctx.tuning` lacks it (`sync` flushes the
 * recorded work and waits for it), stores it there and saves it to the cache file.
 */
async function measureTuning(ctx: KernelContext, sync: () => Promise<void>): Promise<void> {
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

/**
 * Environment for Mesa's drivers, set before they load (values the user set are kept; skipped
 * outside Linux and without the env permission):
 * - `XDG_RUNTIME_DIR`: without it they look for a display server and print "error:
 *   XDG_RUNTIME_DIR is invalid or not set" twice (a container, a CI job, ssh without a session);
 *   point it at the temporary folder.
 * - `LP_NUM_THREADS`: llvmpipe (the CPU adapter) splits each dispatch's workgroups statically into
 *   one chunk per thread, one thread per core by default, so a thread delayed by anything else on
 *   the machine stalls the whole dispatch (the tiny training step swung between 46 and 70 ms on 2
 *   cores); with twice as many threads as cores the kernel's scheduler balances the chunks (steady
 *   46-48 ms; bench/NOTES.md). Other drivers ignore it.
 */
function driverEnvironment(): void {
  if (!("Deno" in globalThis) || Deno.build.os !== "linux") return; // a browser has no driver env
  if (Deno.permissions.querySync({ name: "env" }).state !== "granted") return;
  if (!Deno.env.get("XDG_RUNTIME_DIR")) {
    Deno.env.set("XDG_RUNTIME_DIR", Deno.env.get("TMPDIR") || "/tmp");
  }
  if (Deno.env.get("LP_NUM_THREADS") === undefined) {
    Deno.env.set("LP_NUM_THREADS", String(2 * (navigator.hardwareConcurrency || 1)));
  }
}

/**
 * Requests the high-performance adapter and a device with every limit the adapter offers (and
 * the `subgroups` feature when it has it); `isCpu` for CPU rasterizers (llvmpipe, lavapipe,
 * SwiftShader, WARP).
 */
async function openGpu(): Promise<{ device: GPUDevice; name: string; isCpu: boolean }> {
  driverEnvironment();
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

/** Bind groups kept before the cache is emptied. */
const MAX_GROUPS = 4096;

/** Rounds a texture extent up to its class: n up to 16, else powers of two in four steps. */
function textureClass(n: number, max: number): number {
  if (n <= 16) return n;
  const step = 2 ** Math.floor(Math.log2(n)) / 4;
  return Math.min(max, Math.ceil(n / step) * step);
}

const UNIFORM = 0x40, UNIFORM_BYTES = 1 << 16;

/** A 64 KiB uniform buffer and its CPU copy, filled up to `used` bytes. */
interface UniformArena {
  gpu: GPUBuffer;
  cpu: Uint8Array<ArrayBuffer>;
  used: number;
}

/**
 * A WebGPU device with a pipeline cache, a buffer pool and a one-submit command recorder.
 *
 * Get the shared instance with `getDevice()`. Dispatches recorded through `dispatch` run at the
 * next `flush()` (or `read()`, which flushes). `KernelContext` documents the members launchers use.
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
  readonly device: GPUDevice;
  readonly adapterName: string;
  readonly isCpuAdapter: boolean;
  readonly maxWorkgroups: number;
  /** Largest 2D texture extent (read once: `device.limits` is a native getter). */
  readonly #maxTexture: number;
  /** Buffer pool for tensors and scratch. */
  readonly pool: BufferPool;
  tuning: Map<string, string> = new Map();
  /**
   * Counters that benchmarks and tests read (tuning measurements are left out): `readbacks` are
   * map-async round trips, `bindGroups` those created (the other dispatches reused a cached one).
   */
  readonly stats = { submits: 0, dispatches: 0, readbacks: 0, pipelines: 0, bindGroups: 0 };

  // Pipelines by WGSL text and entry point, bind groups by pipeline and resources. Pipelines are
  // keyed by the code string itself (launchers reuse their generated strings, whose hashes V8
  // keeps), not by a concatenation that would be hashed again on every dispatch. Bind groups are
  // keyed by object ids: a training step binds the same pooled buffers, recycled textures and
  // uniform slices every step, and creating ~100 bind groups per step costs more host time than
  // looking them up. Entries for destroyed buffers are never hit again (a new buffer gets a new
  // id); the cache is emptied when it holds `MAX_GROUPS` groups.
  #pipelines = new Map<string, Map<string, GPUComputePipeline>>();
  #ids = new WeakMap<object, number>();
  #nextId = 1;
  #groups = new Map<string, GPUBindGroup>();
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  // Per-submission uniform slices: each dispatch's params go into a 256-byte-aligned slice of a
  // uniform buffer, filled on the CPU while the submission is recorded and written to the GPU just
  // before it is submitted (so values such as a learning rate change per dispatch without
  // recompiling); the buffers are recycled for the next submission.
  #uniformAlign: number;
  #uniforms: UniformArena[] = [];
  #freeUniforms: UniformArena[] = [];
  #scratch: GPUBuffer[] = [];
  // Recycled scratch textures: free ones by size class, and those the recorded submission uses.
  #freeTextures = new Map<string, GPUTexture[]>();
  #texturesInFlight: [string, GPUTexture][] = [];
  // Textures filled from buffers in this submission, by source buffer, then by `textureFrom` key.
  #filled = new Map<GPUBuffer, Map<string, GPUTexture>>();
  #staging: GPUBuffer[] = [];
  #readPool: BufferPool;
  #errors: string[] = [];
  #tuningOn = false;
  #wanted = new Set<string>();
  #measuring: Promise<void> | null = null;

  /** Wraps a device; use `getDevice()` or `Device.create()` instead. */
  constructor(device: GPUDevice, adapterName: string, isCpu: boolean) {
    this.device = device;
    this.adapterName = adapterName;
    this.isCpuAdapter = isCpu;
    const limits = device.limits;
    this.maxWorkgroups = limits.maxComputeWorkgroupsPerDimension;
    this.#maxTexture = limits.maxTextureDimension2D;
    this.#uniformAlign = Math.max(256, limits.minUniformBufferOffsetAlignment);
    this.pool = new BufferPool(device);
    this.#readPool = new BufferPool(device, MAP_READ | COPY_DST);
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
   * Asks for a tuning key to be measured at the next `read()` or `sync()` (see the module notes);
   * nothing happens when the key is known, or when tuning is off (`ABACUS_TUNE=0`, or a device
   * made with `new Device` rather than `Device.create`).
   */
  requestTuning(key: string): void {
    if (this.#tuningOn && !this.tuning.has(key)) this.#wanted.add(key);
  }

  /** Runs the requested measurement (later callers await the same one). */
  #measureRequested(): Promise<void> {
    if (!this.#measuring && this.#wanted.size > 0) {
      this.#wanted.clear();
      const { submits, dispatches } = this.stats;
      this.#measuring = measureTuning(this, () => this.#drain()).finally(() => {
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
    let byCode = this.#pipelines.get(entry);
    if (!byCode) this.#pipelines.set(entry, byCode = new Map());
    let p = byCode.get(code);
    if (!p) {
      const module = this.device.createShaderModule({ code });
      p = this.device.createComputePipeline({
        layout: "auto",
        compute: { module, entryPoint: entry },
      });
      byCode.set(code, p);
      this.stats.pipelines++;
    }
    return p;
  }

  /** The bind group of `resources` at bindings 0.. of a pipeline's layout 0, made on first use. */
  #bindGroup(pipeline: GPUComputePipeline, resources: Binding[]): GPUBindGroup {
    let key = String(this.#id(pipeline));
    for (const r of resources) {
      if ("buffer" in r) key += `|${this.#id(r.buffer)}:${r.offset ?? 0}:${r.size ?? -1}`;
      else key += `|${this.#id(r)}`;
    }
    let group = this.#groups.get(key);
    if (!group) {
      if (this.#groups.size >= MAX_GROUPS) this.#groups.clear();
      const entries: GPUBindGroupEntry[] = resources.map((r, i) => ({ binding: i, resource: r }));
      group = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
      this.#groups.set(key, group);
      this.stats.bindGroups++;
    }
    return group;
  }

  #id(o: object): number {
    let id = this.#ids.get(o);
    if (id === undefined) this.#ids.set(o, id = this.#nextId++);
    return id;
  }

  #ensurePass(): GPUComputePassEncoder {
    return this.#pass ??= (this.#encoder ??= this.device.createCommandEncoder()).beginComputePass();
  }

  #endPass(): GPUCommandEncoder {
    this.#pass?.end();
    this.#pass = null;
    return this.#encoder ??= this.device.createCommandEncoder();
  }

  /** Copies `data` (at most 256 bytes) into a fresh uniform slice of the current submission. */
  #uniformSlice(data: ArrayBufferView): GPUBufferBinding {
    const bytes = data instanceof Uint8Array
      ? data
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let arena = this.#uniforms[this.#uniforms.length - 1];
    if (!arena || arena.used + this.#uniformAlign > UNIFORM_BYTES) {
      arena = this.#freeUniforms.pop() ?? {
        gpu: this.device.createBuffer({ size: UNIFORM_BYTES, usage: UNIFORM | COPY_DST }),
        cpu: new Uint8Array(UNIFORM_BYTES),
        used: 0,
      };
      arena.used = 0;
      this.#uniforms.push(arena);
    }
    const offset = arena.used;
    arena.cpu.set(bytes, offset);
    arena.used += this.#uniformAlign;
    return { buffer: arena.gpu, offset, size: Math.max(16, Math.ceil(bytes.length / 16) * 16) };
  }

  /** Records one dispatch into the current submission. */
  dispatch(spec: DispatchSpec): void {
    if (this.#filled.size) { for (const b of spec.writes ?? spec.bindings) this.#wrote(b); }
    const pipeline = this.pipeline(spec.code);
    const all: Binding[] = spec.params
      ? [...spec.bindings, this.#uniformSlice(spec.params)]
      : spec.bindings;
    const group = this.#bindGroup(pipeline, all);
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
    const w = textureClass(width, this.#maxTexture), h = textureClass(height, this.#maxTexture);
    const key = `${w}x${h}x${layers}`;
    const tex = this.#freeTextures.get(key)?.pop() ?? this.device.createTexture({
      size: [w, h, layers],
      format: "rgba32float",
      dimension: "2d",
      usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.TEXTURE_BINDING |
        GPUTextureUsage.COPY_DST,
    });
    this.#texturesInFlight.push([key, tex]);
    return tex;
  }

  /**
   * Uploads bytes into a buffer in submission order (a recorded copy when commands are pending,
   * so that a reused pool buffer is not overwritten before earlier commands read it).
   *
   * @param data bytes to write at the start of `dst`
   */
  upload(dst: Buf, data: ArrayBufferView): void {
    if (data.byteLength === 0) return;
    const [buffer, base] = bufParts(dst);
    this.#filled.delete(buffer);
    const n = Math.ceil(data.byteLength / 4) * 4;
    const src = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    if (!this.#encoder) {
      // writeBuffer takes whole 4-byte words: a ragged tail is padded with zeros.
      const bytes = n === src.length ? src : new Uint8Array(n);
      if (bytes !== src) bytes.set(src);
      return this.device.queue.writeBuffer(buffer, base, bytes);
    }
    const staging = this.device.createBuffer({ size: n, usage: COPY_SRC, mappedAtCreation: true });
    new Uint8Array(staging.getMappedRange()).set(src);
    staging.unmap();
    this.#endPass().copyBufferToBuffer(staging, 0, buffer, base, n);
    this.#staging.push(staging);
  }

  /**
   * Records a buffer-to-texture copy in submission order.
   *
   * @param layout bytes per row (a multiple of 256) and rows per array layer
   * @param size texels copied: [width, height, layers]
   * @param origin first texel written: [x, y, layer]; default the origin
   */
  copyBufferToTexture(
    src: Buf,
    layout: { bytesPerRow: number; rowsPerImage: number },
    dst: GPUTexture,
    size: [number, number, number],
    origin?: [number, number, number],
  ): void {
    const [buffer, offset] = bufParts(src);
    const { bytesPerRow, rowsPerImage } = layout;
    // Extents and origins as dictionaries, and no origin at the texture's origin: Deno converts
    // them ~1 us faster per copy than sequences (bench/NOTES.md); a step records ~100 copies.
    const at = origin && (origin[0] || origin[1] || origin[2])
      ? { x: origin[0], y: origin[1], z: origin[2] }
      : null;
    this.#endPass().copyBufferToTexture(
      { buffer, offset, bytesPerRow, rowsPerImage },
      at ? { texture: dst, origin: at } : { texture: dst },
      { width: size[0], height: size[1], depthOrArrayLayers: size[2] },
    );
  }

  /**
   * Records zeroing the first `bytes` bytes (a multiple of 4) of a buffer in submission order (a
   * memset on CPU adapters, far cheaper than a fill dispatch).
   */
  clearBuffer(dst: Buf, bytes: number): void {
    const [buffer, offset] = bufParts(dst);
    this.#filled.delete(buffer);
    this.#endPass().clearBuffer(buffer, offset, bytes);
  }

  /**
   * Returns the texture `make` fills from `src`, or the one filled from the same buffer with the
   * same `key` earlier in this submission if nothing has written the buffer since: no dispatch
   * listing it in `writes` (or binding it at all, without `writes`), no upload, no clear. A CPU
   * adapter then copies an activation into a texture once, not once per kernel that reads it.
   *
   * @param key what else the contents depend on (range, layout)
   */
  textureFrom(src: Buf, key: string, make: () => GPUTexture | null): GPUTexture | null {
    const buffer = bufParts(src)[0];
    const known = this.#filled.get(buffer)?.get(key);
    if (known) return known;
    const tex = make(); // (which may dispatch: look the buffer's entries up again after it)
    if (tex) {
      let byKey = this.#filled.get(buffer);
      if (!byKey) this.#filled.set(buffer, byKey = new Map());
      byKey.set(key, tex);
    }
    return tex;
  }

  // A dispatch may write `b`: textures filled from its buffer may be stale from now on.
  #wrote(b: Binding): void {
    if (b instanceof GPUBuffer) this.#filled.delete(b);
    else if ("buffer" in b) this.#filled.delete(b.buffer);
  }

  /** Submits everything recorded so far as one command buffer. */
  flush(): void {
    if (!this.#encoder) return;
    const encoder = this.#endPass();
    this.#encoder = null;
    this.#filled.clear(); // the scratch textures go back to their free lists below
    for (const a of this.#uniforms) this.device.queue.writeBuffer(a.gpu, 0, a.cpu, 0, a.used);
    this.#freeUniforms.push(...this.#uniforms);
    this.#uniforms = [];
    this.device.queue.submit([encoder.finish()]);
    this.stats.submits++;
    for (const b of this.#scratch) this.pool.release(b);
    this.#scratch = [];
    for (const [key, tex] of this.#texturesInFlight) {
      const list = this.#freeTextures.get(key);
      if (list) list.push(tex);
      else this.#freeTextures.set(key, [tex]);
    }
    this.#texturesInFlight = [];
    for (const s of this.#staging) s.destroy();
    this.#staging = [];
  }

  /**
   * Copies `bytes` bytes of a buffer back to the CPU (flushing pending work first).
   *
   * @param src source buffer or range (COPY_SRC)
   */
  async read(src: Buf, bytes: number, offset = 0): Promise<ArrayBuffer> {
    const [buffer, base] = bufParts(src);
    offset += base;
    const n = Math.ceil(bytes / 4) * 4;
    const staging = this.#readPool.acquire(n);
    if (n > 0) this.#endPass().copyBufferToBuffer(buffer, offset, staging, 0, n);
    this.flush();
    this.stats.readbacks++;
    await staging.mapAsync(GPUMapMode.READ, 0, Math.max(n, 4));
    const out = staging.getMappedRange(0, Math.max(n, 4)).slice(0, bytes);
    staging.unmap();
    this.#readPool.release(staging);
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
