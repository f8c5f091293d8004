/**
 * The AdamW optimizer over a `ParamArena`, the learning rate set per step. Moments are flat
 * arena-shaped buffers; `stateDict` gives them per parameter name.
 * @module
 */
import { adamwKernel, gradNormKernel, gradNormScratch } from "../kernels/adamw.ts";
import type { Kernel } from "../kernels/program.ts";
import type { ParamArena } from "./arena.ts";

/** AdamW hyperparameters; the defaults are upstream's `train/cramming.yaml`. */
export interface AdamWOptions {
  /** Learning rate (default 1e-3); `step(lr)` overrides it per step. */
  lr?: number;
  /** Moment decays (default [0.9, 0.98]). */
  betas?: [number, number];
  /** Denominator epsilon (default 1e-12). */
  eps?: number;
  /** Decoupled weight decay of the arena's decay group (default 0.01). */
  weightDecay?: number;
  /** Clip gradients to this global L2 norm; null for none (default 0.5). */
  maxGradNorm?: number | null;
}

/** Optimizer state for checkpoints: moments by parameter name, and the step count. */
export interface AdamWState {
  /** Steps taken (the bias corrections use step + 1 next). */
  step: number;
  /** First moments by state-dict key. */
  m: Record<string, Float32Array>;
  /** Second moments by state-dict key. */
  v: Record<string, Float32Array>;
}

/**
 * AdamW with decoupled weight decay and global-norm gradient clipping over a flat arena.
 *
 * `step()` records (on the webgpu backend) the two norm passes when clipping and one AdamW
 * dispatch over every parameter; nothing is read back. The update is PyTorch's `AdamW` after
 * `clip_grad_norm_`, except that clipping scales gradients on the fly instead of rewriting them.
 * Works on the cpu backend through the kernels' CPU references.
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { ParamArena } from "./arena.ts";
 * import { AdamW } from "./optim.ts";
 * import { CPU } from "./backend.ts";
 * const arena = new ParamArena(CPU, [{ name: "w", shape: [2] }]);
 * arena.write("w", [1, -1]);
 * arena.get("w").grad!.data.set([0.5, -0.5]);
 * const opt = new AdamW(arena, { lr: 0.1, weightDecay: 0, maxGradNorm: null });
 * opt.step();
 * const w = await arena.get("w").toArray();
 * ok(Math.abs(w[0] - 0.9) < 1e-6 && Math.abs(w[1] + 0.9) < 1e-6);
 * opt.zeroGrad();
 * ```
 */
export class AdamW {
  readonly arena: ParamArena;
  /** Learning rate used by the next `step()` without an argument. */
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Weight decay of the decay group. */
  readonly weightDecay: number;
  /** Global-norm clipping threshold, or null. */
  readonly maxGradNorm: number | null;
  #step = 0;
  #m: GPUBuffer | Float32Array;
  #v: GPUBuffer | Float32Array;
  #norm: GPUBuffer | Float32Array;
  #partials: GPUBuffer | null = null;

  /** Allocates zero moments shaped like the arena (outside the buffer pool). */
  constructor(arena: ParamArena, options: AdamWOptions = {}) {
    this.arena = arena;
    this.lr = options.lr ?? 1e-3;
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.98];
    this.eps = options.eps ?? 1e-12;
    this.weightDecay = options.weightDecay ?? 0.01;
    this.maxGradNorm = options.maxGradNorm === undefined ? 0.5 : options.maxGradNorm;
    const b = arena.backend;
    this.#m = arena.newFlat();
    this.#v = arena.newFlat();
    this.#norm = arena.newFlat(4); // element 0: the clipping norm
    if (b.kind !== "cpu") {
      this.#partials = arena.newFlat(gradNormScratch(b, arena.size)) as GPUBuffer;
    }
  }

  /** Steps taken so far. */
  get stepCount(): number {
    return this.#step;
  }

  /**
   * Records one update of every parameter from the gradients in the arena (no readback).
   *
   * @param lr learning rate for this step (also kept as `this.lr`)
   */
  step(lr?: number): void {
    if (lr !== undefined) this.lr = lr;
    this.#step++;
    const a = this.arena, n = a.size;
    const hp = {
      n,
      decayEnd: a.decayEnd,
      lr: this.lr,
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weightDecay: this.weightDecay,
      step: this.#step,
      maxGradNorm: this.maxGradNorm,
    };
    const grad = a.gradBuffer, norm = this.#norm;
    const partials = this.#partials; // webgpu only
    if (this.maxGradNorm !== null) this.#run(gradNormKernel, { grad, n, out: norm, partials });
    this.#run(adamwKernel, { ...hp, param: a.paramBuffer, grad, m: this.#m, v: this.#v, norm });
  }

  /** Zeroes every gradient in the arena (one fill). */
  zeroGrad(): void {
    this.arena.zeroGrad();
  }

  /** Runs a whole-arena kernel on the arena's backend (buffers on webgpu, arrays on cpu). */
  #run<G, C>(k: Kernel<G, C>, args: Record<string, unknown>): void {
    const be = this.arena.backend;
    if (be.kind === "cpu") k.cpu(args as C);
    else k.gpu(be, args as G);
  }

  /** Copies the optimizer state out for a checkpoint. */
  async stateDict(): Promise<AdamWState> {
    const a = this.arena;
    return { step: this.#step, m: await a.readFlat(this.#m), v: await a.readFlat(this.#v) };
  }

  /**
   * Restores the optimizer state from a checkpoint.
   *
   * @param state moments for every parameter of the arena, and the step count
   * @throws Error when a parameter's moments are missing or of the wrong size
   */
  loadStateDict(state: AdamWState): void {
    if (!(Number.isInteger(state.step) && state.step >= 0)) {
      throw new Error(`Cannot load optimizer state: bad step count ${state.step}`);
    }
    const m = this.arena.join(state.m, "first moments");
    const v = this.arena.join(state.v, "second moments");
    this.#step = state.step;
    this.arena.writeFlat(this.#m, m);
    this.arena.writeFlat(this.#v, v);
  }

  /** Frees the moment buffers. */
  dispose(): void {
    this.arena.freeFlat(this.#m, this.#v, this.#norm, this.#partials);
  }
}
