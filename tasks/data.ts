// `deno task data`: generates the paper's datasets and evaluation grids (or any upstream-style
// dataset from flags) into `<base_dir>/data/<name>`. Also the `./data` export of the package:
// it re-exports the data API so other code imports one path. It reads no files relative to the
// working directory, so it also runs as `deno run -A file:///.../tasks/data.ts` from anywhere.

import { DATA_USAGE, type DataArgs, parseDataArgs } from "../cli/data_args.ts";
import { Progress } from "../cli/progress.ts";
import { DataError, resolveSpec, tokenizerFor } from "../data/spec.ts";
import {
  generateDataset,
  generateGrid,
  planDataset,
  removePendingOutputs,
} from "../data/generate.ts";

export * from "../data/tokenizer.ts";
export * from "../data/spec.ts";
export * from "../data/presets.ts";
export * from "../data/dataset.ts";
export * from "../data/generate.ts";
export { createSource, type SampleSource } from "../data/generators.ts";

async function run(args: DataArgs, progress: Progress | null): Promise<string> {
  const onProgress = progress ? (d: number, t: number) => progress.update(d, t) : undefined;
  const { preset, spec } = args;
  const where = { name: args.name, out: args.out, baseDir: args.baseDir, force: args.force };
  const t0 = performance.now();
  const seconds = () => ((performance.now() - t0) / 1000).toFixed(1);
  const fits = (what: string, needed: string) => {
    if (args.tokenizerType && args.tokenizerType !== needed) {
      throw new DataError(
        `Cannot generate ${what}: tokenizer ${args.tokenizerType} does not fit (needs ${needed})`,
      );
    }
  };
  if (args.isGrid) {
    if (args.testRatio !== undefined) {
      throw new DataError(`Cannot generate grid: grids put every sample in test`);
    }
    const grid = await generateGrid({ preset, base: spec, ...args.grid, ...where, onProgress });
    fits("grid", grid.tokenizer);
    const rows = grid.cells.reduce((s, c) => s + c.rows, 0);
    progress?.done();
    return `Wrote grid ${grid.name}: ${grid.cells.length} cells, ${rows} samples, in ${seconds()} s`;
  }
  const request = { preset, spec, ...where, testRatio: args.testRatio };
  const plan = planDataset(request);
  fits("data", tokenizerFor(resolveSpec(plan.spec)));
  const meta = await generateDataset({ ...request, out: plan.out, onProgress });
  progress?.done();
  return `Wrote ${plan.out}: ${meta.counts.train + meta.counts.test} samples ` +
    `(train ${meta.counts.train}, test ${meta.counts.test}), row length ${meta.rowLength}, in ${seconds()} s`;
}

/**
 * Runs the data task on command-line arguments and returns the exit code.
 *
 * Bad input prints one line on stderr and returns 1, leaving no partial output behind.
 *
 * @example
 * ```ts
 * import { main } from "./data.ts";
 * import assert from "node:assert/strict";
 *
 * const root = await Deno.makeTempDir();
 * assert.deepEqual(await main(["--op", "+", "--n", "2", "--m", "2", "--limit", "40", "--quiet", "--base-dir", root]), 0);
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @returns 0 on success, 1 on error, 130 when interrupted.
 */
export async function main(argv: string[]): Promise<number> {
  let progress: Progress | null = null;
  const onSignal = () => {
    progress?.abort();
    removePendingOutputs();
    console.error("Interrupted: removed the partial dataset");
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    const args = parseDataArgs(argv);
    if (args.help) {
      console.log(DATA_USAGE);
      return 0;
    }
    progress = args.quiet ? null : new Progress("data");
    console.log(await run(args, progress));
    return 0;
  } catch (err) {
    progress?.abort();
    console.error((err instanceof Error ? err.message : String(err)).split("\n")[0]);
    return 1;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
