/**
 * `deno task summary [key=value ...]`: prints the model's parameter count by component for any
 * config, preset and overrides (`--json` for tools), without building or training anything.
 * @module
 */
import { loadConfig } from "../cli/config.ts";
import { resolveArch } from "../core/nn/arch.ts";
import { paramCounts } from "../core/nn/params.ts";
import { getTokenizer } from "../data/tokenizer.ts";

/**
 * Parameter counts by component (embedding: word and positional embeddings and their norm;
 * blocks: the recurrent block(s); head: head FFN and final norm; output: adapter and decoder),
 * and the effective depth, layers x recurrences.
 */
export type Summary = ReturnType<typeof paramCounts> & { depth: string };

/**
 * Counts a configuration's parameters.
 *
 * @example
 * ```ts
 * import { summarize } from "./summary.ts";
 * import { strictEqual } from "node:assert/strict";
 * const s = await summarize(["preset=addition-16x1", "arch.embedding.pos_embedding=None"]);
 * strictEqual(s.total, 121_743_360);
 * ```
 * @param args `key=value` overrides (as `deno task train` takes them)
 */
export async function summarize(args: string[]): Promise<Summary> {
  const cfg = await loadConfig(args, "pretrain", { log: () => {} });
  const tok = cfg.data.sources.arithmetic.tokenizer_type ?? "pad";
  const arch = resolveArch(cfg.arch, getTokenizer(tok).vocabSize);
  const depth = arch.forwardOnlyModelWithSkip
    ? `${arch.layersInRecurrentBlock} (skip)`
    : `${arch.layersInRecurrentBlock}x${arch.maximalRecurrence}`;
  return { ...paramCounts(arch), depth };
}

/** Runs the task. */
export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(
      "Usage: deno task summary [--json] [preset=NAME] [key=value ...]\n" +
        "Prints parameter counts by component for the resolved arch config.",
    );
    return 0;
  }
  try {
    const s = await summarize(argv.filter((a) => a !== "--json"));
    if (argv.includes("--json")) console.log(JSON.stringify(s));
    else {
      const f = (n: number) => n.toLocaleString("en-US").padStart(14);
      console.log(`model ${s.depth}`);
      for (const k of ["embedding", "blocks", "head", "output", "total"] as const) {
        console.log(`${k.padEnd(10)}${f(s[k])}`);
      }
    }
    return 0;
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
