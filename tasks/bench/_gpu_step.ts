/**
 * The training-step part of `deno task bench gpu`: the paper's 16x1 and 1x16 addition models
 * (hidden 1024, 16 heads, upstream's microbatch of 512 rows of 64 tokens; or shrunk by `--quick`),
 * abacus's step timed in rounds, alternating with the same step in PyTorch (fp32, and bf16
 * autocast as upstream trains) when a Python with torch is found, and the ratios of their
 * medians. The step is upstream's max-iteration TBPTT pass: R - min(R, max_backprop) recurrences
 * without gradient, then min(R, max_backprop) with (16x1: 0 and 1; 1x16: 8 and 8), then AdamW.
 * PyTorch runs as a long-lived `gpu_torch.py` process (bundled beside this module) answering one
 * JSON line per request.
 * @module
 */
import type { Device } from "../../core/device.ts";
import { scope } from "../../core/tensor.ts";
import { type Arch, resolveArch } from "../../core/nn/arch.ts";
import { modelCallLoss } from "../../core/nn/objective.ts";
import { loadConfig } from "../../cli/config.ts";
import { TRAIN_PRESETS } from "../../data/presets.ts";
import { resolveSpec, rowLength } from "../../data/spec.ts";
import { Rng } from "../../kernels/rng.ts";
import { median } from "./kernels.ts";
import { trainSetup } from "./model.ts";

/** Milliseconds of abacus steps per configuration after which rounds get fewer steps. */
const STEP_BUDGET_MS = 60_000;

/** One model configuration of the step benchmark. */
export interface StepConfig {
  /** `16x1` or `1x16` (layers x recurrences), as in the paper. */
  name: string;
  arch: Arch;
  /** Rows per step and tokens per row. */
  batch: number;
  seq: number;
  /** Recurrences without and with gradient. */
  n: number;
  k: number;
}

/** What PyTorch reports (torch version, CUDA device name or `cpu`), or why it is absent. */
export interface TorchFigures {
  available: boolean;
  /** No python3, torch not importable, a failure, `--no-torch`. */
  reason?: string;
  version?: string;
  device?: string;
  cuda?: boolean;
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

/** A `gpu_torch.py` process running a configuration's step, one JSON line per request. */
class TorchPeer {
  #proc: Deno.ChildProcess;
  #lines: ReadableStreamDefaultReader<string>;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #buffered = "";
  /** The script's first line. */
  info: Record<string, unknown> = {};

  constructor(python: string, script: string, c: StepConfig) {
    const a = c.arch;
    const args = [script, "--layers", a.layersInRecurrentBlock, "--hidden", a.hiddenSize];
    args.push("--intermed", a.intermedSize, "--heads", a.heads, "--batch", c.batch);
    args.push("--seq", c.seq, "--n", c.n, "--k", c.k);
    // As in bench peers: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE slow OpenBLAS down (CPU torch).
    const env = Deno.env.toObject();
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
    this.#proc = new Deno.Command(python, {
      args: args.map(String),
      env,
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#lines = this.#proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.#writer = this.#proc.stdin.getWriter();
  }

  async #line(): Promise<Record<string, unknown>> {
    while (!this.#buffered.includes("\n")) {
      const { value, done } = await this.#lines.read();
      if (done) {
        const err = await new Response(this.#proc.stderr).text();
        const last = err.trim().split("\n").slice(-1)[0] ?? "";
        throw new Error(`the PyTorch step exited: ${last || "no output"}`);
      }
      this.#buffered += value;
    }
    const [line] = this.#buffered.split("\n", 1);
    this.#buffered = this.#buffered.slice(line.length + 1);
    return JSON.parse(line);
  }

  /** Waits for the model to be built. */
  async ready(): Promise<void> {
    this.info = await this.#line();
  }

  /** Runs `steps` steps in a mode; returns their ms and the last loss. */
  async run(mode: "fp32" | "bf16", steps: number): Promise<{ ms: number[]; loss: number }> {
    await this.#writer.write(new TextEncoder().encode(`${mode} ${steps}\n`));
    const r = await this.#line();
    if (typeof r.error === "string") throw new Error(r.error);
    return { ms: r.ms as number[], loss: r.loss as number };
  }

  /** Ends the process. */
  async close(): Promise<void> {
    try {
      await this.#writer.write(new TextEncoder().encode("quit\n"));
      await this.#writer.close();
    } catch { /* already gone */ }
    await this.#proc.status;
    await this.#proc.stderr.cancel().catch(() => {});
  }
}

/** The bundled PyTorch script as a local path (copied to a temporary file when remote). */
async function torchScript(): Promise<string> {
  const url = new URL("./gpu_torch.py", import.meta.url);
  if (url.protocol === "file:") return decodeURIComponent(url.pathname);
  const text = await (await fetch(url)).text();
  const path = await Deno.makeTempFile({ suffix: ".py" });
  await Deno.writeTextFile(path, text);
  return path;
}

/**
 * The first of `pythons` that imports torch, with torch's version and CUDA device; else why none
 * does (never throws).
 *
 * @example
 * ```ts
 * import { probeTorch } from "./_gpu_step.ts";
 * import assert from "node:assert/strict";
 *
 * const { torch } = await probeTorch(["/nonexistent/python3"]);
 * assert.deepEqual(torch, { available: false, reason: "/nonexistent/python3 not found" });
 * ```
 */
export async function probeTorch(
  pythons: string[],
): Promise<{ python: string; torch: TorchFigures }> {
  const code = "import json, torch; print(json.dumps({'version': torch.__version__, " +
    "'cuda': torch.cuda.is_available(), 'device': torch.cuda.get_device_name(0) " +
    "if torch.cuda.is_available() else 'cpu'}))";
  const reasons: string[] = [];
  for (const python of pythons) {
    try {
      const r = await new Deno.Command(python, { args: ["-c", code] }).output(); // both piped
      if (r.success) {
        return {
          python,
          torch: { available: true, ...JSON.parse(new TextDecoder().decode(r.stdout)) },
        };
      }
      const err = new TextDecoder().decode(r.stderr).trim().split("\n").slice(-1)[0];
      reasons.push(`${python} cannot import torch: ${err}`);
    } catch (e) {
      const notFound = e instanceof Deno.errors.NotFound;
      reasons.push(notFound ? `${python} not found` : (e as Error).message);
    }
  }
  return { python: pythons[0], torch: { available: false, reason: reasons.join("; ") } };
}

/**
 * Times the step of each configuration in `rounds` rounds of `steps` steps (fewer where a
 * configuration's abacus steps would pass a minute), PyTorch's after abacus's in every round,
 * printing a table through `log`. Figures per configuration and framework (`abacus`,
 * `pytorch-fp32`, `pytorch-bf16`): median ms per step over every timed step of every round, the
 * fastest step, tokens/s at the median, each round's median, parameters, the last loss, and for
 * abacus the first step's ms (compilation included); `ratios` are abacus's median over
 * PyTorch's. `PEER_PYTHON` names the Python; else python3 on PATH, then /usr/bin/python3,
 * whichever imports torch.
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
): Promise<{
  step: Record<string, unknown>[];
  ratios: Record<string, number>;
  errors: Record<string, string>;
  torch: TorchFigures;
}> {
  const { rounds, steps, log } = o;
  const peerPython = Deno.env.get("PEER_PYTHON");
  const pythons = peerPython ? [peerPython] : ["python3", "/usr/bin/python3"];
  const { python, torch } = o.torch
    ? await probeTorch(pythons)
    : { python: "", torch: { available: false, reason: "--no-torch" } as TorchFigures };
  const step: Record<string, unknown>[] = [];
  const errors: Record<string, string> = {};
  const ratios: Record<string, number> = {};
  const about = torch.available
    ? `PyTorch ${torch.version} on ${torch.device}`
    : `no PyTorch: ${torch.reason}`;
  log(`\ntraining step (${rounds} rounds x ${steps} steps; ${about})`);
  log("config\tframework\tms/step\tmin\ttokens/s\tround medians");
  for (const c of configs) {
    let peer: TorchPeer | null = null;
    // abacus's model, optimizer (lr 1e-4) and step.
    const { model, opt, record, params } = trainSetup(c.arch, dev, c.batch, c.seq, {
      lr: 1e-4,
      loss: (m, ids) =>
        modelCallLoss(m, ids, c.batch, c.seq, { training: true, nNoGrad: c.n, kGrad: c.k }),
    });
    const rng = new Rng(7);
    const ids = new Int32Array(c.batch * c.seq);
    /** Times `steps` abacus steps (the loss of each read back before the next). */
    const runAbacus = async (steps: number): Promise<{ ms: number[]; loss: number }> => {
      const ms: number[] = [];
      let loss = NaN;
      for (let s = 0; s < steps; s++) {
        for (let i = 0; i < ids.length; i++) ids[i] = rng.int(4, 18);
        const t0 = performance.now();
        loss = (await scope(() => record(ids).toArray()))[0];
        ms.push(performance.now() - t0);
      }
      return { ms, loss };
    };
    try {
      if (torch.available) {
        try {
          peer = new TorchPeer(python, await torchScript(), c);
          await peer.ready();
        } catch (e) {
          errors[`${c.name} pytorch`] = (e as Error).message;
          await peer?.close();
          peer = null;
        }
      }
      const times: Record<string, number[][]> = { abacus: [] }; // then pytorch-fp32, -bf16
      const losses: Record<string, number> = {};
      // Keep abacus's timed steps of a configuration within STEP_BUDGET_MS (the whole run within
      // 8 minutes even where a step takes seconds): after the first round, fewer steps per round.
      // The first step alone: compiles, and bounds a step's time from above.
      const [firstMs] = (await runAbacus(1)).ms;
      const fit = (ms: number) =>
        Math.max(1, Math.min(steps, Math.floor(STEP_BUDGET_MS / rounds / ms)));
      let perRound = fit(firstMs);
      for (let r = 0; r < rounds; r++) {
        const a = await runAbacus(perRound);
        if (r === 0) perRound = fit(median(a.ms));
        times.abacus.push(a.ms);
        losses.abacus = a.loss;
        for (const mode of peer ? ["fp32", "bf16"] as const : []) {
          if (errors[`${c.name} pytorch-${mode}`]) continue; // failed in an earlier round
          try {
            const t = await peer!.run(mode, perRound);
            (times[`pytorch-${mode}`] ??= []).push(t.ms);
            losses[`pytorch-${mode}`] = t.loss;
          } catch (e) {
            errors[`${c.name} pytorch-${mode}`] = (e as Error).message;
          }
        }
      }
      let abacusMs = NaN;
      for (const [framework, rs] of Object.entries(times)) {
        const all = rs.flat(), msPerStep = median(all), roundMedians = rs.map(median);
        const f = {
          config: c.name,
          framework,
          msPerStep,
          msMin: Math.min(...all),
          tokensPerSecond: c.batch * c.seq / (msPerStep / 1000),
          roundMedians,
          params: framework === "abacus" ? params : Number(peer?.info.params ?? NaN),
          ...(framework === "abacus" ? { firstMs } : {}),
          lastLoss: losses[framework],
        };
        step.push(f);
        if (framework === "abacus") abacusMs = msPerStep;
        else ratios[`${c.name} abacus/${framework}`] = abacusMs / msPerStep;
        log(
          `${c.name}\t${framework}\t${msPerStep.toFixed(1)}\t${f.msMin.toFixed(1)}\t${
            f.tokensPerSecond.toFixed(0)
          }\t${roundMedians.map((x) => x.toFixed(1)).join(" ")}`,
        );
      }
    } catch (e) {
      errors[`${c.name} abacus`] = (e as Error).message;
      log(`${c.name}\tabacus\tfailed: ${(e as Error).message}`);
    } finally {
      await peer?.close();
      model.dispose();
      opt.dispose();
    }
  }
  for (const [k, v] of Object.entries(ratios)) log(`ratio ${k}: ${v.toFixed(2)}`);
  return { step, ratios, errors, torch };
}
