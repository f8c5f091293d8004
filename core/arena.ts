/**
 * `ParamArena`: every parameter of a model lives in one flat f32 buffer and every gradient in
 * another, so the optimizer updates all of them in one dispatch and zeroes all gradients in one
 * fill.
 * @module
 */
import { roundUp } from "../kernels/context.ts";
import { fillKernel } from "../kernels/fill.ts";
import type { Device } from "./device.ts";
import { STORAGE_USAGE } from "./pool.ts";
import { type Backend, numel } from "./backend.ts";
import { keep, Tensor } from "./tensor.ts";

/** Parameter offsets are multiples of this many elements (256 bytes, a storage-binding offset). */
export const ARENA_ALIGN = 64;

/** One parameter to allocate. */
export interface ParamSpec {
  /** State-dict key (upstream's name), unique in the arena. */
  name: string;
  shape: readonly number[];
  /**
   * Whether weight decay applies (default: upstream's `limited_decay_keys` rule, not when the
   * name contains `bias`, `LayerNorm` or `norm`).
   */
  decay?: boolean;
}

/** Where one parameter lives in the arena. */
export interface ParamEntry {
  readonly name: string;
  /** The parameter (a view into the parameter arena; `grad` is a view into the gradient arena). */
  readonly param: Tensor;
  /** First element in the arena (a multiple of `ARENA_ALIGN`). */
  readonly offset: number;
  readonly size: number;
  readonly decay: boolean;
}

/**
 * One flat f32 buffer holding all parameters and one holding their gradients.
 *
 * Layout: the weight-decay parameters first, then the others, each group in the order given,
 * each parameter at an offset aligned to 64 elements; `decayEnd` is the first element of the
 * no-decay group, so elements `[0, decayEnd)` decay and `[decayEnd, size)` do not. Padding is
 * zero in both buffers and stays zero under AdamW. On the webgpu backend the buffers come from
 * `createBuffer` (not the pool, so they never count in `pool.live`); on the cpu backend they are
 * Float32Arrays. Every parameter is a `Tensor.view` with `requiresGrad = true` and `grad` a view
 * into the gradient buffer, so autograd accumulates gradients in place.
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { ParamArena } from "./arena.ts";
 * import { CPU } from "./backend.ts";
 * const arena = new ParamArena(CPU, [
 *   { name: "lin.bias", shape: [3] },
 *   { name: "lin.weight", shape: [3, 2] },
 * ]);
 * arena.write("lin.weight", [1, 2, 3, 4, 5, 6]);
 * ok(arena.entries[1].offset === 0 && arena.decayEnd === 64); // lin.weight decays: first
 * ok((await arena.get("lin.weight").toArray())[5] === 6);
 * ok(arena.get("lin.bias").grad !== null);
 * arena.dispose();
 * ```
 */
export class ParamArena {
  readonly backend: Backend;
  /** Total elements, padding included (a multiple of 64). */
  readonly size: number;
  /** First element of the no-decay group. */
  readonly decayEnd: number = 0;
  #entries = new Map<string, ParamEntry>(); // in the order given
  #params: GPUBuffer | Float32Array;
  #grads: GPUBuffer | Float32Array;
  #disposed = false;

  /**
   * Lays out and allocates the parameters (zero-filled).
   *
   * @param specs parameters, in state-dict order
   * @throws Error on a duplicate name, a bad shape, or an arena over the device's buffer size limit
   */
  constructor(backend: Backend, specs: readonly ParamSpec[]) {
    this.backend = backend;
    const seen = new Set<string>();
    for (const s of specs) {
      if (seen.has(s.name)) throw new Error(`Parameter name ${s.name} is used twice`);
      seen.add(s.name);
      if (!s.shape.every((d) => Number.isInteger(d) && d > 0)) {
        throw new Error(`Parameter ${s.name} has a bad shape [${s.shape.join(", ")}]`);
      }
    }
    // Decay group first, so the arena's whole-buffer kernels need only one boundary.
    const decay = specs.map((s) => s.decay ?? !/bias|LayerNorm|norm/.test(s.name));
    const offsets: number[] = [];
    let at = 0;
    for (const pass of [true, false]) {
      specs.forEach((s, i) => {
        if (decay[i] !== pass) return;
        offsets[i] = at;
        at = roundUp(at + numel(s.shape), ARENA_ALIGN);
      });
      if (pass) this.decayEnd = at;
    }
    this.size = Math.max(at, ARENA_ALIGN);
    // Whole-arena kernels (fill, AdamW, gradient norm) bind it in chunks, so only the buffer size
    // limit applies, not the (often much smaller) binding limit.
    const bytes = this.size * 4;
    const limit = backend.kind === "cpu" ? Infinity : backend.device.limits.maxBufferSize;
    if (bytes > limit) {
      throw new Error(
        `Cannot fit ${this.size} parameters in one arena: ${bytes} bytes exceed the device's ` +
          `buffer size limit of ${limit} bytes`,
      );
    }
    this.#params = this.newFlat();
    this.#grads = this.newFlat();
    specs.forEach((s, i) => {
      const offset = offsets[i];
      // keep(): the arena owns its views, so an enclosing scope() must not dispose them.
      const param = keep(Tensor.view(s.shape, backend, this.#params, offset));
      param.requiresGrad = true;
      param.grad = keep(Tensor.view(s.shape, backend, this.#grads, offset));
      const e: ParamEntry = { name: s.name, param, offset, size: numel(s.shape), decay: decay[i] };
      this.#entries.set(s.name, e);
    });
  }

  /** Parameter names in the order given (state-dict order). */
  get names(): string[] {
    return [...this.#entries.keys()];
  }

  /** Every parameter with its placement, in the order given. */
  get entries(): readonly ParamEntry[] {
    return [...this.#entries.values()];
  }

  /** The flat parameter buffer (webgpu) or array (cpu), `size` elements. */
  get paramBuffer(): GPUBuffer | Float32Array {
    this.#check();
    return this.#params;
  }

  /** The flat gradient buffer (webgpu) or array (cpu), `size` elements. */
  get gradBuffer(): GPUBuffer | Float32Array {
    this.#check();
    return this.#grads;
  }

  #entry(name: string): ParamEntry {
    const e = this.#entries.get(name);
    if (!e) throw new Error(`No parameter named ${name}`);
    return e;
  }

  /**
   * Returns a parameter tensor by name.
   *
   * @returns the view (owned by the arena: do not dispose it)
   * @throws Error for an unknown name
   */
  get(name: string): Tensor {
    return this.#entry(name).param;
  }

  /** Sets every gradient (padding included) to zero with one fill. */
  zeroGrad(): void {
    this.#check();
    if (this.#grads instanceof Float32Array) this.#grads.fill(0);
    else fillKernel.gpu(this.backend as Device, { out: this.#grads, n: this.size, value: 0 });
  }

  /**
   * Writes a parameter's values (in submission order on the webgpu backend).
   *
   * @param values `size` values, row-major
   */
  write(name: string, values: ArrayLike<number>): void {
    this.#check();
    const e = this.#entry(name);
    if (values.length !== e.size) {
      throw new Error(`Parameter ${name} has ${e.size} values, got ${values.length}`);
    }
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    this.writeFlat(this.#params, data, e.offset);
  }

  /**
   * Writes many parameters (e.g. a checkpoint's weights).
   *
   * @param values arrays by state-dict key
   * @throws Error when a parameter is missing or a key is unknown
   */
  writeAll(values: Record<string, ArrayLike<number>>): void {
    const missing = this.names.filter((n) => !(n in values));
    const unknown = Object.keys(values).filter((n) => !this.#entries.has(n));
    if (missing.length || unknown.length) {
      throw new Error(
        `Cannot load parameters: missing [${missing.join(", ")}], unknown [${unknown.join(", ")}]`,
      );
    }
    for (const [name, v] of Object.entries(values)) this.write(name, v);
  }

  /**
   * Reads every parameter (or gradient) back with one readback of the whole arena.
   *
   * @param which parameters (default) or gradients
   * @returns arrays by state-dict key, in state-dict order
   */
  readAll(which: "param" | "grad" = "param"): Promise<Record<string, Float32Array>> {
    this.#check();
    return this.readFlat(which === "param" ? this.#params : this.#grads);
  }

  /**
   * A zeroed flat f32 array beside the arena's (e.g. optimizer moments), outside the buffer pool;
   * free it with `freeFlat`.
   *
   * @param n elements (default `size`: an arena-shaped array)
   */
  newFlat(n: number = this.size): GPUBuffer | Float32Array {
    const b = this.backend;
    return b.kind === "cpu"
      ? new Float32Array(n)
      : b.device.createBuffer({ size: n * 4, usage: STORAGE_USAGE });
  }

  /**
   * Reads an arena-shaped flat array back (one readback) as per-parameter copies.
   *
   * @returns arrays by state-dict key, in state-dict order
   */
  async readFlat(flat: GPUBuffer | Float32Array): Promise<Record<string, Float32Array>> {
    const all = flat instanceof Float32Array
      ? flat
      : new Float32Array(await (this.backend as Device).read(flat, this.size * 4));
    const out: Record<string, Float32Array> = {};
    for (const e of this.#entries.values()) out[e.name] = all.slice(e.offset, e.offset + e.size);
    return out;
  }

  /** Writes `data` into a flat array from element `offset` (in submission order on webgpu). */
  writeFlat(flat: GPUBuffer | Float32Array, data: Float32Array, offset = 0): void {
    if (flat instanceof Float32Array) flat.set(data, offset);
    else (this.backend as Device).upload({ buffer: flat, offset: offset * 4 }, data);
  }

  /** Frees flat arrays from `newFlat` (flushing first: recorded commands may still use them). */
  freeFlat(...flats: (GPUBuffer | Float32Array | null)[]): void {
    if (this.backend.kind === "cpu") return;
    this.backend.flush();
    for (const f of flats) (f as GPUBuffer | null)?.destroy();
  }

  /**
   * Lays per-parameter arrays out as one flat arena-shaped array (padding zero).
   *
   * @param values arrays by state-dict key; all parameters are required
   * @param what what is being loaded, for the error message
   * @returns `size` elements
   */
  join(values: Record<string, ArrayLike<number>>, what = "values"): Float32Array {
    const flat = new Float32Array(this.size);
    for (const e of this.#entries.values()) {
      const v = values[e.name];
      if (!v || v.length !== e.size) {
        throw new Error(
          `Cannot load ${what}: ${e.name} needs ${e.size} values, got ${v ? v.length : "none"}`,
        );
      }
      flat.set(v, e.offset);
    }
    return flat;
  }

  /** Frees both buffers; the parameter views must not be used afterwards. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const e of this.#entries.values()) {
      e.param.grad?.dispose();
      e.param.grad = null;
      e.param.dispose();
    }
    this.freeFlat(this.#params, this.#grads);
  }

  #check(): void {
    if (this.#disposed) throw new Error("ParamArena was used after dispose()");
  }
}
