// Benchmark of the training step as `deno task train` runs it (recordStep with the loss readback
// deferred by one step): tokens per second, milliseconds, submits and readbacks per optimizer
// step for the tiny-addition preset and a 4-layer, width-256, 8-head model on the same rows.
// Run: deno task bench train [--json] [--steps N] [--backend webgpu|cpu].

import { cpuUsage } from "node:process";
import { parseArgs } from "node:util";
import { loadConfig } from "../../cli/config.ts";
import type { PretrainConfig } from "../../cli/config_types.ts";
import { resolveArch } from "../../core/nn/arch.ts";
import { ArithmeticModel } from "../../core/nn/model.ts";
import { paramCounts } from "../../core/nn/params.ts";
import { AdamW } from "../../core/optim.ts";
import { type Backend, initBackend } from "../../core/backend.ts";
import { openDataset } from "../../data/dataset.ts";
import { generateDataset } from "../../data/generate.ts";
import { TrainStream } from "../train/dataset.ts";
import { recordStep } from "../train/loop.ts";

/** The configurations measured: name and overrides on top of `preset=tiny-addition`. */
const TRAIN_BENCH_CONFIGS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  "tiny-addition": [],
  "4x256": [
    "arch.layers_in_recurrent_block=4",
    "arch.hidden_size=256",
    "arch.intermed_size=512",
    "arch.attention.num_attention_heads=8",
  ],
});

/**
 * One configuration's figures: `rows` per microbatch of `rowLength` tokens, `steps` optimizer
 * steps timed after the warm-up, process CPU seconds (user + system, all threads: robust to load)
 * per step, submits and readbacks per step (webgpu) and the last loss (a sanity check: finite and
 * falling).
 */
async function measure(
  name: string,
  cfg: PretrainConfig,
  backend: Backend,
  dir: string,
  counts: { warmup: number; steps: number },
) {
  const ds = await openDataset(dir);
  const T = ds.meta.rowLength, mb = cfg.impl.microbatch_size;
  const arch = resolveArch(cfg.arch, ds.meta.vocabSize);
  const model = ArithmeticModel.create(arch, { backend, seed: 0 });
  const opt = new AdamW(model.arena, {
    betas: [cfg.train.optim.betas[0], cfg.train.optim.betas[1]],
    eps: cfg.train.optim.eps,
    weightDecay: cfg.train.optim.weight_decay,
    maxGradNorm: cfg.train.gradient_clipping,
  });
  const stream = new TrainStream(ds, mb);
  const stats =
    () => (backend.kind === "cpu" ? { submits: 0, readbacks: 0 } : { ...backend.stats });
  let pending: Promise<number> | null = null, last = NaN, t0 = 0, s0 = stats(), c0 = cpuUsage();
  for (let i = 0; i < counts.warmup + counts.steps; i++) {
    if (i === counts.warmup) {
      if (pending) last = await pending;
      pending = null;
      t0 = performance.now();
      s0 = stats();
      c0 = cpuUsage();
    }
    const loss = recordStep(model, opt, {
      batches: [await stream.next()],
      rows: mb,
      rowLength: T,
      lr: cfg.train.optim.lr,
    });
    const read = loss.toArray().then((a) => a[0]);
    loss.dispose();
    if (pending) last = await pending;
    pending = read;
  }
  if (pending) last = await pending;
  const seconds = (performance.now() - t0) / 1000, s1 = stats(), cpu = cpuUsage(c0);
  opt.dispose();
  model.dispose();
  ds.close();
  return {
    config: name,
    params: paramCounts(arch).total,
    rows: mb,
    rowLength: T,
    steps: counts.steps,
    tokensPerSecond: (counts.steps * mb * T) / seconds,
    msPerStep: (1000 * seconds) / counts.steps,
    cpuSecondsPerStep: (cpu.user + cpu.system) / 1e6 / counts.steps,
    submitsPerStep: (s1.submits - s0.submits) / counts.steps,
    readbacksPerStep: (s1.readbacks - s0.readbacks) / counts.steps,
    lastLoss: last,
  };
}

/**
 * Runs the training benchmark: `--steps N` timed steps after `--warmup N` (defaults 20 and 3),
 * `--backend webgpu|cpu` (default webgpu, the default adapter), `--only NAME`, `--json`.
 *
 * @example
 * ```ts ignore
 * import { run } from "./train.ts";
 * await run(["--steps", "5", "--json"]);
 * ```
 */
export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      steps: { type: "string" },
      warmup: { type: "string" },
      backend: { type: "string" },
      only: { type: "string" },
      json: { type: "boolean" },
    },
    strict: true,
  });
  const steps = Number(values.steps ?? 20), warmup = Number(values.warmup ?? 3);
  if (!(Number.isSafeInteger(steps) && steps > 0 && Number.isSafeInteger(warmup) && warmup >= 0)) {
    throw new Error(`Cannot run train bench: --steps and --warmup must be integers (>0, >=0)`);
  }
  const kind = values.backend ?? "webgpu";
  if (kind !== "webgpu" && kind !== "cpu") {
    throw new Error(`Cannot run train bench: --backend must be webgpu or cpu, got ${kind}`);
  }
  const names = values.only ? [values.only] : Object.keys(TRAIN_BENCH_CONFIGS);
  const backend = await initBackend(kind);
  const root = await Deno.makeTempDir({ prefix: "abacus-bench-train-" });
  const results = [];
  try {
    const dir = `${root}/ds`;
    await generateDataset({ preset: "tiny-addition", spec: { limit: 5000 }, out: dir });
    for (const name of names) {
      const extra = TRAIN_BENCH_CONFIGS[name];
      if (!extra) throw new Error(`Cannot run train bench: unknown config ${name}`);
      const cfg = await loadConfig(["preset=tiny-addition", ...extra], "pretrain", {
        log: () => {},
      });
      results.push(await measure(name, cfg, backend, dir, { warmup, steps }));
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
  const device = backend.kind === "cpu" ? "cpu backend" : backend.adapterName;
  if (values.json) {
    for (const r of results) console.log(JSON.stringify({ bench: "train", device, ...r }));
    return;
  }
  console.log(`train step on ${device} (microbatch x row length, ${steps} steps after ${warmup}):`);
  for (const r of results) {
    const cells = [
      r.config.padEnd(14),
      `${String(r.params).padStart(8)} params`,
      `${r.rows}x${r.rowLength}`,
      `${r.tokensPerSecond.toFixed(0).padStart(6)} tokens/s`,
      `${r.msPerStep.toFixed(1)} ms/step (CPU ${(1000 * r.cpuSecondsPerStep).toFixed(0)} ms)`,
      `${r.submitsPerStep} submits, ${r.readbacksPerStep} readbacks per step`,
      `loss ${r.lastLoss.toFixed(4)}`,
    ];
    console.log(`  ${cells.join("  ")}`);
  }
}
