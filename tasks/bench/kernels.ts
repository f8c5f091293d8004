/**
 * `deno task bench kernels [--json] [--only TEXT] [--rounds N] [--per-submit N] [--tune] [--all]`:
 * per kernel, variant and size, the median time of one launch (many launches per submit, then
 * one wait), GFLOP/s or GB/s, and the adapter's name. Kernel families add cases to `CASES`
 * (`_kernel_cases.ts`).
 * @module
 */
import process from "node:process";
import { type Device, getDevice } from "../../core/device.ts";
import { tuneMatmul } from "../../kernels/matmul_tune.ts";
import { CASES, type KernelCase, MATMUL_SIZES } from "./_kernel_cases.ts";

/**
 * One measured row, as printed and as in the JSON document: milliseconds per launch at the
 * median and in the fastest round, GFLOP/s at both (null for memory-bound kernels), GB/s (null
 * without a byte count), GFLOP per second of process CPU time (median; on CPU adapters robust to
 * a busy machine), the first launch (compile included, ms), launches per submit and timed rounds
 * (submit + wait each).
 */
export interface KernelResult {
  kernel: string;
  /** `auto`: the launcher's own choice. */
  variant: string;
  size: string;
  medianMs: number;
  bestMs: number;
  gflops: number | null;
  bestGflops: number | null;
  gbps: number | null;
  cpuGflops: number | null;
  firstMs: number;
  perSubmit: number;
  rounds: number;
}

/**
 * The median of `xs` (the upper one of an even count; NaN when empty).
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { median } from "./kernels.ts";
 * equal(median([3, 1, 4, 2]), 3);
 * ```
 */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[s.length >> 1] : NaN;
}

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
 */
export async function measure(
  dev: Device,
  c: KernelCase,
  opts: { rounds: number; perSubmit: number },
): Promise<KernelResult> {
  const p = c.setup(dev);
  try {
    const timed = async (launches: number) => {
      const t0 = performance.now();
      for (let i = 0; i < launches; i++) p.launch();
      await dev.sync();
      return performance.now() - t0;
    };
    const firstMs = await timed(1);
    const oneMs = await timed(1), slow = oneMs > 1000;
    const perSubmit = slow ? 1 : Math.max(1, Math.min(opts.perSubmit, Math.ceil(2000 / oneMs)));
    const rounds = slow ? 2 : opts.rounds;
    const times: number[] = [], cpu: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const c0 = process.cpuUsage();
      times.push(await timed(perSubmit) / perSubmit);
      const used = process.cpuUsage(c0);
      cpu.push((used.user + used.system) / 1000 / perSubmit);
    }
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
    p.bufs.forEach((b) => dev.pool.release(b));
  }
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
 */
export async function run(args: string[]): Promise<void> {
  const json = args.includes("--json");
  const flag = (name: string) => args.includes(name) ? args[args.indexOf(name) + 1] : undefined;
  const only = flag("--only")?.split(",") ?? [];
  const rounds = Number(flag("--rounds") ?? 7);
  const perSubmit = Number(flag("--per-submit") ?? 20);
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
