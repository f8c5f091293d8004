/**
 * `deno task bench eval [--json] [--samples N] [--digits 20,40] [--model 4x1|1x16|16x1]`: greedy
 * decoding of one addition cell with the KV cache against full recomputation every step
 * (upstream's method), on the same model and prompts; prints seconds, sequences/s and the
 * speed-up. `--model 1x16|16x1` uses the paper's shapes (H=1024).
 * @module
 */
import { initBackend } from "../../core/backend.ts";
import { ArithmeticModel } from "../../core/nn/model.ts";
import { resolveArch } from "../../core/nn/arch.ts";
import { greedyDecode } from "../../core/nn/decode.ts";
import { Rng } from "../../kernels/rng.ts";

/**
 * `n` random addition prompts of `digits`-digit operands (reversed, no leading zero), as token
 * rows ending in `=`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { Rng } from "../../kernels/rng.ts";
 * import { prompts } from "./eval.ts";
 * assert(prompts(100, 2, new Rng(1))[0].length === 202);
 * ```
 */
export function prompts(digits: number, n: number, rng: Rng): Int32Array[] {
  const out: Int32Array[] = [];
  for (let s = 0; s < n; s++) {
    const row: number[] = [];
    for (const op of [14, 17]) {
      for (let d = 0; d < digits; d++) {
        row.push(4 + (d === digits - 1 ? rng.int(1, 9) : rng.int(0, 9)));
      }
      row.push(op);
    }
    out.push(new Int32Array(row));
  }
  return out;
}

/**
 * Runs the benchmark.
 *
 * @example
 * ```ts ignore
 * await run(["--json"]);
 * ```
 */
export async function run(args: string[]): Promise<void> {
  const opt = (name: string) => args.includes(name) ? args[args.indexOf(name) + 1] : undefined;
  const samples = Number(opt("--samples") ?? 100);
  const digitsList = (opt("--digits") ?? "20,40").split(",").map(Number);
  const shape = opt("--model") ?? "4x1";
  const paper = shape === "1x16" || shape === "16x1";
  if (!paper && shape !== "4x1") {
    throw new Error(`Unknown --model "${shape}": choose 4x1, 1x16 or 16x1`);
  }
  if (!Number.isInteger(samples) || samples < 1) {
    throw new Error(`--samples must be a positive integer, got ${opt("--samples")}`);
  }
  if (!digitsList.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new Error(
      `--digits must be positive integers separated by commas, got ${opt("--digits")}`,
    );
  }
  const backend = await initBackend();
  const adapter = backend.kind === "webgpu" ? backend.adapterName : "cpu backend";
  // 4x1 d=128 by default; the paper's 1x16 and 16x1 shapes (H=1024, I=2048, 16 heads) on request.
  const [layers, rec] = paper ? shape.split("x").map(Number) : [4, 1];
  const arch = resolveArch({
    layers_in_recurrent_block: layers,
    maximal_recurrence: rec,
    hidden_size: paper ? 1024 : 128,
    intermed_size: paper ? 2048 : 256,
    attention: { num_attention_heads: paper ? 16 : 4 },
    embedding: { pos_embedding: "abacus", max_seq_length: paper ? 512 : 128 },
  }, 19);
  const model = ArithmeticModel.create(arch, { backend, seed: 1 });
  const rng = new Rng(5);
  const rows = [];
  for (const digits of digitsList) {
    const ps = prompts(digits, samples, rng);
    const opts = { maxNewTokens: digits + 2, seed: 3, eosId: -1 };
    // Warm-up at the measured batch size (compiles the pipelines both methods start with).
    await greedyDecode(model, ps, { ...opts, maxNewTokens: 2 });
    await greedyDecode(model, ps, { ...opts, maxNewTokens: 2, cached: false });
    let t = performance.now();
    const a = await greedyDecode(model, ps, opts);
    const cachedSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    const b = await greedyDecode(model, ps, { ...opts, cached: false });
    const fullSeconds = (performance.now() - t) / 1000;
    // One cell; `identical`: both methods produced the same tokens.
    rows.push({
      digits,
      samples,
      cachedSeconds,
      fullSeconds,
      speedup: fullSeconds / cachedSeconds,
      identical: a.every((r, i) => r.join() === b[i].join()),
    });
  }
  model.dispose();
  const size = paper ? "H=1024, 16 heads" : "d=128";
  const name = `${shape} ${size} abacus`;
  if (args.includes("--json")) {
    console.log(JSON.stringify({ bench: "eval", adapter, model: name, results: rows }, null, 2));
    return;
  }
  console.log(
    `bench eval on ${adapter} (model ${shape}, ${size}, batch of ${samples} prompts per cell)`,
  );
  console.log("digits  cached s  full s  speed-up  identical  cached seq/s");
  for (const r of rows) {
    console.log(
      `${String(r.digits).padStart(6)} ${r.cachedSeconds.toFixed(2).padStart(9)} ${
        r.fullSeconds.toFixed(2).padStart(7)
      } ${r.speedup.toFixed(1).padStart(9)} ${String(r.identical).padStart(10)} ${
        (r.samples / r.cachedSeconds).toFixed(1).padStart(13)
      }`,
    );
  }
}
