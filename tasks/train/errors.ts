/**
 * A train-task problem the user can fix (a missing dataset, a checkpoint that does not fit the
 * config, a non-finite loss): `deno task train` prints its one-line, sentence-case message
 * without a trailing period and exits non-zero; any other error is a bug and keeps its stack.
 *
 * @example
 * ```ts
 * import { TrainError } from "./errors.ts";
 * import { ok } from "node:assert/strict";
 *
 * const e = new TrainError("Cannot find dataset /x: no meta.json there");
 * ok(e instanceof Error && e.name === "TrainError");
 * ```
 */
export class TrainError extends Error {
  override name = "TrainError";
}
