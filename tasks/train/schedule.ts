// The budget that drives a training run and the two schedules it drives: upstream's trapezoid
// learning rate (linear warm-up, constant, linear cool-down to 0) and linear batch-size ramp.
// Upstream measures the budget in wall-clock hours; abacus also accepts a microbatch-step or
// token budget so that a run (and its resume) is the same on every machine.
// Reference: upstream cramming/backend/optimizers/schedulers.py (budget-constant),
// cramming/backend/torch_default.py (schedule_batch_size).

/** A training budget: its unit and its size in that unit. */
export interface Budget {
  /** What is counted: microbatch steps, tokens, or wall-clock seconds. */
  readonly kind: "steps" | "tokens" | "seconds";
  /** How many units the whole run may use. */
  readonly total: number;
}

/** Where a run stands: the counters every budget is measured against. */
export interface Counters {
  /** Microbatch steps done (upstream's `steps`). */
  readonly step: number;
  /** Tokens consumed (rows x row length). */
  readonly tokens: number;
  /** Training seconds so far, across resumes. */
  readonly elapsed: number;
}

/**
 * Picks the budget of a config (a `PretrainConfig` fits): `train.budget_steps`, else
 * `train.budget_tokens`, else the wall-clock `budget` in hours (upstream's only budget).
 *
 * @example
 * ```ts
 * import { budgetOf } from "./schedule.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(budgetOf({ budget: 4, train: { budget_steps: 400, budget_tokens: null } }),
 *   { kind: "steps", total: 400 });
 * deepEqual(budgetOf({ budget: 0.5, train: { budget_steps: null, budget_tokens: null } }),
 *   { kind: "seconds", total: 1800 });
 * ```
 */
export function budgetOf(
  cfg: { budget: number; train: { budget_steps: number | null; budget_tokens: number | null } },
): Budget {
  if (cfg.train.budget_steps !== null) return { kind: "steps", total: cfg.train.budget_steps };
  if (cfg.train.budget_tokens !== null) return { kind: "tokens", total: cfg.train.budget_tokens };
  return { kind: "seconds", total: cfg.budget * 3600 };
}

/**
 * The fraction of the budget used, clamped to [0, 1] (1 for an empty budget).
 *
 * @example
 * ```ts
 * import { budgetProgress } from "./schedule.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const at = { step: 100, tokens: 0, elapsed: 9 };
 * deepEqual(budgetProgress({ kind: "steps", total: 400 }, at), 0.25);
 * ```
 */
export function budgetProgress(budget: Budget, at: Counters): number {
  if (!(budget.total > 0)) return 1;
  const used = { steps: at.step, tokens: at.tokens, seconds: at.elapsed }[budget.kind];
  return Math.min(1, Math.max(0, used / budget.total));
}

/**
 * Upstream's trapezoid learning rate at a budget fraction, from a config's `train`: linear from 0
 * over the first `warmup_steps` fraction, then `optim.lr`, then linear to 0 over the last
 * `cooldown_steps` fraction.
 *
 * @example
 * ```ts
 * import { learningRate } from "./schedule.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const train = { optim: { lr: 1e-3 }, warmup_steps: 0.25, cooldown_steps: 0.25 };
 * const lr = (p: number) => learningRate(p, train);
 * deepEqual([lr(0), lr(0.125), lr(0.5), lr(0.875), lr(1)], [0, 5e-4, 1e-3, 5e-4, 0]);
 * ```
 */
export function learningRate(
  progress: number,
  train: { optim: { lr: number }; warmup_steps: number; cooldown_steps: number },
): number {
  const { optim: { lr: peak }, warmup_steps: warmup, cooldown_steps: cooldown } = train;
  if (progress < warmup) return peak * (progress / warmup);
  if (cooldown > 0 && progress > 1 - cooldown) {
    return peak * Math.max(0, (1 - progress) / cooldown);
  }
  return peak;
}

/**
 * Upstream's batch ramp: the batch grows linearly, in multiples of `microbatch`, from one
 * microbatch to `train.batch_size` over the first `train.batch_size_ramp` fraction of the budget
 * (0: no ramp; >= 1 spreads the ramp over the whole budget).
 *
 * Upstream's formula: min((floor(p * batchSize / ramp / microbatch) + 1) * microbatch, batchSize).
 *
 * @example
 * ```ts
 * import { batchSizeAt } from "./schedule.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const at = (p: number) => batchSizeAt(p, { batch_size: 512, batch_size_ramp: 0.5 }, 64);
 * deepEqual([at(0), at(0.25), at(0.5), at(1)], [64, 320, 512, 512]);
 * deepEqual(batchSizeAt(0, { batch_size: 512, batch_size_ramp: 0 }, 64), 512);
 * ```
 *
 * @returns The batch size (samples) of the next optimizer step.
 */
export function batchSizeAt(
  progress: number,
  train: { batch_size: number; batch_size_ramp: number },
  microbatch: number,
): number {
  const batchSize = train.batch_size;
  if (!(train.batch_size_ramp > 0)) return batchSize;
  const ramp = Math.min(1, train.batch_size_ramp);
  const grown = (Math.floor((progress * batchSize) / ramp / microbatch) + 1) * microbatch;
  return Math.min(grown, batchSize);
}

/** The config keys the budget and the step cap are read from (a `PretrainConfig` fits). */
type BudgetConfig = Parameters<typeof budgetOf>[0] & {
  overall_budget: number;
  train: { steps: number };
  impl: { microbatch_size: number };
};

/**
 * Microbatches left (>= 0) before the step cap `train.steps` or a step or token budget is
 * reached, for rows of `rowLength` tokens; a wall-clock budget leaves only the cap.
 *
 * @example
 * ```ts
 * import { microbatchesLeft } from "./schedule.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const cfg = { budget: 1, overall_budget: 1, impl: { microbatch_size: 64 },
 *   train: { steps: 40, budget_steps: 400, budget_tokens: null } };
 * const at = { step: 30, tokens: 30 * 640, elapsed: 1 };
 * deepEqual(microbatchesLeft(cfg, at, 10), 10);
 * const tokens = { steps: 1e9, budget_steps: null, budget_tokens: 20000 };
 * deepEqual(microbatchesLeft({ ...cfg, train: tokens }, at, 10), 2);
 * ```
 */
export function microbatchesLeft(cfg: BudgetConfig, at: Counters, rowLength: number): number {
  const budget = budgetOf(cfg);
  let left = cfg.train.steps - at.step;
  if (budget.kind === "steps") left = Math.min(left, budget.total - at.step);
  if (budget.kind === "tokens") {
    const tokensPerMicrobatch = cfg.impl.microbatch_size * rowLength;
    left = Math.min(left, Math.ceil((budget.total - at.tokens) / tokensPerMicrobatch));
  }
  return Math.max(0, left);
}

/**
 * Why a run must stop at these counters (a phrase), or null when there is budget left: the step
 * cap `train.steps`, the step or token budget, or (when neither is set) the wall-clock `budget`
 * or `overall_budget` in hours.
 *
 * @example
 * ```ts
 * import { stopReason } from "./schedule.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const cfg = { budget: 4, overall_budget: 4, impl: { microbatch_size: 64 },
 *   train: { steps: 40, budget_steps: 400, budget_tokens: null } };
 * const at = { step: 40, tokens: 40 * 64 * 13, elapsed: 60 };
 * deepEqual(stopReason(cfg, at, 13), "reached train.steps=40");
 * deepEqual(stopReason(cfg, { ...at, step: 39 }, 13), null);
 * ```
 */
export function stopReason(cfg: BudgetConfig, at: Counters, rowLength: number): string | null {
  const budget = budgetOf(cfg);
  if (at.step >= cfg.train.steps) return `reached train.steps=${cfg.train.steps}`;
  if (budget.kind !== "seconds") {
    const left = microbatchesLeft(cfg, at, rowLength);
    return left > 0 ? null : `used train.budget_${budget.kind}=${budget.total}`;
  }
  if (at.elapsed >= budget.total) return `used budget=${cfg.budget} hours`;
  if (at.elapsed >= cfg.overall_budget * 3600) {
    return `used overall_budget=${cfg.overall_budget} hours`;
  }
  return null;
}
