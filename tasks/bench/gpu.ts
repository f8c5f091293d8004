/**
 * `deno task bench gpu [--quick] [--json] [--rounds N] [--steps N] [--no-torch]`: what one run on
 * a machine with a GPU should report, in at most 8 minutes: the adapter (limits, features); matmul
 * GFLOP/s at 1024^3, 4096^3 and the paper's shapes (B * T = 512 * 64 rows, hidden 1024); the
 * training step of the paper's 16x1 and 1x16 addition models in ms and tokens/s, run alternately
 * with PyTorch's when `python3` imports torch (`_gpu_step.ts`); KV-cached greedy decoding of
 * 100-digit addition prompts. `--quick` shrinks every shape (hidden 128, 2 layers or 2
 * recurrences, 16 rows) to run on a CPU adapter in minutes.
 * @module
 */
import { initBackend } from "../../core/backend.ts";
import { ArithmeticModel } from "../../core/nn/model.ts";
import { greedyDecode } from "../../core/nn/decode.ts";
import { Rng } from "../../kernels/rng.ts";
import type { MatmulVariant } from "../../kernels/matmul.ts";
import type { MatmulShape } from "../../kernels/matmul_tune.ts";
import { matmulCase } from "./_kernel_cases.ts";
import { measure } from "./kernels.ts";
import { prompts } from "./eval.ts";
import { benchSteps, stepConfigs } from "./_gpu_step.ts";

function positiveInt(args: string[], name: string, fallback: number): number {
  const raw = args.includes(name) ? args[args.indexOf(name) + 1] : undefined;
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) {
    throw new Error(`${name} must be a positive integer, got ${raw}`);
  }
  return v;
}

/** The matmul shapes: squares and the paper's projections at `rows` rows and width `h`. */
function matmulShapes(quick: boolean): MatmulShape[] {
  const rows = quick ? 1024 : 512 * 64, h = quick ? 128 : 1024;
  const sq = quick ? [256, 512] : [1024, 4096];
  return [
    ...sq.map((s) => ({ m: s, k: s, n: s })),
    { m: rows, k: h, n: 3 * h, transB: true }, // q/k/v projection x W^T
    { m: rows, k: h, n: h, transB: true }, // attention output, feed-forward output
    { m: rows, k: h, n: 2 * h, transB: true }, // feed-forward input (intermediate 2H)
    { m: h, k: rows, n: 3 * h, transA: true }, // q/k/v weight gradient dY^T X
    { m: rows, k: h, n: 3 * h }, // input gradient dY W
  ];
}

/**
 * Runs the benchmark (see the module doc).
 *
 * @example
 * ```ts ignore
 * await run(["--quick", "--json"]);
 * ```
 */
export async function run(args: string[]): Promise<void> {
  const known = new Set(["--quick", "--json", "--rounds", "--steps", "--no-torch"]);
  for (let i = 0; i < args.length; i++) {
    if (!known.has(args[i])) throw new Error(`unknown flag "${args[i]}" (see --help)`);
    if (args[i] === "--rounds" || args[i] === "--steps") i++;
  }
  const started = performance.now();
  const quick = args.includes("--quick"), json = args.includes("--json");
  const rounds = positiveInt(args, "--rounds", quick ? 2 : 3);
  const steps = positiveInt(args, "--steps", quick ? 2 : 5);
  const log = json ? () => {} : console.log;
  const backend = await initBackend();
  if (backend.kind !== "webgpu") throw new Error("bench gpu needs the webgpu backend");
  const dev = backend, d = dev.device;

  // The adapter.
  const limits: Record<string, number> = {};
  for (const key in d.limits) {
    const v = (d.limits as unknown as Record<string, unknown>)[key];
    if (typeof v === "number") limits[key] = v;
  }
  // The adapter's features (the device holds only those abacus requested).
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  const ad = await gpu?.requestAdapter({ powerPreference: "high-performance" });
  const adapter = {
    name: dev.adapterName,
    isCpuAdapter: dev.isCpuAdapter,
    features: ad ? [...ad.features].sort() : [],
    deviceFeatures: [...d.features].sort(),
    subgroups: d.features.has("subgroups" as GPUFeatureName),
    limits,
  };
  log(
    `bench gpu${quick ? " --quick" : ""} on ${adapter.name}${
      adapter.isCpuAdapter ? " (CPU adapter)" : ""
    }`,
  );
  log(`features: ${adapter.features.join(" ") || "(none)"}`);
  log(
    `limits: storage binding ${limits.maxStorageBufferBindingSize} B, workgroup memory ` +
      `${limits.maxComputeWorkgroupStorageSize} B, invocations ` +
      `${limits.maxComputeInvocationsPerWorkgroup}, buffer ${limits.maxBufferSize} B`,
  );

  // Matmul: the launcher's choice everywhere, and each GPU tile on GPUs (on CPU adapters those
  // run at 0.2-2 GFLOP/s: only buffer128 at the smallest square, to show it runs).
  const matmul: object[] = [];
  log("\nmatmul (M x K x N)\tvariant\tmedian ms\tGFLOP/s\tbest GFLOP/s");
  const shapes = matmulShapes(quick);
  for (const [i, shape] of shapes.entries()) {
    const variants: (MatmulVariant | "auto")[] = dev.isCpuAdapter
      ? (i === 0 ? ["auto", "buffer128"] : ["auto"])
      : ["auto", "buffer128", "buffer64"];
    for (const v of variants) {
      const c = matmulCase(shape, v);
      if (c.fits && !c.fits(dev)) continue;
      try {
        const r = await measure(dev, c, { rounds: quick ? 3 : 7, perSubmit: quick ? 2 : 20 });
        const { size, medianMs, gflops, bestGflops, firstMs } = r;
        matmul.push({ size, variant: v, medianMs, gflops, bestGflops, firstMs });
        log(
          `${size}\t${v}\t${medianMs.toFixed(3)}\t${gflops?.toFixed(1)}\t${bestGflops?.toFixed(1)}`,
        );
      } catch (e) {
        log(`${c.size}\t${v}\tfailed: ${(e as Error).message}`);
      }
    }
  }

  // Training steps, alternating abacus and PyTorch per round (`_gpu_step.ts`).
  const configs = await stepConfigs(quick);
  const { step, ratios, errors, torch } = await benchSteps(dev, configs, {
    rounds,
    steps,
    torch: !args.includes("--no-torch"),
    log,
  });

  // KV-cached decoding of 100-digit prompts.
  const decoding: object[] = [];
  const digits = 100, count = quick ? 8 : 100;
  log(`\nKV-cached greedy decoding, ${count} prompts of ${digits}+${digits} digits`);
  log("config\tseconds\tnew tokens/s\tprompts/s");
  for (const c of configs) {
    let model: ArithmeticModel | undefined;
    try {
      model = ArithmeticModel.create(c.arch, { backend: dev, seed: 1 });
      const ps = prompts(digits, count, new Rng(5));
      const newTokens = digits + 2;
      const opts = { maxNewTokens: newTokens, seed: 3, eosId: -1 };
      await greedyDecode(model, ps, { ...opts, maxNewTokens: 2 }); // compiles the pipelines
      const t0 = performance.now();
      await greedyDecode(model, ps, opts);
      const seconds = (performance.now() - t0) / 1000;
      const f = {
        config: c.name,
        digits,
        prompts: count,
        promptTokens: ps[0].length,
        newTokens,
        seconds,
        tokensPerSecond: count * newTokens / seconds, // generated tokens, over the batch
        sequencesPerSecond: count / seconds,
      };
      decoding.push(f);
      log(
        `${c.name}\t${seconds.toFixed(2)}\t${f.tokensPerSecond.toFixed(0)}\t${
          f.sequencesPerSecond.toFixed(2)
        }`,
      );
    } catch (e) {
      errors[`${c.name} decoding`] = (e as Error).message;
      log(`${c.name}\tfailed: ${(e as Error).message}`);
    } finally {
      model?.dispose();
    }
  }
  const seconds = (performance.now() - started) / 1000;
  log(`\ntook ${seconds.toFixed(0)} s`);
  for (const [k, v] of Object.entries(errors)) log(`error: ${k}: ${v}`);
  if (json) {
    console.log(JSON.stringify(
      {
        bench: "gpu",
        quick,
        date: new Date().toISOString(),
        deno: Deno.version.deno,
        adapter,
        matmul,
        step,
        ratios,
        decoding,
        pytorch: torch.available ? torch : { ...torch, note: "PyTorch figures absent" },
        errors,
        seconds,
      },
      null,
      2,
    ));
  }
}
