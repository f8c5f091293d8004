/**
 * The device's caches of compiled pipelines and bind groups (private to `core/device.ts`).
 * @module
 */
import type { Binding } from "../kernels/context.ts";

/** Bind groups kept before the cache is emptied. */
const MAX_GROUPS = 4096;

/**
 * Pipelines by WGSL text and entry point, bind groups by pipeline and resources.
 *
 * Pipelines are keyed by the code string itself (launchers reuse their generated strings, whose
 * hashes V8 keeps), not by a concatenation that would be hashed again on every dispatch. Bind
 * groups are keyed by object ids: a training step binds the same pooled buffers, recycled
 * textures and uniform slices every step, and creating ~100 bind groups per step costs more
 * host time than looking them up. Entries for destroyed buffers are never hit again (a new
 * buffer gets a new id); the cache is emptied when it holds `MAX_GROUPS` groups.
 *
 * @example
 * ```ts ignore
 * const cache = new GpuCache(device);
 * const p = cache.pipeline(code, "main");
 * const g = cache.bindGroup(p, [buffer]);
 * ```
 */
export class GpuCache {
  /** Pipelines compiled so far. */
  pipelines = 0;
  /** Bind groups created so far. */
  bindGroups = 0;
  #device: GPUDevice;
  #pipelines = new Map<string, Map<string, GPUComputePipeline>>();
  #ids = new WeakMap<object, number>();
  #nextId = 1;
  #groups = new Map<string, GPUBindGroup>();

  /** Makes empty caches. */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** Returns the compiled pipeline for a WGSL module, compiling it on first use. */
  pipeline(code: string, entry: string): GPUComputePipeline {
    let byCode = this.#pipelines.get(entry);
    if (!byCode) this.#pipelines.set(entry, byCode = new Map());
    let p = byCode.get(code);
    if (!p) {
      const module = this.#device.createShaderModule({ code });
      p = this.#device.createComputePipeline({
        layout: "auto",
        compute: { module, entryPoint: entry },
      });
      byCode.set(code, p);
      this.pipelines++;
    }
    return p;
  }

  /**
   * Returns a bind group of `resources` at bindings 0.. for a pipeline, creating it on first use.
   *
   * @param pipeline the pipeline (its layout 0)
   */
  bindGroup(pipeline: GPUComputePipeline, resources: Binding[]): GPUBindGroup {
    let key = String(this.#id(pipeline));
    for (const r of resources) {
      if ("buffer" in r) key += `|${this.#id(r.buffer)}:${r.offset ?? 0}:${r.size ?? -1}`;
      else key += `|${this.#id(r)}`;
    }
    let group = this.#groups.get(key);
    if (!group) {
      if (this.#groups.size >= MAX_GROUPS) this.#groups.clear();
      const entries: GPUBindGroupEntry[] = resources.map((r, i) => ({ binding: i, resource: r }));
      group = this.#device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
      this.#groups.set(key, group);
      this.bindGroups++;
    }
    return group;
  }

  #id(o: object): number {
    let id = this.#ids.get(o);
    if (id === undefined) this.#ids.set(o, id = this.#nextId++);
    return id;
  }
}
