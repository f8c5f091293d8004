/**
 * `deno task bench eval [--json] [--samples N]`: greedy decoding of one addition cell with the
 * KV cache against full recomputation every step (upstream's method), on the same model and
 * prompts, for 20- and 40-digit operands; prints seconds, sequences/s and the speed-up.
 * @module
 */
import { initBackend } from "../../core/tensor.ts";
import { ArithmeticModel } from "../../core/nn/model.ts";
import { resolveArch } from "../../core/nn/arch.ts";
import { greedyDecode } from "../../core/nn/decode.ts";
import { Rng } from "../../kernels/rng.ts";

/** One cell's timing. */
export interface EvalTiming {
  /** Operand digits (i = j). */
  digits: number;
  /** Prompts decoded. */
  samples: number;
  /** Seconds with the cache. */
  cachedSeconds: number;
  /** Seconds recomputing everything. */
  fullSeconds: number;
  /** full / cached. */
  speedup: number;
  /** Whether both methods produced the same tokens. */
  identical: boolean;
}

function prompts(digits: number, n: number, rng: Rng): Int32Array[] {
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
 * @param args `--json`, `--samples N`
 */
export async function run(args: string[]): Promise<void> {
  const json = args.includes("--json");
  const si = args.indexOf("--samples");
  const samples = si >= 0 ? Number(args[si + 1]) : 100;
  const backend = await initBackend();
  const adapter = backend.kind === "webgpu" ? backend.adapterName : "cpu backend";
  const arch = resolveArch({
    layers_in_recurrent_block: 4,
    maximal_recurrence: 1,
    hidden_size: 128,
    intermed_size: 256,
    attention: { num_attention_heads: 4 },
    embedding: { pos_embedding: "abacus", max_seq_length: 128 },
  }, 19);
  const model = ArithmeticModel.create(arch, { backend, seed: 1 });
  const rng = new Rng(5);
  const rows: EvalTiming[] = [];
  for (const digits of [20, 40]) {
    const ps = prompts(digits, samples, rng);
    const opts = { maxNewTokens: digits + 2, seed: 3, eosId: -1 };
    await greedyDecode(model, ps.slice(0, 2), { ...opts, maxNewTokens: 2 }); // compile pipelines
    await greedyDecode(model, ps.slice(0, 2), { ...opts, maxNewTokens: 2, cached: false });
    let t = performance.now();
    const a = await greedyDecode(model, ps, opts);
    const cachedSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    const b = await greedyDecode(model, ps, { ...opts, cached: false });
    const fullSeconds = (performance.now() - t) / 1000;
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
  if (json) {
    console.log(
      JSON.stringify({ bench: "eval", adapter, model: "4x1 d128 abacus", results: rows }, null, 2),
    );
    return;
  }
  console.log(`bench eval on ${adapter} (model 4x1, d=128, batch of ${samples} prompts per cell)`);
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
