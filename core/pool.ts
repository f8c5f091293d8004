/**
 * A pool of GPU storage buffers bucketed by size class, so that steady-state training reuses the
 * buffers of the previous step instead of allocating. Reuse is safe without fences because every
 * use goes through one queue in order: a buffer released after a dispatch was recorded can only be
 * written by dispatches recorded (and so executed) after it.
 * @module
 */

/** Usage flags of every pooled storage buffer. */
export const STORAGE_USAGE: number = 0x80 | 0x4 | 0x8; // STORAGE | COPY_SRC | COPY_DST

/**
 * Rounds a byte count up to its size class: powers of two split into eight steps, so that at most
 * 12.5% is wasted.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { sizeClass } from "./pool.ts";
 * assert(sizeClass(1000) === 1024);
 * assert(sizeClass(1100) === 1152);
 * ```
 * @returns the class size in bytes (a multiple of 16, at least 16)
 */
export function sizeClass(bytes: number): number {
  const n = Math.max(16, bytes);
  if (n <= 256) return Math.ceil(n / 16) * 16;
  const p = 2 ** Math.floor(Math.log2(n));
  const step = p / 8;
  return Math.ceil(n / step) * step;
}

/**
 * Hands out buffers by size class and takes them back for reuse.
 *
 * `live` counts buffers handed out and not yet released; tests use it to prove that a block of
 * work frees what it allocates.
 *
 * @example
 * ```ts ignore
 * const pool = new BufferPool(device);
 * const b = pool.acquire(4096);
 * pool.release(b);
 * ```
 */
export class BufferPool {
  #device: GPUDevice;
  #usage: number;
  // Free lists are kept in decreasing creation order and hand out the earliest-created buffer:
  // the choice then depends only on which buffers are free, not on the order they came back, so
  // a training step that allocates and frees the same way every step gets the same buffers every
  // step (and the device can reuse its bind groups).
  #free = new Map<number, GPUBuffer[]>();
  #order = new WeakMap<GPUBuffer, number>();
  #live = 0;
  #created = 0;

  /** Makes an empty pool on a device, of buffers with `usage` (default: storage). */
  constructor(device: GPUDevice, usage: number = STORAGE_USAGE) {
    this.#device = device;
    this.#usage = usage;
  }

  /** Buffers handed out and not yet released. */
  get live(): number {
    return this.#live;
  }

  /** Buffers ever created by this pool (steady state: stops growing). */
  get created(): number {
    return this.#created;
  }

  /**
   * Returns a buffer of at least `bytes` bytes, reusing a free one of the same class.
   *
   * @returns a storage buffer (contents undefined)
   */
  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.#free.get(size);
    this.#live++;
    if (list && list.length > 0) return list.pop()!;
    this.#created++;
    const b = this.#device.createBuffer({ size, usage: this.#usage });
    this.#order.set(b, this.#created);
    return b;
  }

  /**
   * Gives a buffer back for reuse.
   *
   * @param buffer a buffer from `acquire`
   */
  release(buffer: GPUBuffer): void {
    this.#live--;
    let list = this.#free.get(buffer.size);
    if (!list) this.#free.set(buffer.size, list = []);
    const id = this.#order.get(buffer) ?? 0;
    let lo = 0, hi = list.length; // first position whose buffer is older than this one
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.#order.get(list[mid]) ?? 0) > id) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, buffer);
  }
}
