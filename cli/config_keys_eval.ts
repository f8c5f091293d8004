// The keys of `deno task eval`: upstream's cfg_eval.yaml (the flags of arithmetic_eval_quicker.py
// and sort_eval.py) plus abacus's checkpoint, shard and eval.grid. Same conventions as
// config_keys.ts: "ignored" keys have no meaning here, "restricted" keys accept only some values.

import type { KeySpec, KeyTable } from "./config_schema.ts";
import {
  bool,
  float,
  ignored,
  int,
  key,
  map,
  NAME,
  oneOf,
  only,
  orNone,
  str,
} from "./_key_builders.ts";

const bigSteps: Record<string, KeySpec> = {};
for (let k = 1; k <= 10; k++) bigSteps[`big_eval_step_${k}`] = key(bool);

/**
 * The top-level keys of `deno task eval` (upstream's cfg_eval.yaml, the flags of its eval
 * scripts, and abacus's `checkpoint`, `shard`, `eval.grid`), relative to the root.
 *
 * @example
 * ```ts
 * import { EVAL_KEYS } from "./config_keys_eval.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(EVAL_KEYS.greedy.allowed, [true]);
 * ```
 */
export const EVAL_KEYS: KeyTable = {
  name: key(NAME, "run to evaluate"),
  base_dir: orNone(str(), "root of runs and datasets (see Base dir below)"),
  model_dir: orNone(str(), "where <name>/checkpoints/ is read (default: base_dir)"),
  seed: orNone(int(), "seed of on-the-fly eval data and of the random initial state"),
  dryrun: key(bool),
  checkpoint: orNone(str(), "checkpoint folder to evaluate (None: the run's newest)"),
  shard: orNone(str(/^\d+\/\d+$/, "2/8"), "evaluate piece k of N (also --shard k/N)"),
  max_rec: orNone(int(1), "recurrences at eval (None: the training value)"),
  reverse_inputs: key(bool),
  pad_zeros: only(int(), [0], "zero-padded operands are not implemented"),
  extended_eval: key(bool),
  greedy: only(bool, [true], "abacus decodes greedily"),
  temp: ignored(float(), "decoding is greedy, so the temperature has no effect"),
  token_limit: ignored(int(), "abacus generates the target's length, as upstream"),
  remove_padding: key(bool),
  large: key(bool),
  ood_only: key(bool),
  up_to_40: key(bool),
  up_to_50: key(bool),
  checkerboard: orNone(oneOf("even", "odd")),
  ...bigSteps,
  max_size_given: orNone(int(0)),
  start_ind_1_given: orNone(int(0)),
  start_ind_2_given: orNone(int(0)),
  mul: key(bool),
  pos_arth: key(bool),
  pos_arth_ood: key(bool),
  sort_reverse: key(bool),
  tokenizer_type: orNone(oneOf("pad", "index", "sort")),
  budget: ignored(float(), "evaluation has no time budget"),
  overall_budget: ignored(float(), "evaluation has no time budget"),
  "eval.name": ignored(str(), "the name of upstream's language-model eval suite"),
  "eval.arch_modifications": ignored(map, "the model comes from the checkpoint"),
  "eval.checkpoint": key(str(), "latest, or a folder name under checkpoints/"),
  "eval.path": key(str()),
  "eval.grid": orNone(str(/^\d+(\.\.\d+)?x\d+(\.\.\d+)?$/, "1..12x1..12"), "cells i x j"),
};
