/**
 * `deno task bench kernels [--json] [--only TEXT] [--rounds N] [--per-submit N] [--tune] [--all]`:
 * per kernel, variant and size, the median time of one launch (many launches per submit, then
 * one wait), GFLOP/s or GB/s, and the adapter's name. Kernel families add cases to `CASES`.
 * @module
 */
import process from "node:process";
import { type Device, getDevice } from "../../core/device.ts";
import {
  MATMUL_VARIANTS,
  matmulKernel,
  type MatmulVariant,
  matmulVariantFits,
  resolveMatmul,
} from "../../kernels/matmul.ts";
import { type MatmulShape, tuneMatmul } from "../../kernels/matmul_tune.ts";

import { type KernelCase, OTHER_CASES } from "./_kernel_cases.ts";

/** One measured row, as printed and as in the JSON document. */
export interface KernelResult {
  /** Kernel family. */
  kernel: string;
  /** Variant (`auto`: the launcher's own choice). */
  variant: string;
  /** Size label. */
  size: string;
  /** Median milliseconds per launch over the rounds. */
  medianMs: number;
  /** Fastest round's milliseconds per launch. */
  bestMs: number;
  /** GFLOP/s at the median (null for memory-bound kernels). */
  gflops: number | null;
  /** GFLOP/s of the fastest round. */
  bestGflops: number | null;
  /** GB/s at the median (null when the case gives no byte count). */
  gbps: number | null;
  /** GFLOP per second of process CPU time (median; CPU adapters: robust to a busy machine). */
  cpuGflops: number | null;
  /** First launch, compile included (ms). */
  firstMs: number;
  /** Launches recorded per submit. */
  perSubmit: number;
  /** Timed rounds (submit + wait each). */
  rounds: number;
}

/** Sizes as M x K x N: squares and the transformer shapes (B * T = 64 * 64 rows). */
const MATMUL_SIZES: [number, number, number][] = [
  [256, 256, 256],
  [512, 512, 512],
  [1024, 1024, 1024],
  [4096, 128, 512],
  [4096, 512, 128],
  [4096, 128, 384],
  [4096, 128, 128],
];

function random(n: number, seed: number): Float32Array<ArrayBuffer> {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 4294967296 - 0.5;
  }
  return out;
}

/**
 * A matmul benchmark case: random operands of the shape, the variant forced (or `auto`).
 *
 * @example
 * ```ts ignore
 * const r = await measure(dev, matmulCase({ m: 1024, k: 1024, n: 1024 }, "auto"), opts);
 * ```
 */
export function matmulCase(shape: MatmulShape, variant: MatmulVariant | "auto"): KernelCase {
  const { m, k, n } = shape, batch = shape.batch ?? 1;
  const t = `${shape.transA ? "A^T" : ""}${shape.transB ? "B^T" : ""}`;
  return {
    kernel: "matmul",
    variant,
    size: `${batch > 1 ? `${batch}x` : ""}${m}x${k}x${n}${t ? ` ${t}` : ""}`,
    flops: 2 * batch * m * n * k,
    bytes: 4 * batch * (m * k + k * n + m * n),
    // Workgroup-memory tiles and the direct kernel run at 0.2-2 GFLOP/s on llvmpipe.
    slowOnCpu: variant.startsWith("buffer") || variant === "direct" ? m * k * n > 1 << 24 : false,
    fits: (dev) =>
      variant === "auto" ||
      matmulVariantFits(dev, resolveMatmul({ ...shape, a: 0, b: 0, out: 0 }), variant),
    setup(dev) {
      // Rounded up to whole vec4s (the buffer128 variant binds aligned operands as vec4f).
      const a = dev.pool.acquire(16 * Math.ceil(batch * m * k / 4));
      const b = dev.pool.acquire(16 * Math.ceil(batch * k * n / 4));
      const out = dev.pool.acquire(4 * batch * m * n);
      dev.upload(a, random(batch * m * k, 1));
      dev.upload(b, random(batch * k * n, 2));
      const args = { ...shape, a, b, out, variant: variant === "auto" ? undefined : variant };
      return {
        launch: () => void matmulKernel.gpu(dev, args),
        dispose: () => [a, b, out].forEach((x) => dev.pool.release(x)),
      };
    },
  };
}

/** Every case: each matmul variant at each size, then `auto` (what models get). */
export const CASES: KernelCase[] = [
  ...MATMUL_SIZES.flatMap(([m, k, n]) =>
    [...MATMUL_VARIANTS, "auto" as const].map((v) => matmulCase({ m, k, n }, v))
  ),
  ...OTHER_CASES,
];

/**
 * Times one case: a first launch (compiles), then `rounds` of `perSubmit` launches and one sync.
 *
 * Slow cases (a first launch over a second, e.g. workgroup-memory tiles on llvmpipe) get one
 * launch per submit and two rounds, so the whole table stays within minutes.
 *
 * @example
 * ```ts ignore
 * const r = await measure(await getDevice(), CASES[0], { rounds: 7, perSubmit: 20 });
 * ```
 * @param opts rounds and launches per submit
 */
export async function measure(
  dev: Device,
  c: KernelCase,
  opts: { rounds: number; perSubmit: number },
): Promise<KernelResult> {
  const p = c.setup(dev);
  try {
    let t0 = performance.now();
    p.launch();
    await dev.sync();
    const firstMs = performance.now() - t0;
    t0 = performance.now();
    p.launch();
    await dev.sync();
    const oneMs = performance.now() - t0;
    const slow = oneMs > 1000;
    const perSubmit = slow ? 1 : Math.max(1, Math.min(opts.perSubmit, Math.ceil(2000 / oneMs)));
    const rounds = slow ? 2 : opts.rounds;
    const times: number[] = [], cpu: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const c0 = process.cpuUsage();
      t0 = performance.now();
      for (let i = 0; i < perSubmit; i++) p.launch();
      await dev.sync();
      times.push((performance.now() - t0) / perSubmit);
      const used = process.cpuUsage(c0);
      cpu.push((used.user + used.system) / 1000 / perSubmit);
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
    const medianMs = median(times), bestMs = Math.min(...times), cpuMs = median(cpu);
    const rate = (units: number | undefined, ms: number) => units ? units / ms / 1e6 : null;
    return {
      kernel: c.kernel,
      variant: c.variant,
      size: c.size,
      medianMs,
      bestMs,
      gflops: rate(c.flops, medianMs),
      bestGflops: rate(c.flops, bestMs),
      gbps: rate(c.bytes, medianMs),
      cpuGflops: rate(c.flops, cpuMs),
      firstMs,
      perSubmit,
      rounds,
    };
  } finally {
    p.dispose();
  }
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

const fx = (v: number | null, d = 1) => (v === null ? "-" : v.toFixed(d));

/**
 * Runs the kernel benchmark and prints a table, or one JSON document with `--json`.
 *
 * Options: `--only TEXT` keeps cases whose `kernel/variant/size` contains TEXT (repeatable as a
 * comma list), `--rounds N` (default 7), `--per-submit N` (default 20), `--tune` runs
 * `tuneMatmul` on the matmul sizes first (so `auto` rows show the tuned choice), `--all` keeps
 * the GPU-style variants that take seconds per launch on CPU adapters.
 *
 * @example
 * ```ts ignore
 * import { run } from "./kernels.ts";
 * await run(["--only", "matmul/texture16x16", "--json"]);
 * ```
 * @param args command-line arguments after `kernels`
 */
export async function run(args: string[]): Promise<void> {
  const json = args.includes("--json");
  const only = flag(args, "--only")?.split(",") ?? [];
  const rounds = Number(flag(args, "--rounds") ?? 7);
  const perSubmit = Number(flag(args, "--per-submit") ?? 20);
  const dev = await getDevice();
  const log = json ? () => {} : console.log;
  const loadStart = Deno.loadavg();
  log(`adapter: ${dev.adapterName}${dev.isCpuAdapter ? " (CPU adapter)" : ""}`);
  log(`load average at start: ${loadStart.map((x) => x.toFixed(2)).join(" ")}`);
  if (args.includes("--tune")) {
    const shapes = MATMUL_SIZES.map(([m, k, n]) => ({ m, k, n }));
    const tuned = await tuneMatmul(dev, shapes, () => dev.sync());
    for (const t of tuned) {
      if (t.variant === dev.tuning.get(t.key)) log(`tuned ${t.key}: ${t.variant}`);
    }
  }
  const all = args.includes("--all");
  const cases = CASES.filter((c) =>
    (only.length === 0 || only.some((o) => `${c.kernel}/${c.variant}/${c.size}`.includes(o))) &&
    (c.fits?.(dev) ?? true) && (all || !(dev.isCpuAdapter && c.slowOnCpu))
  );
  const skipped = CASES.filter((c) => dev.isCpuAdapter && c.slowOnCpu && !all).length;
  if (skipped) {
    log(`skipping ${skipped} GPU-style cases that take seconds on a CPU adapter (--all)`);
  }
  const header = ["kernel", "variant", "size", "median ms", "best ms", "GFLOP/s", "best", "GB/s"];
  if (dev.isCpuAdapter) header.push("GFLOP/cpu-s");
  header.push("first ms");
  log(header.join("\t"));
  const results: KernelResult[] = [];
  for (const c of cases) {
    const r = await measure(dev, c, { rounds, perSubmit });
    results.push(r);
    const row = [r.kernel, r.variant, r.size, fx(r.medianMs, 3), fx(r.bestMs, 3), fx(r.gflops)];
    row.push(fx(r.bestGflops), fx(r.gbps));
    if (dev.isCpuAdapter) row.push(fx(r.cpuGflops));
    row.push(fx(r.firstMs, 0));
    log(row.join("\t"));
  }
  const loadEnd = Deno.loadavg();
  log(`load average at end: ${loadEnd.map((x) => x.toFixed(2)).join(" ")}`);
  if (json) {
    console.log(JSON.stringify(
      {
        adapter: dev.adapterName,
        isCpuAdapter: dev.isCpuAdapter,
        date: new Date().toISOString(),
        deno: Deno.version.deno,
        loadavg: { start: loadStart, end: loadEnd },
        tuning: Object.fromEntries(dev.tuning),
        results,
      },
      null,
      2,
    ));
  }
}
