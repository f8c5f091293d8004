/**
 * `deno task bench gpu [--quick] [--json] [--rounds N] [--steps N] [--no-torch]`: what one run on
 * a machine with a GPU should report, in at most 8 minutes: the adapter (limits, features); matmul
 * GFLOP/s at 1024^3, 4096^3 and the paper's shapes (B * T = 512 * 64 rows, hidden 1024); the
 * training step of the paper's 16x1 and 1x16 addition models (hidden 1024, 16 heads, upstream's
 * microbatch of 512 rows of 64 tokens) in ms and tokens/s; KV-cached greedy decoding of 100-digit
 * addition prompts; and, when `python3` can import torch, the same step in PyTorch (fp32, and bf16
 * autocast as upstream trains) run alternately with abacus's in rounds, for the ratio.
 * `--quick` shrinks every shape (hidden 128, 2 layers or 2 recurrences, 16 rows) to run on a CPU
 * adapter in minutes.
 *
 * The step is upstream's max-iteration TBPTT pass: R - min(R, max_backprop) recurrences without
 * gradient, then min(R, max_backprop) with (16x1: 0 and 1; 1x16: 8 and 8), then AdamW. Where
 * abacus's steps of a configuration would take over a minute in all, rounds run fewer steps (at
 * least one), PyTorch as many as abacus.
 * @module
 */
import { initBackend } from "../../core/backend.ts";
import { type Device, getDevice } from "../../core/device.ts";
import { backward } from "../../core/ops/backward.ts";
import { AdamW } from "../../core/optim.ts";
import { scope } from "../../core/tensor.ts";
import { ArithmeticModel } from "../../core/nn/model.ts";
import { type Arch, resolveArch } from "../../core/nn/arch.ts";
import { greedyDecode } from "../../core/nn/decode.ts";
import { modelCallLoss } from "../../core/nn/objective.ts";
import { loadConfig } from "../../cli/config.ts";
import { TRAIN_PRESETS } from "../../data/presets.ts";
import { rowLength } from "../../data/row_length.ts";
import { resolveSpec } from "../../data/spec.ts";
import { Rng } from "../../kernels/rng.ts";
import type { MatmulVariant } from "../../kernels/matmul_plan.ts";
import type { MatmulShape } from "../../kernels/matmul_tune.ts";
import { type KernelResult, matmulCase, measure } from "./kernels.ts";
import { prompts } from "./eval.ts";
import {
  probeTorch,
  type TorchFigures,
  TorchPeer,
  torchScript,
  type TorchShape,
} from "./_gpu_torch.ts";

/** Milliseconds of abacus steps per configuration after which rounds get fewer steps. */
const STEP_BUDGET_MS = 60_000;

/** One model configuration of the step benchmark. */
interface StepConfig {
  /** `16x1` or `1x16` (layers x recurrences), as in the paper. */
  name: string;
  /** The resolved architecture. */
  arch: Arch;
  /** Rows per step. */
  batch: number;
  /** Tokens per row. */
  seq: number;
  /** Recurrences without gradient. */
  n: number;
  /** Recurrences with gradient. */
  k: number;
}

/** One framework's step figures on one configuration. */
export interface StepFigures {
  /** Configuration name. */
  config: string;
  /** `abacus`, `pytorch-fp32` or `pytorch-bf16`. */
  framework: string;
  /** Median ms per step over every timed step of every round. */
  msPerStep: number;
  /** Fastest step. */
  msMin: number;
  /** Tokens per second at the median. */
  tokensPerSecond: number;
  /** Each round's median, in run order. */
  roundMedians: number[];
  /** Parameter count. */
  params: number;
  /** First step (abacus: pipeline compilation included), ms. */
  firstMs?: number;
  /** Last loss (a sanity check). */
  lastLoss: number;
}

/** Decoding throughput of one model. */
export interface DecodeFigures {
  /** Configuration name. */
  config: string;
  /** Operand digits of the prompts. */
  digits: number;
  /** Prompts decoded at once. */
  prompts: number;
  /** Prompt length in tokens. */
  promptTokens: number;
  /** Tokens generated per prompt. */
  newTokens: number;
  /** Seconds for the batch (after a warm-up). */
  seconds: number;
  /** Generated tokens per second over the batch. */
  tokensPerSecond: number;
  /** Prompts per second. */
  sequencesPerSecond: number;
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

function positiveInt(args: string[], name: string, fallback: number): number {
  const raw = flag(args, name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) {
    throw new Error(`${name} must be a positive integer, got ${raw}`);
  }
  return v;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[s.length >> 1] : NaN;
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

/** The two paper models, full size or shrunk by `--quick`. */
async function stepConfigs(quick: boolean): Promise<StepConfig[]> {
  const out: StepConfig[] = [];
  const seq = rowLength(resolveSpec(TRAIN_PRESETS.addition.spec)); // 64: 20+20-digit addition rows
  for (const [name, preset] of [["16x1", "addition-16x1"], ["1x16", "addition-1x16"]]) {
    const shrink = quick
      ? [
        "arch.hidden_size=128",
        "arch.intermed_size=256",
        "arch.attention.num_attention_heads=4",
        name === "16x1" ? "arch.layers_in_recurrent_block=2" : "arch.maximal_recurrence=2",
      ]
      : [];
    const cfg = await loadConfig([`preset=${preset}`, ...shrink], "pretrain", { log: () => {} });
    const arch = resolveArch(cfg.arch as unknown as Record<string, unknown>, 19);
    const R = arch.maximalRecurrence, k = Math.min(R, arch.maxBackprop);
    out.push({
      name: quick ? `${name} (quick: ${arch.layersInRecurrentBlock}x${R}, H=128)` : name,
      arch,
      batch: quick ? 16 : cfg.impl.microbatch_size,
      seq,
      n: R - k,
      k,
    });
  }
  return out;
}

/** abacus's model, optimizer and step for a configuration. */
function abacusSetup(dev: Device, c: StepConfig) {
  const model = ArithmeticModel.create(c.arch, { backend: dev, seed: 1 });
  const opt = new AdamW(model.arena, { lr: 1e-4 });
  const rng = new Rng(7);
  const ids = new Int32Array(c.batch * c.seq);
  const params = model.arena.entries.reduce((n, e) => n + e.size, 0);
  let first = true, firstMs = NaN;
  /** Times `steps` steps (the loss of each read back before the next). */
  const run = async (steps: number): Promise<{ ms: number[]; loss: number }> => {
    const ms: number[] = [];
    let loss = NaN;
    for (let s = 0; s < steps + (first ? 1 : 0); s++) {
      for (let i = 0; i < ids.length; i++) ids[i] = rng.int(4, 18);
      const t0 = performance.now();
      const read = scope(() => {
        opt.zeroGrad();
        const l = modelCallLoss(model, ids, c.batch, c.seq, { training: true, n: c.n, k: c.k });
        backward(l);
        opt.step();
        return l.toArray();
      });
      loss = (await read)[0];
      const t = performance.now() - t0;
      if (first) [first, firstMs] = [false, t];
      else ms.push(t);
    }
    return { ms, loss };
  };
  return {
    model,
    params,
    run,
    firstMs: () => firstMs,
    dispose: () => {
      model.dispose();
      opt.dispose();
    },
  };
}

function figures(
  config: StepConfig,
  framework: string,
  rounds: number[][],
  params: number,
  lastLoss: number,
  firstMs?: number,
): StepFigures {
  const all = rounds.flat();
  const ms = median(all);
  return {
    config: config.name,
    framework,
    msPerStep: ms,
    msMin: Math.min(...all),
    tokensPerSecond: config.batch * config.seq / (ms / 1000),
    roundMedians: rounds.map(median),
    params,
    ...(firstMs !== undefined ? { firstMs } : {}),
    lastLoss,
  };
}

/** The script's model and batch flags for a configuration. */
function torchShape(c: StepConfig): TorchShape {
  const a = c.arch;
  return {
    layers: a.layersInRecurrentBlock,
    hidden: a.hiddenSize,
    intermed: a.intermedSize,
    heads: a.heads,
    batch: c.batch,
    seq: c.seq,
    n: c.n,
    k: c.k,
  };
}

/**
 * Runs the benchmark (see the module doc).
 *
 * @example
 * ```ts ignore
 * await run(["--quick", "--json"]);
 * ```
 * @param args `--quick`, `--json`, `--rounds N`, `--steps N`, `--no-torch`
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
  const dev = await getDevice();
  const d = dev.device;

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
  const matmul: (KernelResult & { error?: string })[] = [];
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
        matmul.push(r);
        log(
          `${r.size}\t${v}\t${r.medianMs.toFixed(3)}\t${r.gflops?.toFixed(1)}\t${
            r.bestGflops?.toFixed(1)
          }`,
        );
      } catch (e) {
        log(`${c.size}\t${v}\tfailed: ${(e as Error).message}`);
      }
    }
  }

  // Training steps, alternating abacus and PyTorch per round.
  // `PEER_PYTHON`, else the first of python3 on PATH and the system's that imports torch.
  const pythons = Deno.env.has("PEER_PYTHON")
    ? [Deno.env.get("PEER_PYTHON")!]
    : ["python3", "/usr/bin/python3"];
  let python = pythons[0];
  let torch: TorchFigures = { available: false, reason: "--no-torch" };
  if (!args.includes("--no-torch")) {
    const reasons: string[] = [];
    for (const p of pythons) {
      torch = await probeTorch(p);
      if (torch.available) {
        python = p;
        break;
      }
      reasons.push(torch.reason!);
    }
    if (!torch.available) torch.reason = reasons.join("; ");
  }
  const step: StepFigures[] = [];
  const stepErrors: Record<string, string> = {};
  const ratios: Record<string, number> = {};
  const configs = await stepConfigs(quick);
  log(
    `\ntraining step (${rounds} rounds x ${steps} steps; ${
      torch.available
        ? `PyTorch ${torch.version} on ${torch.device}`
        : `no PyTorch: ${torch.reason}`
    })`,
  );
  log("config\tframework\tms/step\tmin\ttokens/s\tround medians");
  for (const c of configs) {
    let peer: TorchPeer | null = null;
    const ab = abacusSetup(dev, c);
    try {
      if (torch.available) {
        try {
          peer = new TorchPeer(python, await torchScript(), torchShape(c));
          await peer.ready();
        } catch (e) {
          stepErrors[`${c.name} pytorch`] = (e as Error).message;
          await peer?.close();
          peer = null;
        }
      }
      const times: Record<string, number[][]> = {
        abacus: [],
        "pytorch-fp32": [],
        "pytorch-bf16": [],
      };
      const losses: Record<string, number> = {};
      // Keep abacus's timed steps of a configuration within STEP_BUDGET_MS (the whole run within
      // 8 minutes even where a step takes seconds): after the first round, fewer steps per round.
      await ab.run(0); // the first step alone: compiles, and bounds a step's time from above
      const fit = (ms: number) =>
        Math.max(1, Math.min(steps, Math.floor(STEP_BUDGET_MS / rounds / ms)));
      let perRound = fit(ab.firstMs());
      for (let r = 0; r < rounds; r++) {
        const a = await ab.run(perRound);
        if (r === 0) perRound = fit(median(a.ms));
        times.abacus.push(a.ms);
        losses.abacus = a.loss;
        for (const mode of peer ? ["fp32", "bf16"] as const : []) {
          if (stepErrors[`${c.name} pytorch-${mode}`]) continue; // failed in an earlier round
          try {
            const t = await peer!.run(mode, perRound);
            times[`pytorch-${mode}`].push(t.ms);
            losses[`pytorch-${mode}`] = t.loss;
          } catch (e) {
            stepErrors[`${c.name} pytorch-${mode}`] = (e as Error).message;
          }
        }
      }
      for (const [fw, rs] of Object.entries(times)) {
        if (!rs.length) continue;
        const params = fw === "abacus" ? ab.params : Number(peer?.info.params ?? NaN);
        const f = figures(
          c,
          fw,
          rs,
          params,
          losses[fw],
          fw === "abacus" ? ab.firstMs() : undefined,
        );
        step.push(f);
        log(
          `${c.name}\t${fw}\t${f.msPerStep.toFixed(1)}\t${f.msMin.toFixed(1)}\t${
            f.tokensPerSecond.toFixed(0)
          }\t${f.roundMedians.map((x) => x.toFixed(1)).join(" ")}`,
        );
      }
      const mine = step.find((s) => s.config === c.name && s.framework === "abacus");
      for (const fw of ["pytorch-fp32", "pytorch-bf16"]) {
        const other = step.find((s) => s.config === c.name && s.framework === fw);
        if (mine && other) ratios[`${c.name} abacus/${fw}`] = mine.msPerStep / other.msPerStep;
      }
    } catch (e) {
      stepErrors[`${c.name} abacus`] = (e as Error).message;
      log(`${c.name}\tabacus\tfailed: ${(e as Error).message}`);
    } finally {
      await peer?.close();
      ab.dispose();
    }
  }
  for (const [k, v] of Object.entries(ratios)) log(`ratio ${k}: ${v.toFixed(2)}`);

  // KV-cached decoding of 100-digit prompts.
  const decoding: DecodeFigures[] = [];
  const digits = 100, count = quick ? 8 : 100;
  log(`\nKV-cached greedy decoding, ${count} prompts of ${digits}+${digits} digits`);
  log("config\tseconds\tnew tokens/s\tprompts/s");
  for (const c of configs) {
    try {
      const model = ArithmeticModel.create(c.arch, { backend: dev, seed: 1 });
      try {
        const ps = prompts(digits, count, new Rng(5));
        const newTokens = digits + 2;
        const opts = { maxNewTokens: newTokens, seed: 3, eosId: -1 };
        await greedyDecode(model, ps, { ...opts, maxNewTokens: 2 }); // compiles the pipelines
        const t0 = performance.now();
        await greedyDecode(model, ps, opts);
        const seconds = (performance.now() - t0) / 1000;
        const f: DecodeFigures = {
          config: c.name,
          digits,
          prompts: count,
          promptTokens: ps[0].length,
          newTokens,
          seconds,
          tokensPerSecond: count * newTokens / seconds,
          sequencesPerSecond: count / seconds,
        };
        decoding.push(f);
        log(
          `${c.name}\t${seconds.toFixed(2)}\t${f.tokensPerSecond.toFixed(0)}\t${
            f.sequencesPerSecond.toFixed(2)
          }`,
        );
      } finally {
        model.dispose();
      }
    } catch (e) {
      stepErrors[`${c.name} decoding`] = (e as Error).message;
      log(`${c.name}\tfailed: ${(e as Error).message}`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  log(`\ntook ${seconds.toFixed(0)} s`);
  for (const [k, v] of Object.entries(stepErrors)) log(`error: ${k}: ${v}`);
  if (json) {
    console.log(JSON.stringify(
      {
        bench: "gpu",
        quick,
        date: new Date().toISOString(),
        deno: Deno.version.deno,
        adapter,
        matmul: matmul.map((r) => ({
          size: r.size,
          variant: r.variant,
          medianMs: r.medianMs,
          gflops: r.gflops,
          bestGflops: r.bestGflops,
          firstMs: r.firstMs,
        })),
        step,
        ratios,
        decoding,
        pytorch: torch.available ? torch : { ...torch, note: "PyTorch figures absent" },
        errors: stepErrors,
        seconds,
      },
      null,
      2,
    ));
  }
}
