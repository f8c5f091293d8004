/**
 * `deno task bench <name> [--json] [...]`: the benchmark entry point. Each benchmark lives in
 * `tasks/bench/<name>.ts` and exports `run(args)` (`step` shares `model.ts`, as `runStep`); this
 * file only dispatches, so every benchmark also runs as a remote script
 * (`deno run -A jsr:@arith/abacus/bench kernels`).
 * @module
 */

/** Benchmarks by name, with a one-line description each. */
export const BENCHES: Record<string, string> = {
  kernels: "per-kernel median time, GFLOP/s (matmul, attention) and GB/s",
  step: "forward + backward + AdamW of a one-block model (B=64, T=64, d=128, 4 heads)",
  data: "generate and tokenize the paper's 20M-sample 20x20 addition set",
  train: "tokens/s of deno task train's step: tiny-addition and a 4-layer d=256 8-head model",
  eval: "KV-cached greedy decoding against full recomputation at 20 and 40 digits",
  model: "forward and forward+backward per step of 2x128 and 4x256 models, looped and standard",
  peers: "training ms/step against jax-js, TF.js and PyTorch-CPU (same weights), run alternately",
  profile: "where a training step's time goes: each kernel of one step replayed, host recording",
  generalisation: "the length-generalisation study behind the demo preset: configs x seeds",
  gpu:
    "one run on a GPU machine: adapter, matmul GFLOP/s, paper-shape steps, decoding, PyTorch ratio",
};

/** Each benchmark's flags, as `deno task bench <name> --help` prints them. */
const FLAGS: Record<string, string> = {
  kernels: "[--json] [--only TEXT] [--rounds N] [--per-submit N] [--tune] [--all]",
  step: "[--json] [--steps N]",
  model: "[--json] [--steps N]",
  data: "[--json] [--limit N] [--keep]",
  train: "[--json] [--steps N] [--warmup N] [--backend webgpu|cpu] [--only NAME]",
  eval: "[--json] [--samples N] [--digits 20,40] [--model 4x1|1x16|16x1]",
  peers: "[--json] [--config tiny|larger] [--rounds N] [--steps N] [--peers jax,tfjs,torch]",
  profile: "[--json] [--config tiny|larger] [--reps N]",
  generalisation: "[--only A,B] [--seeds 0,1,2] [--samples N] [--base-dir DIR] [--report] [--json]",
  gpu: "[--quick] [--json] [--rounds N] [--steps N] [--no-torch]",
};

/** Each benchmark's module, imported only when it runs (static specifiers, so JSR can rewrite). */
const LOADERS: Record<string, () => Promise<{ run: (args: string[]) => Promise<void> }>> = {
  kernels: () => import("./bench/kernels.ts"),
  step: () => import("./bench/model.ts").then((m) => ({ run: m.runStep })),
  model: () => import("./bench/model.ts"),
  data: () => import("./bench/data.ts"),
  train: () => import("./bench/train.ts"),
  eval: () => import("./bench/eval.ts"),
  peers: () => import("./bench/peers.ts"),
  profile: () => import("./bench/profile.ts"),
  generalisation: () => import("./bench/generalisation.ts"),
  gpu: () => import("./bench/gpu.ts"),
};

/**
 * Runs the benchmark named by the first argument.
 *
 * @example
 * ```ts ignore
 * import { main } from "./bench.ts";
 * await main(["kernels", "--json"]);
 * ```
 * @returns the process exit code
 */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (!name || name === "--help" || name === "-h") {
    console.log("Usage: deno task bench <name> [--json] [options]\n");
    for (const [k, v] of Object.entries(BENCHES)) console.log(`  ${k.padEnd(10)} ${v}`);
    return name ? 0 : 1;
  }
  if (!(name in BENCHES)) {
    console.error(`Unknown benchmark "${name}": choose one of ${Object.keys(BENCHES).join(", ")}`);
    return 1;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(`Usage: deno task bench ${name} ${FLAGS[name]}\n\n${BENCHES[name]}`);
    return 0;
  }
  const mod = await LOADERS[name]();
  try {
    await mod.run(rest);
  } catch (e) {
    // A bad flag or value is the user's to fix: one line, no stack.
    console.error(`error: bench ${name}: ${(e as Error).message}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
