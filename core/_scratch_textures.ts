/**
 * Recycled `rgba32float` 2D-array scratch textures for the device (private to `core/device.ts`):
 * handed out during a submission, reusable after it. Extents come in size classes so that
 * varying shapes (evaluation's prompt lengths) share a few textures.
 * @module
 */

/** Rounds a texture extent up to its class: n up to 16, else powers of two in four steps. */
function textureClass(n: number, max: number): number {
  if (n <= 16) return n;
  const step = 2 ** Math.floor(Math.log2(n)) / 4;
  return Math.min(max, Math.ceil(n / step) * step);
}

/**
 * Free textures by size class, and those in use by the submission being recorded.
 *
 * @example
 * ```ts ignore
 * const textures = new ScratchTextures(device);
 * const tex = textures.take(96, 1216, 1);
 * textures.submitted(); // after queue.submit: tex may be handed out again
 * ```
 */
export class ScratchTextures {
  #device: GPUDevice;
  #free = new Map<string, GPUTexture[]>();
  #inFlight: [string, GPUTexture][] = [];

  /** Makes an empty set for a device. */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /**
   * A texture of at least `width` x `height` texels (rounded up to size classes: at most 25%
   * larger, powers of two exactly) and exactly `layers` layers, in use until `submitted()`.
   *
   * @returns the texture (storage, sampled and copy-destination usage)
   */
  take(width: number, height: number, layers: number): GPUTexture {
    const max = this.#device.limits.maxTextureDimension2D;
    const w = textureClass(width, max), h = textureClass(height, max);
    const key = `${w}x${h}x${layers}`;
    const tex = this.#free.get(key)?.pop() ?? this.#device.createTexture({
      size: [w, h, layers],
      format: "rgba32float",
      dimension: "2d",
      usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.TEXTURE_BINDING |
        GPUTextureUsage.COPY_DST,
    });
    this.#inFlight.push([key, tex]);
    return tex;
  }

  /** Makes the textures taken so far reusable (call after the submission that uses them). */
  submitted(): void {
    for (const [key, tex] of this.#inFlight) {
      const list = this.#free.get(key);
      if (list) list.push(tex);
      else this.#free.set(key, [tex]);
    }
    this.#inFlight = [];
  }
}
