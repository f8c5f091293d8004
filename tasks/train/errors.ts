// The error type of the train task: a problem the user can fix (a missing dataset, a checkpoint
// that does not fit the config, a non-finite loss). `deno task train` prints its message as one
// line and exits non-zero; any other error is a bug and keeps its stack trace.

/**
 * A train-task failure with a one-line, sentence-case message without a trailing period.
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
