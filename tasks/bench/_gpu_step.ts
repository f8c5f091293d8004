/**
 * The training-step part of `deno task bench gpu`: the paper's 16x1 and 1x16 addition models
 * (full size, or shrunk by `--quick`), abacus's step (upstream's max-iteration TBPTT pass, then
 * AdamW) timed in rounds, alternating with the same step in PyTorch (fp32 and bf16 autocast,
 * `_gpu_torch.ts`) when a Python with torch is found, and the ratios of their medians.
 * @module
 */
import type { Device } from "../../core/device.ts";
import { backward } from "../../core/ops/backward.ts";
import { AdamW } from "../../core/optim.ts";
import { scope } from "../../core/tensor.ts";
import { ArithmeticModel } from "../../core/nn/model.ts";
import { type Arch, resolveArch } from "../../core/nn/arch.ts";
import { modelCallLoss } from "../../core/nn/objective.ts";
import { loadConfig } from "../../cli/config.ts";
import { TRAIN_PRESETS } from "../../data/presets.ts";
import { resolveSpec, rowLength } from "../../data/spec.ts";
import { Rng } from "../../kernels/rng.ts";
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
export interface StepConfig {
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

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[s.length >> 1] : NaN;
}

/**
 * The two paper models, full size or shrunk by `--quick` (hidden 128, 2 layers or 2 recurrences,
 * 16 rows); rows are as long as the addition preset's (64 tokens).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { stepConfigs } from "./_gpu_step.ts";
 * const [deep, looped] = await stepConfigs(true);
 * assert(deep.arch.hiddenSize === 128 && deep.seq === 64 && deep.batch === 16);
 * assert(looped.n + looped.k === looped.arch.maximalRecurrence);
 * ```
 */
export async function stepConfigs(quick: boolean): Promise<StepConfig[]> {
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

/** What {@link benchSteps} measured. */
export interface StepResults {
  /** Every framework's figures per configuration. */
  step: StepFigures[];
  /** `"<config> abacus/pytorch-<mode>"`: abacus's median over PyTorch's. */
  ratios: Record<string, number>;
  /** What failed, by configuration and framework. */
  errors: Record<string, string>;
  /** The PyTorch found (or why none). */
  torch: TorchFigures;
}

/**
 * Times the step of each configuration in `rounds` rounds of `steps` steps (fewer where a
 * configuration's abacus steps would pass a minute), PyTorch's after abacus's in every round,
 * printing a table through `log`. `PEER_PYTHON` names the Python; else python3 on PATH, then
 * /usr/bin/python3, whichever imports torch.
 *
 * @example
 * ```ts ignore
 * const dev = await getDevice();
 * const configs = await stepConfigs(true);
 * const r = await benchSteps(dev, configs, { rounds: 2, steps: 2, torch: false, log: console.log });
 * console.log(r.step[0].msPerStep);
 * ```
 */
export async function benchSteps(
  dev: Device,
  configs: StepConfig[],
  o: { rounds: number; steps: number; torch: boolean; log: (line: string) => void },
): Promise<StepResults> {
  const { rounds, steps, log } = o;
  // `PEER_PYTHON`, else the first of python3 on PATH and the system's that imports torch.
  const pythons = Deno.env.has("PEER_PYTHON")
    ? [Deno.env.get("PEER_PYTHON")!]
    : ["python3", "/usr/bin/python3"];
  let python = pythons[0];
  let torch: TorchFigures = { available: false, reason: "--no-torch" };
  if (o.torch) {
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
  return { step, ratios, errors: stepErrors, torch };
}
