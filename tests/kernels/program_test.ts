import { ok as assert, strictEqual } from "node:assert/strict";
import { grid1d } from "../../kernels/context.ts";
import { FLAT_TEXTURE_TYPE, flatExtents, flatFetch, flatTexture } from "../../kernels/program.ts";
import type { Device } from "../../core/device.ts";
import { fillKernel } from "../../kernels/fill.ts";
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

Deno.test({
  name: "flatTexture() copies a buffer once per submission until a dispatch or upload writes it",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    if (!dev.isCpuAdapter) return; // flat textures are a CPU-adapter path
    const n = 100, buf = upload(dev, randArray(n, 3)), other = poisoned(dev, n);
    const v1 = flatTexture(dev, buf, n)!;
    strictEqual(flatTexture(dev, buf, n), v1); // a second reader: no second copy
    assert(flatTexture(dev, buf, n - 4) !== v1); // another range is another texture
    // A dispatch that binds buf but writes only `other` leaves the texture valid.
    dev.dispatch({
      code: `@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> b: array<f32>;
@compute @workgroup_size(1) fn main() { b[0] = a[0]; }`,
      bindings: [buf, other],
      workgroups: [1],
      writes: [other],
    });
    strictEqual(flatTexture(dev, buf, n), v1);
    // The fill kernel writes buf: the next reader gets a fresh copy holding the new values.
    fillKernel.gpu(dev, { out: buf, n, value: 2 });
    const v2 = flatTexture(dev, buf, n)!;
    assert(v2 !== v1);
    const got = await readThrough(dev, v2, n / 4);
    assert(got.every((x) => x === 2), `stale texture: ${got.slice(0, 4)}`);
    // So does an upload recorded in the same submission.
    const v3 = flatTexture(dev, buf, n)!;
    dev.upload(buf, new Float32Array(n).fill(5));
    const v4 = flatTexture(dev, buf, n)!;
    assert(v4 !== v3);
    assert((await readThrough(dev, v4, n / 4)).every((x) => x === 5));
    release(dev, buf, other);
  },
});
