// Command-line flags of `deno task data`, mirroring upstream's create_data_split.py (underscore
// spellings such as --reverse_all are accepted too, and so are the flags upstream's own shells
// pass but its argparse rejects). Parsing is separate from the task so it can be tested alone.

import { DataError, type DataOp, type DataSpec } from "../data/spec.ts";
import { GRID_PRESETS, TRAIN_PRESETS } from "../data/presets.ts";
import type { GridRange } from "../data/generate.ts";
import type { TokenizerType } from "../data/tokenizer.ts";

/** Parsed flags of the data task; a field without a note is the flag of that name (`--base-dir`). */
export interface DataArgs {
  help: boolean;
  preset?: string;
  /** Generator arguments given on the command line (others stay undefined). */
  spec: Partial<DataSpec>;
  /** Whether to build an evaluation grid (grid preset or grid flags). */
  isGrid: boolean;
  /** Grid sides given on the command line. */
  grid: Partial<GridRange>;
  out?: string;
  baseDir?: string;
  /** `--dir-name NAME` (folder name under `<base_dir>/data`). */
  name?: string;
  testRatio?: number;
  /** `--tokenizer-type T`: checked against the data, never changes it. */
  tokenizerType?: TokenizerType;
  force: boolean;
  /** `--quiet`: no progress display. */
  quiet: boolean;
}

/**
 * Help text of the data task.
 *
 * Printed by `--help`; lists the presets and every flag.
 *
 * @example
 * ```ts
 * import { DATA_USAGE } from "./data_args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.match(DATA_USAGE, /--reverse-all/);
 * ```
 */
export const DATA_USAGE: string =
  `Usage: deno task data [--preset NAME | --op OP --n N --m M ...] [options]

Generates a dataset folder (meta.json, train.bin, test.bin, train.txt, test.txt) or an
evaluation grid (grid.json plus one dataset folder per cell) under <base_dir>/data/<name>.

Presets (the paper's data):
  ${Object.keys(TRAIN_PRESETS).join(", ")}
  ${Object.keys(GRID_PRESETS).join(", ")}

Generator (as upstream create_data_split.py; --flag_name spellings work too):
  --op OP               +, -, x, sort or or (default +)
  --n N, --m M          digits of the operands (sorting: max digits, max list length)
  --limit N             samples of the bucket method (default 1000000)
  --bucket              bucket method (the default unless --num-samples or --exact)
  --num-samples N       plain sampling of N samples (one shape); with --exact: exactly n, m digits
  --exact               operands of exactly n and m digits (or: only the (n, m) cases)
  --reverse-all         write operands and answer least significant digit first
  --reverse-answer      write only the answer reversed
  --p P                 probability of random spaces, stored as PAD (default 0)
  --keep-0-for-len-1    1-digit operands may be 0
  --index-hints         cyclic index-hint symbol before every digit (index vocabulary)
  --scratchpad          x: partial products a*b_k*10^k before the answer (not upstream)
  --max N               or: keep at most N cases
  --sort-generation-method bucket_uniform_distribution|uniform_distribution_sort_basic
  --seed S              random seed (default 42)

Grids:
  --grid-min I, --grid-max J   cells with sides I..J (default 1..preset's)
  --diagonal                   only cells with i == j

Output:
  --out DIR             output folder (default <base_dir>/data/<name>)
  --base-dir DIR        base folder (default env cramming_base_dir, else ./abacus-data)
  --dir-name NAME       dataset name (default: upstream's naming scheme)
  --test-ratio R        test fraction, the last rows (default 0.01; grids: all test)
  --force               replace an existing non-empty output folder
  --quiet               no progress display
  -h, --help            show this help
`;

// Generator flags that set the DataSpec field of their camelCase name (`--num-samples`: numSamples).
const SPEC_INTEGERS = ["n", "m", "limit", "num-samples", "max", "seed"];
const SPEC_SWITCHES = [
  "exact",
  "reverse-all",
  "reverse-answer",
  "keep-0-for-len-1",
  "index-hints",
  "scratchpad",
];
const VALUE_FLAGS = [
  ...SPEC_INTEGERS,
  "preset",
  "op",
  "p",
  "test-ratio",
  "out",
  "base-dir",
  "dir-name",
  "grid-min",
  "grid-max",
  "sort-generation-method",
  "tokenizer-type",
];
const SWITCHES = [
  ...SPEC_SWITCHES,
  "help",
  "bucket",
  "force",
  "quiet",
  "diagonal",
  "tokenize",
  "continue-to-tokenize",
  "uniform-distribution-sort-data",
];
const ALIASES: Record<string, string> = {
  "h": "help",
  "test-split-ratio": "test-ratio",
  "dir": "dir-name",
  "tt": "tokenizer-type",
};

function fail(message: string): never {
  throw new DataError(`Cannot parse arguments: ${message}`);
}

/** Reads `--flag value`, `--flag=value` and `--flag` (any spelling with `_`) into a map. */
function readFlags(argv: string[]): Record<string, string | true> {
  const values: Record<string, string | true> = {};
  for (let k = 0; k < argv.length; k++) {
    const arg = argv[k];
    const m = /^--?([^=]+)(?:=(.*))?$/s.exec(arg);
    if (!m || arg === "-" || /^-\d/.test(arg)) fail(`unexpected argument ${JSON.stringify(arg)}`);
    let name = m[1].replaceAll("_", "-");
    name = ALIASES[name] ?? name;
    const short = !arg.startsWith("--") && name !== "help" && name !== "tokenizer-type";
    if (short || ![...VALUE_FLAGS, ...SWITCHES].includes(name)) {
      fail(`unknown flag ${short ? arg : `--${name}`}`);
    }
    if (SWITCHES.includes(name)) {
      if (m[2] !== undefined) fail(`--${name} takes no value`);
      values[name] = true;
    } else {
      const value = m[2] ?? argv[++k];
      if (value === undefined) fail(`--${name} needs a value`);
      values[name] = value; // "-" or "-1" after a flag is its value
    }
  }
  return values;
}

/**
 * Parses the data task's flags; throws a `DataError` with a one-line message on bad input.
 *
 * @example
 * ```ts
 * import { parseDataArgs } from "./data_args.ts";
 * import assert from "node:assert/strict";
 *
 * const a = parseDataArgs(["--op", "+", "--n", "20", "--m", "20", "--limit", "20000000", "--reverse_all"]);
 * assert.deepEqual(a.spec, { op: "+", n: 20, m: 20, limit: 20000000, reverseAll: true, method: "bucket" });
 * ```
 */
export function parseDataArgs(argv: string[]): DataArgs {
  const values = readFlags(argv);
  const str = (k: string) => values[k] as string | undefined;
  const bool = (k: string) => values[k] === true ? true : undefined;
  const num = (flag: string, integer = true): number | undefined => {
    const v = str(flag);
    if (v === undefined) return undefined;
    const x = Number(integer ? v.replaceAll("_", "") : v);
    if (v.trim() === "" || !(integer ? Number.isSafeInteger(x) : Number.isFinite(x))) {
      fail(`--${flag} expects ${integer ? "an integer" : "a number"}, got ${JSON.stringify(v)}`);
    }
    return x;
  };
  const spec: Partial<DataSpec> = {};
  const set = <K extends keyof DataSpec>(k: K, v: DataSpec[K] | undefined) => {
    if (v !== undefined) spec[k] = v;
  };
  const op = values["uniform-distribution-sort-data"] ? "sort" : str("op");
  set("op", op as DataOp | undefined);
  const field = (flag: string) =>
    flag.replace(/-(.)/g, (_, c) => c.toUpperCase()) as keyof DataSpec;
  for (const flag of SPEC_INTEGERS) set(field(flag), num(flag));
  set("p", num("p", false));
  for (const flag of SPEC_SWITCHES) set(field(flag), bool(flag));
  const method = str("sort-generation-method");
  if (method !== undefined) {
    if (method === "bucket_uniform_distribution") spec.method = "bucket";
    else if (method === "uniform_distribution_sort_basic") spec.method = "sample";
    else fail(`unknown --sort-generation-method ${JSON.stringify(method)}`);
  }
  if (values.bucket && (spec.numSamples !== undefined || spec.exact)) {
    fail("--bucket excludes --num-samples and --exact");
  }
  if (spec.limit !== undefined && spec.numSamples !== undefined) {
    fail("--limit (bucket method) excludes --num-samples (plain sampling)");
  }
  if (spec.numSamples !== undefined || spec.exact) spec.method ??= "sample";
  else if (values.bucket || spec.limit !== undefined) spec.method ??= "bucket";

  const preset = str("preset");
  if (preset !== undefined && !TRAIN_PRESETS[preset] && !GRID_PRESETS[preset]) {
    const known = [...Object.keys(TRAIN_PRESETS), ...Object.keys(GRID_PRESETS)].join(", ");
    fail(`unknown preset ${preset} (expected ${known})`);
  }
  const grid: Partial<GridRange> = {};
  const gMin = num("grid-min"), gMax = num("grid-max");
  if (gMin !== undefined) grid.minSide = gMin;
  if (gMax !== undefined) grid.maxSide = gMax;
  if (values.diagonal) grid.diagonal = true;
  const isGrid = (preset !== undefined && GRID_PRESETS[preset] !== undefined) ||
    Object.keys(grid).length > 0;
  if (isGrid && preset !== undefined && TRAIN_PRESETS[preset]) {
    fail(`grid flags need a grid preset, not ${preset}`);
  }
  const tt = str("tokenizer-type");
  if (tt !== undefined && tt !== "pad" && tt !== "sort" && tt !== "index") {
    fail(`unknown --tokenizer-type ${JSON.stringify(tt)} (expected pad, sort or index)`);
  }
  return {
    help: values.help === true,
    preset,
    spec,
    isGrid,
    grid,
    out: str("out"),
    baseDir: str("base-dir"),
    name: str("dir-name"),
    testRatio: num("test-ratio", false),
    tokenizerType: tt as TokenizerType | undefined,
    force: values.force === true,
    quiet: values.quiet === true,
  };
}
