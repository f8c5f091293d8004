import { ok as assert, strictEqual } from "node:assert/strict";
import { grid1d } from "../../kernels/context.ts";
import { FLAT_TEXTURE_TYPE, flatExtents, flatFetch, flatTexture } from "../../kernels/program.ts";
import type { Device } from "../../core/device.ts";
import {
  gpuTest,
  maybeDevice,
  poisoned,
  randArray,
  readF32,
  release,
  storageContext,
  upload,
} from "./_harness.ts";

/** Reads `texels` texels of a flat texture back into a buffer through `flatFetch`. */
async function readThrough(dev: Device, view: GPUTextureView, texels: number) {
  const out = poisoned(dev, texels * 4);
  dev.dispatch({
    code: `
@group(0) @binding(0) var src: ${FLAT_TEXTURE_TYPE};
@group(0) @binding(1) var<storage, read_write> out: array<vec4f>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let t = g.x + g.y * nw.x * 64u;
  if (t < ${texels}u) { out[t] = ${flatFetch("src", "t")}; }
}`,
    bindings: [view, out],
    workgroups: grid1d(Math.ceil(texels / 64), dev.maxWorkgroups),
  });
  const got = await readF32(dev, out, texels * 4);
  release(dev, out);
  return got;
}

Deno.test({
  name: "flatTexture() copies any float count, with an offset, across rows and array layers",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    if (!dev.isCpuAdapter) return; // flat textures are a CPU-adapter path
    // 1 texel; a partial texel; rows plus a tail; exactly one layer plus a tail (two layers).
    for (const n of [4, 7, 4096 * 3 + 37, 4 * 1024 * 4096 + 4100]) {
      const data = randArray(n + 64, n);
      const buf = upload(dev, data);
      for (const offset of [0, 256]) {
        const view = flatTexture(dev, { buffer: buf, offset }, n);
        assert(view, `no texture for ${n} floats at ${offset}`);
        const texels = Math.ceil(n / 4);
        const got = await readThrough(dev, view, texels);
        const want = data.subarray(offset / 4, offset / 4 + n);
        let bad = -1;
        for (let i = 0; i < n && bad < 0; i++) if (got[i] !== want[i]) bad = i;
        strictEqual(bad, -1, `${n} floats at offset ${offset}: first mismatch at ${bad}`);
      }
      release(dev, buf);
    }
  },
});

Deno.test({
  name: "flatTexture() declines misaligned or short ranges and copy-less contexts",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const buf = upload(dev, new Float32Array(64));
    strictEqual(flatTexture(dev, { buffer: buf, offset: 4 }, 8), null);
    strictEqual(flatTexture(dev, { buffer: buf, offset: 0, size: 16 }, 8), null);
    strictEqual(flatTexture(storageContext(dev), buf, 8), null);
    release(dev, buf);
  },
});

Deno.test("flatExtents() packs texels into 1024-wide rows, power-of-two heights, 4096-row layers", () => {
  strictEqual(flatExtents(1).join(), "1024,1,1");
  strictEqual(flatExtents(3 * 1024 + 1).join(), "1024,4,1");
  strictEqual(flatExtents(2049 * 1024).join(), "1024,4096,1");
  strictEqual(flatExtents(1024 * 4096).join(), "1024,4096,1");
  strictEqual(flatExtents(1024 * 4096 + 1).join(), "1024,4096,2");
});
