// Pure tests of the train task's schedules and stopping rules (no model, no subprocess):
// upstream's trapezoid and batch ramp, the step/token/time budgets and the step cap.

import { deepEqual, ok } from "node:assert/strict";
import {
  batchSizeAt,
  budgetOf,
  budgetProgress,
  learningRate,
  microbatchesLeft,
  stopReason,
} from "../../tasks/train/schedule.ts";
import { duration } from "../../cli/progress.ts";

const CFG = {
  budget: 1,
  overall_budget: 1,
  train: { steps: 1000, budget_steps: null, budget_tokens: null },
  impl: { microbatch_size: 8 },
};

Deno.test("learningRate() is upstream's trapezoid: up, flat, down to 0", () => {
  const o = { optim: { lr: 2e-3 }, warmup_steps: 0.1, cooldown_steps: 0.2 };
  let prev = -1;
  for (let p = 0; p <= 0.1; p += 0.01) {
    const lr = learningRate(p, o);
    ok(lr >= prev && lr <= 2e-3);
    prev = lr;
  }
  deepEqual(learningRate(0.5, o), 2e-3);
  deepEqual(learningRate(0.8, o), 2e-3);
  ok(Math.abs(learningRate(0.9, o) - 1e-3) < 1e-12);
  deepEqual(learningRate(1, o), 0);
  deepEqual(learningRate(0.3, { optim: { lr: 1 }, warmup_steps: 0, cooldown_steps: 0 }), 1);
});

Deno.test("batchSizeAt() ramps in whole microbatches and reaches the batch at the ramp's end", () => {
  const o = { batch_size: 8192, batch_size_ramp: 0.6 };
  let prev = 0;
  for (let i = 0; i <= 100; i++) {
    const b = batchSizeAt(i / 100, o, 128);
    ok(b % 128 === 0 && b >= prev && b <= 8192, `p=${i / 100}: ${b}`);
    prev = b;
  }
  deepEqual(batchSizeAt(0, o, 128), 128);
  deepEqual(batchSizeAt(0.61, o, 128), 8192);
  deepEqual(batchSizeAt(0.9, { ...o, batch_size_ramp: 0 }, 128), 8192);
  deepEqual(
    batchSizeAt(0.5, { ...o, batch_size_ramp: 3 }, 128),
    batchSizeAt(0.5, { ...o, batch_size_ramp: 1 }, 128),
  );
});

Deno.test("budgetOf() prefers steps, then tokens, then hours; budgetProgress() clamps", () => {
  deepEqual(budgetOf({ ...CFG, train: { ...CFG.train, budget_tokens: 5000 } }), {
    kind: "tokens",
    total: 5000,
  });
  deepEqual(budgetOf(CFG), { kind: "seconds", total: 3600 });
  const at = { step: 10, tokens: 6000, elapsed: 7200 };
  deepEqual(budgetProgress({ kind: "tokens", total: 5000 }, at), 1);
  deepEqual(budgetProgress({ kind: "seconds", total: 14400 }, at), 0.5);
  deepEqual(budgetProgress({ kind: "steps", total: 0 }, at), 1);
});

Deno.test("microbatchesLeft() and stopReason() honour the cap and every budget", () => {
  const tokens = {
    ...CFG,
    impl: { microbatch_size: 10 },
    train: { ...CFG.train, budget_tokens: 950 },
  };
  deepEqual(microbatchesLeft(tokens, { step: 9, tokens: 900, elapsed: 0 }, 10), 1);
  deepEqual(microbatchesLeft(CFG, { step: 999, tokens: 0, elapsed: 0 }, 10), 1);
  const steps = { ...CFG, train: { ...CFG.train, budget_steps: 20 } };
  deepEqual(
    stopReason(steps, { step: 19, tokens: 0, elapsed: 1e9 }, 13),
    null,
  );
  deepEqual(
    stopReason(steps, { step: 20, tokens: 0, elapsed: 0 }, 13),
    "used train.budget_steps=20",
  );
  deepEqual(budgetOf(CFG), { kind: "seconds", total: 3600 });
  deepEqual(
    stopReason(CFG, { step: 5, tokens: 0, elapsed: 3599 }, 13),
    null,
  );
  deepEqual(
    stopReason(CFG, { step: 5, tokens: 0, elapsed: 3600 }, 13),
    "used budget=1 hours",
  );
  const capped = { ...CFG, train: { ...CFG.train, steps: 5, budget_steps: 20 } };
  deepEqual(
    stopReason(capped, { step: 5, tokens: 0, elapsed: 0 }, 13),
    "reached train.steps=5",
  );
  deepEqual(duration(Infinity), "?");
});
