/**
 * Per-submission uniform slices for the device (private to `core/device.ts`): each dispatch's
 * params go into a 256-byte-aligned slice of a 64 KiB uniform buffer owned by the current
 * submission, so values such as a learning rate change per dispatch without recompiling.
 * @module
 */

const COPY_DST = 0x8, UNIFORM = 0x40;
const ARENA_BYTES = 1 << 16;

interface Arena {
  gpu: GPUBuffer;
  cpu: Uint8Array<ArrayBuffer>;
  used: number;
}

/**
 * Uniform buffers filled on the CPU while a submission is recorded and written to the GPU just
 * before it is submitted; recycled for the next submission.
 *
 * @example
 * ```ts ignore
 * const uniforms = new UniformSlices(device);
 * const binding = uniforms.slice(new Uint32Array([n]));
 * uniforms.submitting(); // before queue.submit
 * ```
 */
export class UniformSlices {
  #device: GPUDevice;
  #align: number;
  #arenas: Arena[] = [];
  #free: Arena[] = [];

  /**
   * Makes the slices for a device.
   *
   * @param device the device (its uniform offset alignment)
   */
  constructor(device: GPUDevice) {
    this.#device = device;
    this.#align = Math.max(256, device.limits.minUniformBufferOffsetAlignment);
  }

  /** Copies `data` (at most 256 bytes) into a fresh slice of the current submission. */
  slice(data: ArrayBufferView): GPUBufferBinding {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let arena = this.#arenas[this.#arenas.length - 1];
    if (!arena || arena.used + this.#align > ARENA_BYTES) {
      arena = this.#free.pop() ?? {
        gpu: this.#device.createBuffer({ size: ARENA_BYTES, usage: UNIFORM | COPY_DST }),
        cpu: new Uint8Array(ARENA_BYTES),
        used: 0,
      };
      arena.used = 0;
      this.#arenas.push(arena);
    }
    const offset = arena.used;
    arena.cpu.set(bytes, offset);
    arena.used += this.#align;
    return { buffer: arena.gpu, offset, size: Math.max(16, Math.ceil(bytes.length / 16) * 16) };
  }

  /** Writes the slices to the GPU (call just before the submission) and recycles the buffers. */
  submitting(): void {
    for (const a of this.#arenas) this.#device.queue.writeBuffer(a.gpu, 0, a.cpu, 0, a.used);
    this.#free.push(...this.#arenas);
    this.#arenas = [];
  }
}
