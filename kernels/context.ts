/**
 * The narrow interface every kernel launcher talks to: record a dispatch, get scratch memory.
 * Launchers see GPU buffers and sizes only (never `Tensor`); `core/device.ts` implements this.
 * @module
 */

/**
 * Arrays the CPU references accept: they compute in doubles, so float64 inputs give float64
 * results (used by the finite-difference gradient tests) and float32 inputs the `cpu` backend.
 */
export type FloatArray = Float32Array | Float64Array;

/**
 * A GPU buffer as launchers take it: a whole buffer, or a range of one (tensors that are views
 * into a flat parameter arena). Bind it as is; read sizes from the launcher's arguments.
 */
export type Buf = GPUBuffer | GPUBufferBinding;

/** One storage or uniform binding: a whole buffer, a range of one, or a texture view. */
export type Binding = GPUBuffer | GPUBufferBinding | GPUTextureView;

/**
 * One compute dispatch as a launcher describes it. `params` is uploaded into a uniform slice owned
 * by the current submission, so values such as a learning rate change without recompiling.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import type { DispatchSpec } from "./context.ts";
 * const spec: DispatchSpec = { code: "...", bindings: [], workgroups: [1] };
 * assert(spec.workgroups[0] === 1);
 * ```
 */
export interface DispatchSpec {
  /** Complete WGSL module text with entry point `main`; pipelines are cached by this text. */
  code: string;
  /** Resources bound at `@group(0) @binding(i)`, in order. */
  bindings: Binding[];
  /** Optional uniform data (at most 256 bytes), bound at `@binding(bindings.length)`. */
  params?: ArrayBufferView;
  /** Workgroup counts (x, y, z); each at most the device's per-dimension limit. */
  workgroups: [number, number?, number?];
  /** A short label for profiling and error messages. */
  label?: string;
  /**
   * The bindings the dispatch may write (default: all): a texture filled from a buffer the
   * dispatch only reads stays valid (`KernelContext.textureFrom`).
   */
  writes?: Binding[];
}

/**
 * What a kernel launcher needs from the runtime.
 *
 * @example
 * ```ts ignore
 * import { getDevice } from "../core/device.ts";
 * const ctx = (await getDevice()).context;
 * ctx.dispatch({ code, bindings: [buf], workgroups: [4] });
 * ```
 */
export interface KernelContext {
  /** The underlying WebGPU device. */
  readonly device: GPUDevice;
  /** Adapter description, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`. */
  readonly adapterName: string;
  /** True on a CPU adapter (Mesa llvmpipe/lavapipe, WARP, SwiftShader). */
  readonly isCpuAdapter: boolean;
  /** Largest workgroup count per dimension. */
  readonly maxWorkgroups: number;
  /** Records one compute dispatch into the current submission. */
  dispatch(spec: DispatchSpec): void;
  /** Returns a buffer of at least `bytes` bytes that is recycled after the current submission. */
  scratch(bytes: number): GPUBuffer;
  /**
   * Returns an `rgba32float` 2D-array texture (storage + sampled usage) of at least the given
   * width and height (possibly larger) and exactly the given layers, recycled after the current
   * submission.
   */
  scratchTexture(width: number, height: number, layers: number): GPUTexture;
  /**
   * Records a buffer-to-texture copy in submission order (optional: a context without it makes
   * launchers fall back to a pack kernel).
   */
  copyBufferToTexture?(
    src: Buf,
    layout: { bytesPerRow: number; rowsPerImage: number },
    dst: GPUTexture,
    size: [number, number, number],
    origin?: [number, number, number],
  ): void;
  /**
   * Records zeroing `bytes` bytes (a multiple of 4) of a buffer with `COPY_DST` usage in
   * submission order (optional: without it, zero fills run the fill kernel).
   */
  clearBuffer?(dst: Buf, bytes: number): void;
  /**
   * Records writing `data` at the start of a buffer with `COPY_DST` usage in submission order
   * (optional: without it, small non-zero fills run the fill kernel).
   */
  upload?(dst: Buf, data: ArrayBufferView): void;
  /**
   * Returns the texture `make` fills from `src` (a scratch texture and the copies into it), or
   * the one a call with the same `src` buffer and `key` returned earlier in this submission, when
   * nothing has written that buffer since (`DispatchSpec.writes`; optional: without it, `make`
   * runs every time). `key` names everything else the texture's contents depend on (range,
   * layout).
   */
  textureFrom?(src: Buf, key: string, make: () => GPUTexture | null): GPUTexture | null;
  /** Remembers a per-adapter tuning decision (e.g. which matmul variant won). */
  tuning: Map<string, string>;
  /**
   * Asks the runtime to measure a tuning key it lacks (e.g. `matmul.family`) at its next async
   * point (optional: without it nothing is measured and launchers keep to their heuristics).
   */
  requestTuning?(key: string): void;
}

/**
 * Splits a 1D count of workgroups into an (x, y) grid within the per-dimension limit.
 *
 * Shaders recover the linear workgroup index as `wid.x + wid.y * nwg.x`
 * (`@builtin(num_workgroups) nwg`).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { grid1d } from "./context.ts";
 * assert(grid1d(10, 65535)[0] === 10);
 * assert(grid1d(70000, 65535)[1] === 2);
 * ```
 * @returns `[x, y]` with `x * y >= count`
 */
export function grid1d(count: number, max = 65535): [number, number] {
  if (count <= max) return [Math.max(1, count), 1];
  const y = Math.ceil(count / max);
  return [Math.ceil(count / y), y];
}

/**
 * Rounds `n` up to a multiple of `m`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { roundUp } from "./context.ts";
 * assert(roundUp(5, 4) === 8);
 * ```
 * @returns the smallest multiple of `m` that is at least `n`
 */
export function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

/**
 * Splits `n` 4-byte elements into consecutive ranges that each fit one storage binding: at most
 * the device's `maxStorageBufferBindingSize` (or the `maxBinding` tuning value, in bytes, when
 * smaller), every range but the last a multiple of 64 elements so that offsets stay 256-byte
 * aligned. Launchers of whole-buffer kernels (fill, AdamW, gradient norm) dispatch once per range,
 * so a model's flat parameter arena may exceed the binding limit (128 MiB on llvmpipe; the
 * paper's 16x1 model needs 489 MB).
 *
 * @example
 * ```ts ignore
 * for (const [start, count] of bindingChunks(ctx, n)) { ... }
 * ```
 * @param maxElements a further cap on the elements per range (a launcher's own limit)
 * @returns `[start, count]` pairs covering `[0, n)` in order (one empty pair when n is 0)
 */
export function bindingChunks(
  ctx: KernelContext,
  n: number,
  maxElements = Infinity,
): [number, number][] {
  let limit = Math.min(ctx.device.limits.maxStorageBufferBindingSize, maxElements * 4);
  const forced = Number(ctx.tuning.get("maxBinding") ?? 0);
  if (forced > 0) limit = Math.min(limit, forced);
  const per = Math.max(64, Math.floor(limit / 4 / 64) * 64);
  const out: [number, number][] = [];
  for (let s = 0; s < n; s += per) out.push([s, Math.min(per, n - s)]);
  return out.length ? out : [[0, 0]];
}

/**
 * The buffer and byte offset of a `Buf` (a whole buffer starts at 0).
 *
 * @example
 * ```ts ignore
 * const [buffer, offset] = bufParts(range);
 * ```
 */
export function bufParts(b: Buf): [GPUBuffer, number] {
  return "buffer" in b ? [b.buffer, b.offset ?? 0] : [b, 0];
}

/**
 * A range of a buffer (or of a range): `count` 4-byte elements from element `start`.
 *
 * @example
 * ```ts ignore
 * const part = subRange(buf, 1024, 64); // { buffer, offset: 4096, size: 256 }
 * ```
 */
export function subRange(b: Buf, start: number, count: number): GPUBufferBinding {
  const [buffer, offset] = bufParts(b);
  return { buffer, offset: offset + start * 4, size: count * 4 };
}

/**
 * Binds the first `n` elements of a buffer (or range) as a `vec4<f32>` array: the range grows to a
 * whole number of vec4s (kernels mask lanes at or past `n`).
 *
 * @example
 * ```ts ignore
 * const g = vec4Range(subRange(grads, start, count), count, "grad");
 * ```
 * @param b buffer or range (its size is replaced)
 * @param what name for the error message
 * @throws Error when the buffer is too short for whole vec4s
 */
export function vec4Range(b: Buf, n: number, what: string): Buf {
  const bytes = roundUp(Math.max(n, 1), 4) * 4;
  const [buffer, offset] = bufParts(b);
  if (buffer.size < offset + bytes) {
    throw new Error(
      `Cannot bind ${what} as ${n} floats: the buffer needs ${offset + bytes} bytes ` +
        `(whole vec4s) but has ${buffer.size}`,
    );
  }
  return "buffer" in b || buffer.size % 16 !== 0 ? { buffer, offset, size: bytes } : b;
}

// Loop iterations one invocation may run in all on llvmpipe: gallivm ends every loop of an
// invocation once their iterations add up to 65535 (measured: a loop of 70000 iterations runs
// 65535, and a second loop after it runs once), silently.
const CPU_LOOP_BUDGET = 65535;

/**
 * Throws a one-line error when a kernel's per-invocation loop would exceed llvmpipe's loop budget
 * on a CPU adapter (results would be silently wrong); does nothing on GPUs. Launchers whose
 * per-invocation loops grow with the input call it.
 *
 * @example
 * ```ts
 * import { throws } from "node:assert/strict";
 * import { checkLoopBudget, type KernelContext } from "./context.ts";
 * const cpu = { isCpuAdapter: true } as KernelContext;
 * checkLoopBudget(cpu, 1000, "x");
 * throws(() => checkLoopBudget(cpu, 70000, "Embedding backward over 70000 positions"), /65535/);
 * ```
 * @param iterations loop iterations one invocation would run
 * @param what what is too large, for the message (it should say what to lower)
 * @throws Error past the budget on a CPU adapter
 */
export function checkLoopBudget(ctx: KernelContext, iterations: number, what: string): void {
  if (ctx.isCpuAdapter && iterations > CPU_LOOP_BUDGET) {
    throw new Error(
      `${what} needs ${iterations} loop iterations in one invocation, past the ${CPU_LOOP_BUDGET} ` +
        "that CPU adapters such as llvmpipe run (results would be wrong)",
    );
  }
}

/**
 * Whether launchers should use subgroup operations: the device was opened with the `subgroups`
 * feature (`core/_adapter.ts` asks for it when the adapter has it), the adapter is a GPU, and the
 * `subgroups` tuning value is not "0" ("1" also allows them on CPU adapters). Kernels keep their
 * workgroup-memory path for every other case.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { subgroupsWanted } from "./context.ts";
 * const device = { features: new Set(["subgroups"]) };
 * assert(subgroupsWanted({ isCpuAdapter: false, tuning: new Map(), device }));
 * assert(!subgroupsWanted({ isCpuAdapter: true, tuning: new Map(), device }));
 * assert(!subgroupsWanted({ isCpuAdapter: false, tuning: new Map([["subgroups", "0"]]), device }));
 * ```
 * @returns true when subgroup code may run here
 */
export function subgroupsWanted(
  ctx: {
    isCpuAdapter: boolean;
    tuning?: Map<string, string>;
    device?: { features: ReadonlySet<string> | GPUSupportedFeatures };
  },
): boolean {
  const set = ctx.tuning?.get("subgroups");
  // The adapter kind first: `device.features` is a native getter, and row launchers ask per launch.
  if (set === "0" || (ctx.isCpuAdapter && set !== "1")) return false;
  return ctx.device?.features.has("subgroups") ?? false;
}
