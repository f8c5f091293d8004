/**
 * `deno task bench model [--json] [--steps N]`: forward and forward + backward time per step for
 * the 2x128 and 4x256 models, looped (one layer repeated) and standard (separate layers), at
 * B=64, T=64.
 * @module
 */
import { initBackend } from "../../core/backend.ts";
import { printTimings, type StepTiming, timeSteps } from "./_step.ts";

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
  const steps = si >= 0 ? Number(args[si + 1]) : 10;
  const backend = await initBackend();
  const adapter = backend.kind === "webgpu" ? backend.adapterName : "cpu backend";
  const rows: StepTiming[] = [];
  for (const [d, heads, depth] of [[128, 4, 2], [256, 8, 4]]) {
    for (const looped of [false, true]) {
      const keys = {
        layers_in_recurrent_block: looped ? 1 : depth,
        maximal_recurrence: looped ? depth : 1,
        hidden_size: d,
        intermed_size: 2 * d,
        attention: { num_attention_heads: heads },
        embedding: { pos_embedding: "abacus", max_seq_length: 256 },
      };
      const name = looped ? `1x${depth} d${d}` : `${depth}x1 d${d}`;
      for (const mode of ["forward", "train"] as const) {
        rows.push(await timeSteps(name, keys, { B: 64, T: 64, steps, mode, backend }));
      }
    }
  }
  printTimings("bench model", adapter, rows, json);
}
