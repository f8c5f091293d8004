/**
 * `deno task bench step [--json] [--steps N]`: forward + backward + AdamW of a one-block model
 * (B=64, T=64, d=128, 4 heads), with submits and readbacks per step (target: one of each).
 * @module
 */
import { initBackend } from "../../core/backend.ts";
import { printTimings, timeSteps } from "./_step.ts";

/**
 * Runs the benchmark.
 *
 * @example
 * ```ts ignore
 * await run(["--json"]);
 * ```
 * @param args `--json`, `--steps N`
 */
export async function run(args: string[]): Promise<void> {
  const json = args.includes("--json");
  const si = args.indexOf("--steps");
  const steps = si >= 0 ? Number(args[si + 1]) : 20;
  const backend = await initBackend();
  const adapter = backend.kind === "webgpu" ? backend.adapterName : "cpu backend";
  const keys = {
    layers_in_recurrent_block: 1,
    maximal_recurrence: 1,
    hidden_size: 128,
    intermed_size: 256,
    attention: { num_attention_heads: 4 },
    embedding: { pos_embedding: "abacus", max_seq_length: 256 },
  };
  const r = await timeSteps("1x128", keys, { B: 64, T: 64, steps, mode: "train", backend });
  printTimings("bench step", adapter, [r], json);
}
