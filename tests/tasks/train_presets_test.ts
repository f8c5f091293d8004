// Short versions of the CPU presets: each trains its own shape (width, depth, tokenizer, data
// preset) for a few dozen steps on the default adapter, and its loss must fall well below the
// loss it started at. The full presets' accuracy is measured by docs/multiplication-sorting.md,
// not here (minutes each).

import { ok } from "node:assert/strict";
import { loadConfig } from "../../cli/config.ts";
import { train } from "../../tasks/train/run.ts";
import { loggedLosses } from "./_train_helpers.ts";

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Trains `preset` for `steps` steps in a fresh folder; returns the logged losses in step order. */
async function shortRun(preset: string, steps: number, extra: string[] = []): Promise<number[]> {
  const base = await Deno.makeTempDir();
  try {
    const cfg = await loadConfig(
      [
        `preset=${preset}`,
        "name=t",
        `base_dir=${base}`,
        `train.budget_steps=${steps}`,
        "impl.print_loss_every_nth_step=1",
        "impl.save_intermediate_checkpoints=False",
        ...extra,
      ],
      "pretrain",
      { log: () => {} },
    );
    const log = console.log;
    console.log = () => {};
    try {
      await train(cfg);
    } finally {
      console.log = log;
    }
    return (await loggedLosses(base, "t")).map(([, l]) => l);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

for (
  const [preset, steps, drop] of [
    // Reversed 1..3 x 1..3 products with their partial products: the digits start near ln(10)
    // and the model learns the easy ones (zeros of the shifts, EOS, the "+" and "=" structure)
    // within a hundred steps.
    ["tiny-multiplication", 100, 0.8],
    // Sorting 1..4 numbers: the loss starts near ln(118) (the sort vocabulary) and falls fast
    // once commas and the label set are learnt.
    ["tiny-sorting", 100, 2.0],
  ] as const
) {
  Deno.test({
    name: `a short ${preset} run (${steps} steps) brings its loss well below the start`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const losses = await shortRun(preset, steps);
      ok(losses.length === steps, `${losses.length} losses`);
      const start = mean(losses.slice(0, 5)), end = mean(losses.slice(-10));
      ok(end < start - drop, `${preset}: loss ${start.toFixed(3)} -> ${end.toFixed(3)}`);
    },
  });
}
