// The train task on the GPU path (skipped without a WebGPU adapter): the loop submits once per
// microbatch and reads back once per optimizer step (the deferred loss), and a run stopped and
// resumed on webgpu reproduces the uninterrupted run's losses bit for bit.

import { deepEqual } from "node:assert/strict";
import { loadConfig } from "../../cli/config.ts";
import type { Device } from "../../core/device.ts";
import { resolveArch } from "../../core/nn/arch.ts";
import { ArithmeticModel } from "../../core/nn/model.ts";
import { AdamW } from "../../core/optim.ts";
import { initBackend } from "../../core/backend.ts";
import { Rng } from "../../kernels/rng.ts";
import { resolveTrainDataset } from "../../tasks/train/dataset.ts";
import { TrainLoop } from "../../tasks/train/loop.ts";
import { TrainReport } from "../../tasks/train/report.ts";
import { budgetOf } from "../../tasks/train/schedule.ts";
import { train } from "../../tasks/train/run.ts";
import { HAS_GPU } from "../kernels/_harness.ts";
import { loggedLosses } from "./_train_helpers.ts";

const GPU = [
  "preset=tiny-addition",
  "impl.backend=webgpu",
  "impl.microbatch_size=16",
  "impl.print_loss_every_nth_step=1000",
];

Deno.test({
  name: "TrainLoop on webgpu submits once per microbatch and reads back once per step",
  ignore: !HAS_GPU,
  fn: async () => {
    const base = await Deno.makeTempDir();
    try {
      for (const [batch, submits] of [[16, 1], [32, 2]]) {
        const cfg = await loadConfig(
          [...GPU, `train.batch_size=${batch}`, "train.budget_steps=12", `base_dir=${base}`],
          "pretrain",
          { log: () => {} },
        );
        const ds = await resolveTrainDataset(cfg);
        const dev = await initBackend("webgpu") as Device;
        const arch = resolveArch(cfg.arch, 19);
        const model = ArithmeticModel.create(arch, { backend: dev, seed: 1 });
        const opt = new AdamW(model.arena);
        const budget = budgetOf(cfg);
        const loop = new TrainLoop({
          cfg,
          model,
          opt,
          ds,
          seed: 1,
          trainRng: new Rng(1, 3),
          resumed: null,
        });
        dev.flush();
        const before = { ...dev.stats };
        await loop.run(new TrainReport({ runDir: null, budget, printEvery: 1, write: () => {} }));
        const steps = 12 / (batch / 16);
        deepEqual(dev.stats.submits - before.submits, steps * submits);
        deepEqual(dev.stats.readbacks - before.readbacks, steps);
        ds.close();
        opt.dispose();
        model.dispose();
      }
    } finally {
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test({
  name: "a webgpu run stopped and resumed reproduces the uninterrupted losses bit for bit",
  ignore: !HAS_GPU,
  fn: async () => {
    const base = await Deno.makeTempDir();
    const cfg = (extra: string[]) =>
      loadConfig(
        [...GPU, "train.batch_size=32", "train.budget_steps=8", `base_dir=${base}`, ...extra],
        "pretrain",
        {
          log: () => {},
        },
      );
    try {
      await train(await cfg(["name=ref"]));
      await train(await cfg(["name=cut", "train.steps=4"]));
      await train(await cfg(["name=cut"]));
      const ref = await loggedLosses(base, "ref");
      deepEqual(ref.map(([s]) => s), [2, 4, 6, 8]);
      deepEqual(await loggedLosses(base, "cut"), ref);
    } finally {
      await Deno.remove(base, { recursive: true });
    }
  },
});
