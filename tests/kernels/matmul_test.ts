import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import {
  MATMUL_VARIANTS,
  matmulKernel,
  matmulShapeClass,
  matmulTexture,
  matmulVariantFits,
  resolveMatmul,
  textureForm,
} from "../../kernels/matmul.ts";
import { type MatmulShape, tuneMatmul } from "../../kernels/matmul_tune.ts";
import { fillKernel } from "../../kernels/fill.ts";
import type { KernelContext } from "../../kernels/context.ts";

import type { Device } from "../../core/device.ts";
import {
  assertClose,
  gpuTest,
  maybeDevice,
  poisoned,
  randArray,
  readF32,
  release,
  upload,
} from "./_harness.ts";

/**
 * A pooled buffer holding `data` (or NaN when null) at a byte offset, as a range binding.
 */
function ranged(
  dev: Device,
  data: Float32Array | null,
  offset: number,
  n = data?.length ?? 0,
): GPUBufferBinding & { buffer: GPUBuffer } {
  const buffer = poisoned(dev, n + offset / 4);
  if (data) dev.upload({ buffer, offset, size: n * 4 }, data);
  return { buffer, offset, size: n * 4 };
}

/** Operand lengths of a shape (a shared operand holds one matrix). */
function lengths(s: MatmulShape): { a: number; b: number; c: number } {
  const p = resolveMatmul({ ...s, a: 0, b: 0, out: 0 });
  const len = (stride: number, one: number) => Math.max(1, stride * (p.batch - 1) + one);
  return {
    a: len(p.strideA, p.m * p.k),
    b: len(p.strideB, p.k * p.n),
    c: p.batch * p.m * p.n || 1,
  };
}

/** C = op(A) op(B) by the definition, with transposes done by explicit index arithmetic. */
function naive(s: MatmulShape, a: Float32Array, b: Float32Array, c0: Float32Array): Float64Array {
  const p = resolveMatmul({ ...s, a, b, out: c0 });
  const out = Float64Array.from(c0);
  for (let z = 0; z < p.batch; z++) {
    for (let m = 0; m < p.m; m++) {
      for (let n = 0; n < p.n; n++) {
        let acc = 0;
        for (let k = 0; k < p.k; k++) {
          const av = p.transA ? a[z * p.strideA + k * p.m + m] : a[z * p.strideA + m * p.k + k];
          const bv = p.transB ? b[z * p.strideB + n * p.k + k] : b[z * p.strideB + k * p.n + n];
          acc += av * bv;
        }
        const i = (z * p.m + m) * p.n + n;
        out[i] = (p.accumulate ? out[i] : 0) + acc;
      }
    }
  }
  return out;
}

// M x K x N: 1 row, 1 column, K = 1, odd sizes, batches with shared operands and transposes,
// accumulation.
const SHAPES: MatmulShape[] = [
  { m: 1, k: 17, n: 33 },
  { m: 33, k: 17, n: 1 },
  { m: 19, k: 1, n: 23 },
  { m: 33, k: 17, n: 65 },
  { m: 33, k: 17, n: 65, transA: true, transB: true },
  { m: 9, k: 7, n: 13, batch: 3, transA: true, strideB: 0 },
  { m: 9, k: 7, n: 13, batch: 3, transB: true, strideA: 0 },
  { m: 9, k: 7, n: 13, batch: 3, transA: true, transB: true, strideA: 0 },
  { m: 21, k: 6, n: 11, batch: 2, transA: true, transB: true, accumulate: true },
  { m: 37, k: 29, n: 18, batch: 2, strideB: 0, accumulate: true },
  // Multiples of 4 (vec4 packing and vec4 stores), exact 16x16 tiles, accumulation into vec4s.
  { m: 20, k: 9, n: 12, batch: 2, transA: true },
  { m: 32, k: 8, n: 32 },
  { m: 13, k: 5, n: 8, batch: 2, strideB: 0, accumulate: true },
  // K past the 16384 texture limit: texture layouts along k only.
  { m: 5, k: 17001, n: 6, transB: true },
  // More than one 128 x 128 tile with ragged edges: vec4 loads of both operands (K and N
  // multiples of 4), of neither (odd sizes), and transposed vec4 loads with accumulation.
  { m: 133, k: 36, n: 140 },
  { m: 131, k: 37, n: 129, transB: true },
  { m: 132, k: 20, n: 136, batch: 2, transA: true, transB: true, strideB: 0, accumulate: true },
];

/** Shapes also run on buffer ranges at a byte offset (views into a larger buffer). */
const RANGED = new Set([SHAPES[3], SHAPES[10]]);

// Variants that take seconds to compile per shape on llvmpipe run on the edge cases only.
const SLOW_TO_COMPILE = new Set(["texture16x16", "texture12x16", "buffer64", "buffer128"]);
const SLOW_SHAPES = new Set([SHAPES[0], SHAPES[5], SHAPES[9]]);
// buffer128 also runs on its vec4 cases (aligned, transposed, ranged) and the multi-tile shapes.
const TILE_SHAPES = new Set([SHAPES[10], SHAPES[11], ...SHAPES.slice(-3)]);

Deno.test("matmulKernel.cpu() matches the definition with transposes, strides and accumulation", () => {
  for (const s of SHAPES) {
    const len = lengths(s);
    const a = randArray(len.a, 1), b = randArray(len.b, 2), c = randArray(len.c, 3);
    const out = c.slice();
    matmulKernel.cpu({ ...s, a, b, out });
    assertClose(out, naive(s, a, b, c), 1e-6, `cpu ${JSON.stringify(s)}`);
  }
});

Deno.test("resolveMatmul() fills defaults and rejects bad sizes", () => {
  const p = resolveMatmul({ a: 0, b: 0, out: 0, m: 2, n: 3, k: 4, batch: 2, strideA: 0 });
  assertEquals([p.strideA, p.strideB, p.transA, p.accumulate], [0, 12, false, false]);
  throws(() => resolveMatmul({ a: 0, b: 0, out: 0, m: -1, n: 3, k: 4 }), /m = -1/);
  assertEquals(matmulShapeClass({ m: 4096, n: 512, k: 100 }), "matmul:4096x128x512");
});

Deno.test({
  name: "matmulKernel.gpu() matches the CPU reference for every variant on odd shapes",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const s of SHAPES) {
      const len = lengths(s);
      const ha = randArray(len.a, 4), hb = randArray(len.b, 5), hc = randArray(len.c, 6);
      const want = new Float32Array(hc);
      matmulKernel.cpu({ ...s, a: ha, b: hb, out: want });
      for (const offset of RANGED.has(s) ? [0, 256] : [0]) {
        const a = ranged(dev, ha, offset), b = ranged(dev, hb, offset);
        for (const variant of MATMUL_VARIANTS) {
          const p = resolveMatmul({ ...s, a, b, out: a });
          if (!matmulVariantFits(dev, p, variant)) continue;
          const tile = variant === "buffer128" && TILE_SHAPES.has(s);
          if (SLOW_TO_COMPILE.has(variant) && !SLOW_SHAPES.has(s) && !tile) continue;
          // Poisoned output, or known values to accumulate into.
          const out = s.accumulate ? ranged(dev, hc, offset) : ranged(dev, null, offset, len.c);
          assertEquals(matmulKernel.gpu(dev, { ...s, a, b, out, variant }), variant);
          const got = new Float32Array(await dev.read(out, len.c * 4));
          // Floor 1e-2: outputs are sums of K products of values in [-1, 1).
          const what = `${variant} ${JSON.stringify(s)} offset ${offset}`;
          assertClose(got, want, 1e-4, what, 1e-2);
          release(dev, out.buffer);
        }
        release(dev, a.buffer, b.buffer);
      }
    }
  },
});

Deno.test({
  name: "matmulKernel.gpu() with K = 0 writes zeros (or leaves C) and skips empty outputs",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const a = upload(dev, new Float32Array(1)), b = upload(dev, new Float32Array(1));
    for (const variant of ["direct", "buffer16"] as const) {
      const out = poisoned(dev, 15);
      matmulKernel.gpu(dev, { a, b, out, m: 3, n: 5, k: 0, variant });
      assertEquals([...await readF32(dev, out, 15)], new Array(15).fill(0));
      fillKernel.gpu(dev, { out, n: 15, value: 2 });
      matmulKernel.gpu(dev, { a, b, out, m: 3, n: 5, k: 0, variant, accumulate: true });
      assertEquals([...await readF32(dev, out, 15)], new Array(15).fill(2));
      release(dev, out);
    }
    assertEquals(matmulKernel.gpu(dev, { a, b, out: a, m: 0, n: 5, k: 3 }), null);
    release(dev, a, b);
  },
});

Deno.test({
  name: "tuneMatmul() checks and times the candidates and stores the winner per shape class",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const shape = { m: 40, k: 24, n: 36, transB: true };
    const key = matmulShapeClass(shape);
    dev.tuning.delete(key);
    const variants = ["direct", "texture4x4"] as const;
    const timings = await tuneMatmul(dev, [shape], () => dev.sync(), { variants, rounds: 2 });
    assertEquals(timings.map((t) => t.variant), [...variants]);
    for (const t of timings) ok(t.error < 1e-4 && t.ms > 0, JSON.stringify(t));
    const winner = dev.tuning.get(key);
    ok(winner === "direct" || winner === "texture4x4", `winner ${winner}`);
    // matmulKernel.gpu now follows the stored choice for this shape class.
    const len = lengths(shape);
    const a = upload(dev, randArray(len.a, 7)), b = upload(dev, randArray(len.b, 8));
    const out = poisoned(dev, len.c);
    assertEquals(matmulKernel.gpu(dev, { ...shape, a, b, out }), winner);
    await dev.sync();
    dev.tuning.delete(key);
    release(dev, a, b, out);
  },
});

/**
 * A context that can copy buffers into its scratch textures, as `KernelContext.copyBufferToTexture` asks: each copy
 * submits everything recorded before it first, so queue order is kept (test-only; a device
 * records the copy into its own command stream instead).
 */
function copyingContext(dev: Device): KernelContext & { copies: number } {
  const usage = GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.TEXTURE_BINDING |
    GPUTextureUsage.COPY_DST;
  return {
    device: dev.device,
    adapterName: dev.adapterName,
    isCpuAdapter: dev.isCpuAdapter,
    maxWorkgroups: dev.maxWorkgroups,
    tuning: new Map(),
    dispatch: (spec) => dev.dispatch(spec),
    scratch: (bytes) => dev.scratch(bytes),
    scratchTexture: (w, h, layers) =>
      dev.device.createTexture({ size: [w, h, layers], format: "rgba32float", usage }),
    copies: 0,
    copyBufferToTexture(src, layout, dst, size) {
      this.copies++;
      dev.flush();
      const [buffer, offset] = "buffer" in src ? [src.buffer, src.offset ?? 0] : [src, 0];
      const enc = dev.device.createCommandEncoder();
      enc.copyBufferToTexture({ buffer, offset, ...layout }, { texture: dst }, size);
      dev.device.queue.submit([enc.finish()]);
    },
  };
}

// Every transpose combination in every operand layout: copies where the rows already have the
// texel layout (multiples of 64), packs elsewhere; odd shapes always pack.
const FORM_SHAPES: MatmulShape[] = [
  { m: 64, k: 64, n: 128, batch: 2 },
  { m: 128, k: 64, n: 64, batch: 2, strideB: 0 },
  { m: 13, k: 10, n: 7, batch: 2 },
];

Deno.test({
  name: "matmulTexture() matches the CPU reference in every operand layout, copied or packed",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const copying = copyingContext(dev);
    for (const base of FORM_SHAPES) {
      for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
        const s = { ...base, transA, transB };
        const len = lengths(s);
        const ha = randArray(len.a, 9), hb = randArray(len.b, 10);
        const want = new Float32Array(len.c);
        matmulKernel.cpu({ ...s, a: ha, b: hb, out: want });
        const a = ranged(dev, ha, 256), b = ranged(dev, hb, 256);
        for (const aK of [false, true]) {
          for (const bK of [false, true]) {
            for (const ctx of [dev, copying]) {
              const out = ranged(dev, null, 0, len.c);
              matmulTexture(ctx, resolveMatmul({ ...s, a, b, out }), { tm: 4, tn: 4 }, { aK, bK });
              const got = new Float32Array(await dev.read(out, len.c * 4));
              const what = `${JSON.stringify(s)} aK ${aK} bK ${bK} copy ${ctx === copying}`;
              assertClose(got, want, 1e-4, what, 1e-2);
              release(dev, out.buffer);
            }
          }
        }
        release(dev, a.buffer, b.buffer);
      }
    }
    // Each layout of the 64-multiple shapes was copied at least once (2 shapes x 4 layouts).
    ok(copying.copies >= 8, `copies: ${copying.copies}`);
  },
});

/**
 * The two products of a linear layer's backward from one dY (T, O) row-major: dX = dY W (A along
 * k) and dW = dY^T X (A along m), checked against the CPU; returns the fills of dY's buffer that
 * `count` saw while they were recorded (`count` wraps the device and returns its undo).
 */
async function backwardPair(
  dev: Device,
  O: number,
  tile: { tm: number; tn: number },
  count: (dy: GPUBuffer, seen: () => void) => () => void,
): Promise<number> {
  const T = 80, I = 64;
  const hy = randArray(T * O, 21 + O), hw = randArray(O * I, 22), hx = randArray(T * I, 23);
  const dy = ranged(dev, hy, 256), w = ranged(dev, hw, 0), x = ranged(dev, hx, 0);
  const dx = ranged(dev, null, 0, T * I), dw = ranged(dev, null, 0, O * I);
  const sx = { m: T, k: O, n: I }, sw = { m: O, k: T, n: I, transA: true };
  let fills = 0;
  const undo = count(dy.buffer, () => fills++);
  try {
    matmulTexture(dev, resolveMatmul({ ...sx, a: dy, b: w, out: dx }), tile, {
      aK: true,
      bK: false,
    });
    matmulTexture(dev, resolveMatmul({ ...sw, a: dy, b: x, out: dw }), tile, {
      aK: false,
      bK: false,
    });
    const want = (s: MatmulShape, a: Float32Array, b: Float32Array) => {
      const out = new Float32Array(s.m * s.n);
      matmulKernel.cpu({ ...s, a, b, out });
      return out;
    };
    const gx = new Float32Array(await dev.read(dx, T * I * 4));
    assertClose(gx, want(sx, hy, hw), 1e-4, "dX", 1e-2);
    const gw = new Float32Array(await dev.read(dw, O * I * 4));
    assertClose(gw, want(sw, hy, hx), 1e-4, "dW", 1e-2);
    return fills;
  } finally {
    undo();
    release(dev, dy.buffer, w.buffer, x.buffer, dx.buffer, dw.buffer);
  }
}

Deno.test({
  name: "matmulTexture() fills an operand once for both products of a backward (dX and dW)",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    // Rows of 128 floats: copied, one copy for both roles.
    const copies = await backwardPair(dev, 128, { tm: 16, tn: 16 }, (dy, seen) => {
      const copy = dev.copyBufferToTexture;
      dev.copyBufferToTexture = (src, ...rest) => {
        if (("buffer" in src ? src.buffer : src) === dy) seen();
        copy.call(dev, src, ...rest);
      };
      return () => void (dev.copyBufferToTexture = copy);
    });
    assertEquals(copies, 1);
    // A decoder's dlogits (19 columns): rows too short to copy, packed with the same parameters
    // in both roles: one pack.
    const packs = await backwardPair(dev, 19, { tm: 4, tn: 4 }, (dy, seen) => {
      const dispatch = dev.dispatch;
      dev.dispatch = (spec) => {
        const src = spec.bindings[0] as GPUBufferBinding;
        if (spec.label === "matmul.pack" && src.buffer === dy) seen();
        dispatch.call(dev, spec);
      };
      return () => void (dev.dispatch = dispatch);
    });
    assertEquals(packs, 1);
  },
});

Deno.test({
  name: "matmulKernel.gpu() runs few-column products transposed (C^T written back) like the CPU",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    // A decoder's logits (N = 19) and an odd accumulating shape: lanes along M instead of N.
    const shapes: MatmulShape[] = [
      { m: 1216, n: 19, k: 128, transB: true },
      { m: 300, n: 7, k: 130, transA: true, accumulate: true },
    ];
    const codes: string[] = [];
    const dispatch = dev.dispatch;
    dev.dispatch = (spec) => {
      if (spec.label?.startsWith("matmul.texture")) codes.push(spec.code);
      dispatch.call(dev, spec);
    };
    try {
      for (const [i, s] of shapes.entries()) {
        const len = lengths(s);
        const ha = randArray(len.a, 40 + i), hb = randArray(len.b, 50 + i);
        const c0 = randArray(len.c, 60 + i), want = c0.slice();
        matmulKernel.cpu({ ...s, a: ha, b: hb, out: want });
        const a = ranged(dev, ha, 0), b = ranged(dev, hb, 0), out = ranged(dev, c0, 0);
        codes.length = 0;
        ok(matmulKernel.gpu(dev, { ...s, a, b, out })?.startsWith("texture"));
        ok(codes.some((c) => c.includes("c[tbase")), `${JSON.stringify(s)} ran transposed`);
        assertClose(
          new Float32Array(await dev.read(out, len.c * 4)),
          want,
          1e-4,
          JSON.stringify(s),
          1e-2,
        );
        release(dev, a.buffer, b.buffer, out.buffer);
      }
    } finally {
      dev.dispatch = dispatch;
    }
  },
});

Deno.test({
  name: "textureForm() picks layouts by estimated cost, copying operands when it can",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const tile = { tm: 16, tn: 16 };
    const plan = (s: MatmulShape) => resolveMatmul({ ...s, a: 0, b: 0, out: 0 });
    // The device can copy buffers into textures; these layouts assume packing kernels instead.
    const noCopy = Object.create(dev, { copyBufferToTexture: { value: undefined } }) as typeof dev;
    // Squares: the fastest main kernel (texels along m and n).
    assertEquals(textureForm(noCopy, plan({ m: 1024, k: 1024, n: 1024 }), tile), {
      aK: false,
      bK: false,
    });
    // Tall A (M = 4096): texels along k, where loads stay within a few pages.
    assertEquals(textureForm(noCopy, plan({ m: 4096, k: 512, n: 128 }), tile), {
      aK: true,
      bK: false,
    });
    // K past the texture limit along m and n (16384): texels along k still fit.
    const long = plan({ m: 64, k: 20000, n: 64 });
    ok(matmulVariantFits(dev, long, "texture16x16"));
    assertEquals(textureForm(noCopy, long, tile), { aK: true, bK: true });
    // With copies, a transposed A whose rows already run along m is copied, not packed.
    const copying = copyingContext(dev);
    const t = plan({ m: 512, k: 4096, n: 128, transA: true });
    assertEquals(textureForm(copying, t, tile).aK, false);
  },
});
