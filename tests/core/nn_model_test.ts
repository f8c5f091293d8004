import { ok, strictEqual } from "node:assert/strict";
import { backward } from "../../core/ops/backward.ts";
import { crossEntropy } from "../../core/ops/loss.ts";
import { ArithmeticModel } from "../../core/nn/model.ts";
import { drawAbacusPositions, longestDigitRun } from "../../core/nn/abacus.ts";
import { Rng } from "../../kernels/rng.ts";
import { lossTargets } from "../../core/nn/objective.ts";
import { CPU, CPU64 } from "../../core/backend.ts";
import { scope, Tensor } from "../../core/tensor.ts";
import { assertClose, gpuTest, maybeDevice } from "../kernels/_harness.ts";
import { tinyArch, VARIANTS } from "./_variants.ts";

// Two reversed additions, "12+345=357" style, padded: (B=2, T=9).
const IDS = new Int32Array([5, 6, 14, 7, 8, 17, 9, 10, 3, 6, 14, 9, 17, 11, 3, 0, 0, 0]);

Deno.test({
  name: "ArithmeticModel gives the same logits on the cpu and webgpu backends for every variant",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const [name, v] of Object.entries(VARIANTS)) {
      const arch = tinyArch(v);
      const mc = ArithmeticModel.create(arch, { backend: CPU, seed: 3 });
      const mg = ArithmeticModel.create(arch, { backend: dev, seed: 3 });
      const opts = { training: false, stateSeed: 11 };
      const a = await scope(() => mc.forward(IDS, 2, 9, opts).toArray());
      const b = await scope(() => mg.forward(IDS, 2, 9, opts).toArray());
      assertClose(b, a, 1e-4, name, 1e-2);
      mg.dispose();
    }
  },
});

Deno.test("ArithmeticModel parameter gradients match float64 finite differences (cpu backend)", () => {
  for (const [name, v] of Object.entries(VARIANTS)) {
    const arch = tinyArch(v);
    const model = ArithmeticModel.create(arch, { backend: CPU64, seed: 5 });
    const targets = Tensor.fromArray(lossTargets(IDS, 2, 9, { maskBeforeEquals: false }), [18], {
      dtype: "i32",
      backend: CPU64,
    });
    // The graph must live until backward: build the loss outside any inner scope.
    const forwardLoss = () => {
      const logits = model.forward(IDS, 2, 9, {
        training: false,
        nNoGrad: 0,
        kGrad: arch.maximalRecurrence,
        stateSeed: 9,
      });
      return crossEntropy(logits.reshape([18, 19]), targets);
    };
    const loss = () => scope(forwardLoss);
    // Biases start at 0, which puts FIRE's ReLU exactly on its kink at d = 0: move them off it.
    for (const e of model.arena.entries) {
      if (e.name.endsWith("bias")) {
        e.param.data.forEach((_, i, a) => (a[i] = 0.05 * Math.sin(3 * i + 1)));
      }
    }
    model.arena.zeroGrad();
    scope(() => backward(forwardLoss()));
    let checked = 0;
    for (const e of model.arena.entries) {
      const p = e.param.data, g = e.param.grad!.data;
      for (const i of [0, Math.floor(e.size / 2), e.size - 1]) {
        const x = p[i];
        p[i] = x + 1e-5;
        const up = p[i];
        const lp = loss().data[0];
        p[i] = x - 1e-5;
        const down = p[i];
        const lm = loss().data[0];
        p[i] = x;
        const fd = (lp - lm) / (up - down);
        const err = Math.abs(fd - g[i]) / Math.max(Math.abs(fd), 1e-4);
        ok(err < 1e-3, `${name}: ${e.name}[${i}] analytic ${g[i]} vs finite difference ${fd}`);
        checked++;
      }
    }
    ok(checked > 20);
  }
});

Deno.test("ArithmeticModel draws the Abacus shift only in training and applies TBPTT's split", async () => {
  const arch = tinyArch(VARIANTS["abacus looped"]);
  const m = ArithmeticModel.create(arch, { backend: CPU, seed: 1 });
  const evalA = await scope(() =>
    m.forward(IDS, 2, 9, { training: false, stateSeed: 1 }).toArray()
  );
  const evalB = await scope(() =>
    m.forward(IDS, 2, 9, { training: false, stateSeed: 1 }).toArray()
  );
  strictEqual(evalA.join(), evalB.join());
  const shifted = await scope(() =>
    m.forward(IDS, 2, 9, { training: true, stateSeed: 1, abacusShift: 5, nNoGrad: 0, kGrad: 2 })
      .toArray()
  );
  ok(shifted.some((x, i) => x !== evalA[i]), "a shift changes the positions");
  const same = await scope(() =>
    m.forward(IDS, 2, 9, { training: true, stateSeed: 1, abacusShift: 0, nNoGrad: 1, kGrad: 1 })
      .toArray()
  );
  assertClose(same, evalA, 1e-6, "n=1,k=1 computes the same values as two recurrences");
});

Deno.test("ArithmeticModel with abacus_random_spacing draws spaced position maps in training", async () => {
  const arch = tinyArch({
    embedding: {
      pos_embedding: "abacus",
      max_seq_length: 48,
      max_abacus_len: 10,
      abacus_random_spacing: 1,
    },
  });
  strictEqual(arch.abacusSpacing, 1);
  const m = ArithmeticModel.create(arch, { backend: CPU, seed: 4 });
  let spaced = 0;
  for (let n = 0; n < 5; n++) {
    // The map the model will draw, from a copy of its generator.
    const copy = new Rng(0);
    copy.setState(m.rng.getState());
    const map = drawAbacusPositions(longestDigitRun(IDS, 9), 10, 1, copy);
    if (map[2] - map[1] > 1) spaced++;
    const opts = { training: true, stateSeed: 1, nNoGrad: 0, kGrad: 2 };
    const drawn = await scope(() => m.forward(IDS, 2, 9, opts).toArray());
    const given = await scope(() => m.forward(IDS, 2, 9, { ...opts, abacusShift: map }).toArray());
    strictEqual(drawn.join(), given.join());
  }
  ok(spaced > 0, "some maps leave gaps between neighbouring digits");
});
