import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { copyKernel, fillKernel } from "../../kernels/fill.ts";
import {
  assertClose,
  gpuTest,
  maybeDevice,
  poisoned,
  randArray,
  readF32,
  readI32,
  release,
  storageContext,
  upload,
} from "./_harness.ts";

Deno.test({
  name: "fillKernel.gpu() matches the CPU reference for f32 and i32 on odd sizes",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const n of [1, 64, 65, 255, 257, 1000]) { // up to 64: an upload, not a dispatch
      const b = poisoned(dev, n);
      fillKernel.gpu(dev, { out: b, n, value: -1.5 });
      const want = new Float32Array(n);
      fillKernel.cpu({ out: want, n, value: -1.5 });
      assertClose(await readF32(dev, b, n), want, 0, `fill f32 n=${n}`);
      fillKernel.gpu(dev, { out: b, n, value: -7, dtype: "i32" });
      assertEquals([...await readI32(dev, b, n)], new Array(n).fill(-7));
      release(dev, b);
    }
  },
});

Deno.test({
  name: "copyKernel.gpu() copies the first n elements like the CPU reference",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const src = randArray(777, 1);
    const a = upload(dev, src);
    const out = poisoned(dev, 500);
    fillKernel.gpu(dev, { out, n: 500, value: 0 });
    copyKernel.gpu(dev, { a, out, n: 301 });
    const want = new Float32Array(500);
    copyKernel.cpu({ a: src, out: want, n: 301 });
    assertClose(await readF32(dev, out, 500), want, 0, "copy");
    release(dev, a, out);
  },
});

Deno.test({
  name: "fillKernel.gpu() zeroes the first n elements of a range, cleared or filled, like the CPU",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    // The device records zero fills as buffer clears; a context without `clearBuffer` (the
    // storage-buffer test context) dispatches the fill kernel.
    const noClear = storageContext(dev);
    for (const ctx of [dev, noClear]) {
      for (const n of [1, 257, 999]) {
        const src = randArray(n + 70, n);
        const b = upload(dev, src);
        const range = { buffer: b, offset: 64 * 4, size: n * 4 }; // elements 64 .. 64 + n
        fillKernel.gpu(ctx, { out: range, n, value: 0 });
        const want = src.slice();
        fillKernel.cpu({ out: want.subarray(64), n, value: 0 });
        assertClose(await readF32(dev, b, n + 70), want, 0, `zero n=${n} clear=${ctx === dev}`);
        release(dev, b);
      }
    }
  },
});
