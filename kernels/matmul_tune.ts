/**
 * Per-adapter choice of matmul variant by measurement: `tuneMatmul` checks every candidate
 * against the CPU reference, times it with many launches per submit, and stores the winner per
 * shape class in `ctx.tuning`, where `matmulKernel.gpu` looks first.
 * @module
 */
import { type KernelContext, roundUp } from "./context.ts";
import { Rng } from "./rng.ts";
import {
  MATMUL_VARIANTS,
  type MatmulArgs,
  matmulHeuristic,
  matmulKernel,
  type MatmulPlan,
  matmulShapeClass,
  type MatmulVariant,
  matmulVariantFits,
  resolveMatmul,
} from "./matmul.ts";

/** Sizes for `tuneMatmul` (buffers are made inside). */
export type MatmulShape = Omit<MatmulArgs<unknown>, "a" | "b" | "out" | "variant">;

/** One candidate's measurement from `tuneMatmul`. */
export interface MatmulTiming {
  /** The shape class key. */
  key: string;
  /** The variant measured. */
  variant: MatmulVariant;
  /** Median milliseconds per matmul (NaN when it failed the check or does not fit). */
  ms: number;
  /** Max relative error against the CPU reference on the checked rows. */
  error: number;
}

const MAP_READ = 0x1, COPY_DST = 0x8, STORAGE_COPY = 0x80 | 0x4 | 0x8;

/**
 * Checks rows of C (first, middle, last of the first, middle, last batch element) against the
 * CPU reference; `p.out` holds C's values before the launch (added when accumulating). Errors are
 * relative to max(|want|, RMS of the row), so near-zero sums of many terms do not dominate.
 */
function checkRows(p: MatmulPlan<Float32Array>, got: Float32Array): number {
  let worst = 0;
  for (const z of new Set([0, p.batch >> 1, p.batch - 1])) {
    for (const m of new Set([0, p.m >> 1, p.m - 1])) {
      const arow = new Float32Array(p.k);
      for (let k = 0; k < p.k; k++) {
        arow[k] = p.a[z * p.strideA + (p.transA ? k * p.m + m : m * p.k + k)];
      }
      const want = new Float64Array(p.n);
      const bz = p.b.subarray(z * p.strideB, z * p.strideB + p.k * p.n);
      matmulKernel.cpu({ a: arow, b: bz, out: want, m: 1, n: p.n, k: p.k, transB: p.transB });
      const c0 = (z * p.m + m) * p.n;
      if (p.accumulate) { for (let n = 0; n < p.n; n++) want[n] += p.out[c0 + n]; }
      let rms = 0;
      for (let n = 0; n < p.n; n++) rms += want[n] * want[n];
      rms = Math.sqrt(rms / p.n) || 1;
      for (let n = 0; n < p.n; n++) {
        const d = Math.abs(got[c0 + n] - want[n]) / Math.max(Math.abs(want[n]), rms);
        if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
      }
    }
  }
  return worst;
}

async function readBuffer(dev: GPUDevice, src: GPUBuffer, n: number): Promise<Float32Array> {
  const staging = dev.createBuffer({ size: n * 4, usage: MAP_READ | COPY_DST });
  const enc = dev.createCommandEncoder();
  enc.copyBufferToBuffer(src, 0, staging, 0, n * 4);
  dev.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return out;
}

/**
 * Measures the variants on given shapes and stores each shape class's winner in `ctx.tuning`.
 *
 * Each candidate first runs once and is checked against the CPU reference on a few rows
 * (a variant with relative error above 1e-4 is dropped); then it is timed as the median over
 * `rounds` of `perSubmit` launches followed by one `sync()`.
 *
 * @example
 * ```ts ignore
 * const dev = await getDevice();
 * await tuneMatmul(dev, [{ m: 4096, n: 512, k: 128 }], () => dev.sync());
 * ```
 * @param shapes sizes to measure (transposes and batch strides are honoured)
 * @param sync flushes the recorded work and waits for it (e.g. `() => dev.sync()`)
 * @param options candidates (default all), launches per submit, rounds
 */
export async function tuneMatmul(
  ctx: KernelContext,
  shapes: MatmulShape[],
  sync: () => Promise<void>,
  options: { variants?: readonly MatmulVariant[]; perSubmit?: number; rounds?: number } = {},
): Promise<MatmulTiming[]> {
  const dev = ctx.device, results: MatmulTiming[] = [];
  const rounds = options.rounds ?? 5;
  for (const s of shapes) {
    const sizes = resolveMatmul({ ...s, a: 0, b: 0, out: 0 });
    const lenA = roundUp(Math.max(1, sizes.strideA * (sizes.batch - 1) + sizes.m * sizes.k), 4);
    const lenB = roundUp(Math.max(1, sizes.strideB * (sizes.batch - 1) + sizes.k * sizes.n), 4);
    const lenC = roundUp(Math.max(1, sizes.batch * sizes.m * sizes.n), 4);
    // Random contents in [-1, 1) from a fixed seed.
    const rng = new Rng(1);
    const random = (n: number) => Float32Array.from({ length: n }, () => rng.float() * 2 - 1);
    const ha = random(lenA), hb = random(lenB), hc = random(lenC);
    const mk = (data: Float32Array<ArrayBuffer>) => {
      const buf = dev.createBuffer({ size: data.byteLength, usage: STORAGE_COPY });
      dev.queue.writeBuffer(buf, 0, data);
      return buf;
    };
    const a = mk(ha), b = mk(hb), out = mk(hc);
    const key = matmulShapeClass(sizes);
    const p = { ...sizes, a, b, out };
    let best: MatmulTiming | null = null;
    // The heuristic's choice first, so that hopeless candidates are cut after one launch.
    const guess = matmulHeuristic(ctx, p), all = options.variants ?? MATMUL_VARIANTS;
    const order = all.includes(guess) ? [guess, ...all.filter((v) => v !== guess)] : all;
    const mine: MatmulTiming[] = [];
    for (const variant of order) {
      const timing: MatmulTiming = { key, variant, ms: NaN, error: NaN };
      mine.push(timing);
      if (!matmulVariantFits(ctx, p, variant)) continue;
      dev.queue.writeBuffer(out, 0, hc);
      matmulKernel.gpu(ctx, { ...p, variant });
      await sync();
      const got = await readBuffer(dev, out, lenC);
      timing.error = checkRows({ ...sizes, a: ha, b: hb, out: hc }, got);
      if (!(timing.error < 1e-4)) continue;
      // One launch, then four: the difference estimates a launch without the sync overhead.
      let t0 = performance.now();
      matmulKernel.gpu(ctx, { ...p, variant });
      await sync();
      const one = performance.now() - t0;
      if (best && one > 4 * best.ms + 20) {
        timing.ms = one; // hopeless next to the best so far: one timing is enough
        continue;
      }
      t0 = performance.now();
      for (let i = 0; i < 4; i++) matmulKernel.gpu(ctx, { ...p, variant });
      await sync();
      const each = Math.max((performance.now() - t0 - one) / 3, 0.01);
      // Launches per submit: about 20 ms of work.
      const per = options.perSubmit ?? Math.max(1, Math.min(100, Math.round(20 / each)));
      const times: number[] = [];
      for (let r = 0; r < rounds; r++) {
        t0 = performance.now();
        for (let i = 0; i < per; i++) matmulKernel.gpu(ctx, { ...p, variant });
        await sync();
        times.push((performance.now() - t0) / per);
      }
      times.sort((x, y) => x - y);
      timing.ms = times[times.length >> 1];
      if (!best || timing.ms < best.ms) best = timing;
    }
    if (best) ctx.tuning.set(key, best.variant);
    results.push(...mine.sort((x, y) => all.indexOf(x.variant) - all.indexOf(y.variant)));
    a.destroy(), b.destroy(), out.destroy();
  }
  return results;
}

/**
 * A quick first-use measurement of which matmul family suits this adapter: the texture
 * register-tile kernels (CPU adapters such as llvmpipe) or the workgroup-memory buffer kernels
 * (real GPUs). Times both on one 256 x 256 x 256 product and stores `texture` or `buffer` under
 * `ctx.tuning.get("matmul.family")`, which `matmulHeuristic` then follows.
 *
 * @example
 * ```ts ignore
 * const family = await probeMatmulFamily(dev, () => dev.sync());
 * ```
 */
export async function probeMatmulFamily(
  ctx: KernelContext,
  sync: () => Promise<void>,
): Promise<"texture" | "buffer"> {
  const shape = { m: 256, k: 256, n: 256 };
  const timings = await tuneMatmul(ctx, [shape], sync, {
    variants: ["texture16x16", "buffer64"],
    perSubmit: 2,
    rounds: 2,
  });
  const best = timings.filter((t) => Number.isFinite(t.ms)).sort((a, b) => a.ms - b.ms)[0];
  const family = best && best.variant.startsWith("buffer") ? "buffer" : "texture";
  ctx.tuning.set("matmul.family", family);
  return family;
}
