/**
 * `deno task train [preset=NAME] [key=value ...]`: trains an arithmetic transformer with
 * upstream's Hydra-style arguments, resuming from the run's newest checkpoint. It reads no
 * files relative to the working folder or this file except through imports, so it also runs as
 * `deno run -A file:///.../tasks/train.ts` (or a remote URL) from any folder.
 * @module
 */

import { loadConfig, presetSummaries, userCwd } from "../cli/config.ts";
import { helpText } from "../cli/config_help.ts";
import { ConfigError } from "../cli/overrides.ts";
import { CheckpointError } from "../core/checkpoint.ts";
import { DataError } from "../data/spec.ts";
import { TrainError } from "./train/errors.ts";
import { train, type TrainOutcome } from "./train/run.ts";

export { train, TrainError, type TrainOutcome };

/** Errors whose message is the whole story: printed as one line, exit code 1. */
const USER_ERRORS = [ConfigError, TrainError, DataError, CheckpointError];

/**
 * Runs the train task on command-line arguments and returns the exit code.
 *
 * `--help` prints the groups, presets and main keys. Bad arguments, a missing dataset, a damaged
 * checkpoint or a non-finite loss print one line on stderr and return 1. Relative paths
 * (`base_dir=./runs`) are taken from the folder `deno task` was started in.
 *
 * @example
 * ```ts
 * import { main } from "./train.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(await main(["--help"]), 0);
 * ```
 */
export async function main(args: string[]): Promise<number> {
  try {
    if (args.includes("--help") || args.includes("-h")) {
      console.log(helpText("pretrain", await presetSummaries()));
      return 0;
    }
    await train(await loadConfig(args, "pretrain", { cwd: userCwd() }));
    return 0;
  } catch (e) {
    if (!USER_ERRORS.some((E) => e instanceof E)) throw e;
    console.error((e as Error).message.split("\n")[0]);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
