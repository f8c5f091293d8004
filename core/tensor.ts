/**
 * `Tensor`: a shaped, contiguous array of f32 (values) or i32/u32 (token ids) living either in a
 * pooled GPU buffer (the `webgpu` backend) or in a typed array (the `cpu` backend, made of the
 * kernels' CPU references). One disposal rule: call `dispose()`, or run the work inside
 * `scope()`, which frees every tensor made inside except those returned (or `keep()`-ed). Also
 * the grad mode (`noGrad`), which `reshape` and every op consult.
 * @module
 */
import type { Buf } from "../kernels/context.ts";
import { type Backend, defaultBackend, type DType, numel, type TypedArray } from "./backend.ts";

/** Open `scope()` blocks, innermost last: every new tensor joins the innermost one. */
const scopes: Set<Tensor>[] = [];
/** Grad mode: whether ops record gradient rules (`reshape` here, `record` in autograd). */
let gradEnabled = true;

/** Storage shared by a tensor and its reshaped views. */
export interface Storage {
  /** GPU buffer (webgpu backend). */
  gpu: GPUBuffer | null;
  /** Byte offset into `gpu` (non-zero for views into a flat parameter arena). */
  offset: number;
  /** Typed array (cpu backend). */
  cpu: TypedArray | null;
  /** Live tensors referring to this storage. */
  refs: number;
  /**
   * A window into memory the storage does not own (a parameter arena's; `Tensor.view`); other
   * GPU storage goes back to the pool when the last reference goes.
   */
  view?: boolean;
}

/** Gradient bookkeeping attached by `core/autograd.ts`. */
export interface GradNode {
  /** Tensors this one was computed from. */
  inputs: Tensor[];
  /** The gradient rule: one gradient (or null) per input (see `record` in core/autograd.ts). */
  backward: (grad: Tensor, sinks: readonly (Tensor | null)[]) => (Tensor | null)[];
  /** Frees whatever the backward closure saved. */
  release?: () => void;
}

/** The typed array of each dtype. */
const ARRAYS = { f32: Float32Array, i32: Int32Array, u32: Uint32Array } as const;

function cpuStorage(cpu: TypedArray, view = false): Storage {
  return { gpu: null, offset: 0, cpu, refs: 0, view };
}

/**
 * A shaped array on a backend.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { CPU } from "./backend.ts";
 * import { Tensor } from "./tensor.ts";
 * const t = Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 3], { backend: CPU });
 * assert(t.reshape([3, 2]).shape[0] === 3);
 * assert((await t.toArray())[5] === 6);
 * t.dispose();
 * ```
 */
export class Tensor {
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** Where the data lives. */
  readonly backend: Backend;
  /** Whether gradients flow to this tensor (set on parameters; propagated by ops). */
  requiresGrad = false;
  /** Accumulated gradient, when this tensor is a parameter that requires one. */
  grad: Tensor | null = null;
  /** The op that produced this tensor, when recorded for backward. */
  node: GradNode | null = null;
  #storage: Storage;
  #disposed = false;

  /**
   * Wraps storage; prefer `Tensor.empty`, `Tensor.fromArray` or an op.
   *
   * @param storage shared storage (its `refs` is incremented)
   */
  constructor(shape: readonly number[], dtype: DType, backend: Backend, storage: Storage) {
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.backend = backend;
    this.#storage = storage;
    storage.refs++;
    scopes[scopes.length - 1]?.add(this);
  }

  /** Allocates an uninitialised tensor (zeros on the cpu backend). */
  static empty(shape: readonly number[], dtype: DType, backend: Backend): Tensor {
    const n = numel(shape);
    if (backend.kind !== "cpu") {
      const gpu = backend.pool.acquire(n * 4);
      return new Tensor(shape, dtype, backend, { gpu, offset: 0, cpu: null, refs: 0 });
    }
    // On `CPU64` f32 values are held in a Float64Array, typed as Float32Array because every CPU
    // reference reads and writes plain numbers and accepts either.
    const cpu = backend.float64 && dtype === "f32"
      ? new Float64Array(n) as unknown as Float32Array
      : new ARRAYS[dtype](n);
    return new Tensor(shape, dtype, backend, cpuStorage(cpu));
  }

  /**
   * Makes a tensor from values.
   *
   * @param shape dimensions (default: 1D)
   * @param options dtype (default f32) and backend (default: the shared WebGPU device)
   */
  static fromArray(
    data: ArrayLike<number>,
    shape?: readonly number[],
    options: { dtype?: DType; backend?: Backend } = {},
  ): Tensor {
    const dtype = options.dtype ?? "f32";
    const backend = options.backend ?? defaultBackend();
    const s = shape ?? [data.length];
    if (numel(s) !== data.length) {
      throw new Error(`Cannot make a tensor of shape [${s.join(", ")}] from ${data.length} values`);
    }
    const t = Tensor.empty(s, dtype, backend);
    if (backend.kind === "cpu") t.data.set(data);
    else backend.upload(t.buffer, ARRAYS[dtype].from(data));
    return t;
  }

  /** Number of elements. */
  get size(): number {
    return numel(this.shape);
  }

  /** Whether `dispose()` was called. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * Whether this live tensor is the only one referring to its storage, and that storage is its
   * own (not a `Tensor.view` window): writing into it in place changes no other tensor.
   */
  get exclusive(): boolean {
    const s = this.#storage;
    return !this.#disposed && s.refs === 1 && !s.view;
  }

  /** The GPU buffer, or a range of one for arena views (webgpu backend only). */
  get buffer(): Buf {
    this.#check();
    const s = this.#storage;
    if (!s.gpu) throw new Error("Tensor lives on the cpu backend and has no GPU buffer");
    return s.offset === 0 && !s.view
      ? s.gpu
      : { buffer: s.gpu, offset: s.offset, size: this.size * 4 };
  }

  /**
   * Wraps part of an existing buffer or array as a tensor that does not own it (used by the
   * flat parameter arena, so AdamW updates every parameter in one dispatch).
   *
   * @param base the arena's buffer (webgpu) or array (cpu)
   * @param offsetElems first element of the view
   */
  static view(
    shape: readonly number[],
    backend: Backend,
    base: GPUBuffer | Float32Array,
    offsetElems: number,
  ): Tensor {
    const n = numel(shape);
    const storage: Storage = base instanceof Float32Array
      ? cpuStorage(base.subarray(offsetElems, offsetElems + n), true)
      : { gpu: base, offset: offsetElems * 4, cpu: null, refs: 0, view: true };
    return new Tensor(shape, "f32", backend, storage);
  }

  /** The typed array (cpu backend only); writes go straight into the tensor. */
  get data(): TypedArray {
    this.#check();
    if (!this.#storage.cpu) throw new Error("Tensor lives on the webgpu backend; use toArray()");
    return this.#storage.cpu;
  }

  #check(): void {
    if (this.#disposed) {
      throw new Error(`Tensor [${this.shape.join(", ")}] was used after dispose()`);
    }
  }

  /**
   * Returns a view with another shape over the same storage (one dimension may be -1).
   *
   * @returns the view (dispose it separately)
   */
  reshape(shape: readonly number[]): Tensor {
    this.#check();
    const known = shape.reduce((p, d) => (d === -1 ? p : p * d), 1);
    const s = shape.map((d) => (d === -1 ? this.size / known : d));
    if (numel(s) !== this.size) {
      throw new Error(`Cannot reshape [${this.shape.join(", ")}] to [${shape.join(", ")}]`);
    }
    const v = new Tensor(s, this.dtype, this.backend, this.#storage);
    if (isGradEnabled() && (this.node || this.requiresGrad)) {
      const from = this.shape;
      v.requiresGrad = true;
      v.node = { inputs: [this], backward: (g) => [g.reshape(from)] };
    }
    return v;
  }

  /**
   * Copies the values back to the CPU.
   *
   * @returns a new typed array (flushes pending GPU work)
   */
  async toArray(): Promise<TypedArray> {
    this.#check();
    if (this.backend.kind === "cpu") return this.data.slice();
    const bytes = await this.backend.read(this.buffer, this.size * 4);
    return new ARRAYS[this.dtype](bytes);
  }

  /** Frees this tensor's reference to its storage (the buffer returns to the pool at zero). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.node?.release?.();
    this.node = null;
    const s = this.#storage;
    if (--s.refs === 0) {
      if (s.gpu && !s.view && this.backend.kind !== "cpu") this.backend.pool.release(s.gpu);
      s.gpu = null;
      s.cpu = null;
    }
    for (const sc of scopes) sc.delete(this);
  }
}

/**
 * Runs `fn` and disposes every tensor created inside it except those in its result
 * (a tensor, or an array/object of tensors, searched one level deep) and those passed to `keep`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { scope, Tensor } from "./tensor.ts";
 * import { CPU } from "./backend.ts";
 * const made: Tensor[] = [];
 * const out = scope(() => {
 *   made.push(Tensor.fromArray([1], [1], { backend: CPU }));
 *   return Tensor.fromArray([2], [1], { backend: CPU });
 * });
 * assert(made[0].disposed && !out.disposed);
 * ```
 * @returns what `fn` returned
 */
export function scope<T>(fn: () => T): T {
  const set = new Set<Tensor>();
  scopes.push(set);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const keepers = collect(result);
  for (const t of set) {
    if (!keepers.has(t)) t.dispose();
    else scopes[scopes.length - 1]?.add(t);
  }
  return result;
}

/** Removes a tensor from every enclosing `scope`, so it outlives them. */
export function keep<T extends Tensor>(t: T): T {
  for (const sc of scopes) sc.delete(t);
  return t;
}

function collect(v: unknown): Set<Tensor> {
  const s = new Set<Tensor>();
  const visit = (x: unknown, depth: number) => {
    if (x instanceof Tensor) s.add(x);
    else if (depth < 2 && x && typeof x === "object") {
      Object.values(x).forEach((y) => visit(y, depth + 1)); // arrays and plain objects
    }
  };
  visit(v, 0);
  return s;
}

/**
 * Whether ops currently record gradient closures.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { isGradEnabled } from "./tensor.ts";
 * assert(isGradEnabled());
 * ```
 * @returns true outside `noGrad`
 */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/**
 * Runs `fn` without recording anything for backward (evaluation, decoding).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { isGradEnabled, noGrad } from "./tensor.ts";
 * assert(noGrad(() => isGradEnabled()) === false);
 * ```
 * @returns what `fn` returned
 */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}
