// Command-line flags of `deno task data`, mirroring upstream's create_data_split.py (underscore
// spellings such as --reverse_all are accepted too, and so are the flags upstream's own shells
// pass but its argparse rejects). Parsing is separate from the task so it can be tested alone.

import { parseArgs } from "node:util";
import { DataError, type DataOp, type DataSpec } from "../data/spec.ts";
import { GRID_PRESETS, TRAIN_PRESETS } from "../data/presets.ts";
import type { GridRange } from "../data/grid.ts";
import type { TokenizerType } from "../data/tokenizer.ts";

/** Parsed flags of the data task. */
export interface DataArgs {
  /** `--help` was given. */
  help: boolean;
  /** `--preset NAME`. */
  preset?: string;
  /** Generator arguments given on the command line (others stay undefined). */
  spec: Partial<DataSpec>;
  /** Whether to build an evaluation grid (grid preset or grid flags). */
  isGrid: boolean;
  /** Grid sides given on the command line. */
  grid: Partial<GridRange>;
  /** `--out DIR`. */
  out?: string;
  /** `--base-dir DIR`. */
  baseDir?: string;
  /** `--dir-name NAME` (folder name under `<base_dir>/data`). */
  name?: string;
  /** `--test-ratio R`. */
  testRatio?: number;
  /** `--tokenizer-type T`: checked against the data, never changes it. */
  tokenizerType?: TokenizerType;
  /** `--force`. */
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

const STRING_FLAGS = [
  "preset",
  "op",
  "n",
  "m",
  "limit",
  "num-samples",
  "p",
  "max",
  "seed",
  "test-ratio",
  "out",
  "base-dir",
  "dir-name",
  "grid-min",
  "grid-max",
  "sort-generation-method",
  "tokenizer-type",
] as const;
const BOOLEAN_FLAGS = [
  "help",
  "exact",
  "reverse-all",
  "reverse-answer",
  "keep-0-for-len-1",
  "index-hints",
  "scratchpad",
  "bucket",
  "force",
  "quiet",
  "diagonal",
  "tokenize",
  "continue-to-tokenize",
  "uniform-distribution-sort-data",
] as const;
const ALIASES: Record<string, string> = {
  "test-split-ratio": "test-ratio",
  "dir": "dir-name",
  "tt": "tokenizer-type",
};

function fail(message: string): never {
  throw new DataError(`Cannot parse arguments: ${message}`);
}

/** Spells flags as `--kebab-case=value` so values such as `-` or `-1` parse as values. */
function normalize(argv: string[]): string[] {
  const out: string[] = [];
  for (let k = 0; k < argv.length; k++) {
    const arg = argv[k];
    const m = /^--?([^=]+)(=.*)?$/.exec(arg);
    if (!m || arg === "-" || /^-\d/.test(arg)) {
      fail(`unexpected argument ${JSON.stringify(arg)}`);
    }
    let name = m[1].replaceAll("_", "-");
    if (name === "h") name = "help";
    name = ALIASES[name] ?? name;
    if (
      arg.startsWith("-") && !arg.startsWith("--") && name !== "help" && name !== "tokenizer-type"
    ) {
      fail(`unknown flag ${arg}`);
    }
    const takesValue = (STRING_FLAGS as readonly string[]).includes(name);
    if (takesValue && m[2] === undefined) {
      if (k + 1 >= argv.length) fail(`--${name} needs a value`);
      out.push(`--${name}=${argv[++k]}`);
    } else out.push(`--${name}${m[2] ?? ""}`);
  }
  return out;
}

function int(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v.replaceAll("_", ""));
  if (v.trim() === "" || !Number.isSafeInteger(x)) {
    fail(`--${flag} expects an integer, got ${JSON.stringify(v)}`);
  }
  return x;
}

function float(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x)) {
    fail(`--${flag} expects a number, got ${JSON.stringify(v)}`);
  }
  return x;
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
  const options: Record<string, { type: "string" | "boolean" }> = {};
  for (const f of STRING_FLAGS) options[f] = { type: "string" };
  for (const f of BOOLEAN_FLAGS) options[f] = { type: "boolean" };
  let values: Record<string, string | boolean | undefined>;
  try {
    values =
      parseArgs({ args: normalize(argv), options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    if (err instanceof DataError) throw err;
    const msg = err instanceof Error ? err.message.split("\n")[0] : String(err);
    const unknown = /Unknown option '([^']+)'/.exec(msg);
    fail(unknown ? `unknown flag ${unknown[1]}` : msg);
  }
  const str = (k: string) => values[k] as string | undefined;
  const bool = (k: string) => values[k] === true ? true : undefined;
  const spec: Partial<DataSpec> = {};
  const set = <K extends keyof DataSpec>(k: K, v: DataSpec[K] | undefined) => {
    if (v !== undefined) spec[k] = v;
  };
  const op = values["uniform-distribution-sort-data"] ? "sort" : str("op");
  set("op", op as DataOp | undefined);
  set("n", int("n", str("n")));
  set("m", int("m", str("m")));
  set("limit", int("limit", str("limit")));
  set("numSamples", int("num-samples", str("num-samples")));
  set("p", float("p", str("p")));
  set("max", int("max", str("max")));
  set("seed", int("seed", str("seed")));
  set("exact", bool("exact"));
  set("reverseAll", bool("reverse-all"));
  set("reverseAnswer", bool("reverse-answer"));
  set("keep0ForLen1", bool("keep-0-for-len-1"));
  set("indexHints", bool("index-hints"));
  set("scratchpad", bool("scratchpad"));
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
  if (spec.method === undefined && (spec.numSamples !== undefined || spec.exact)) {
    spec.method = "sample";
  } else if (spec.method === undefined && (values.bucket || spec.limit !== undefined)) {
    spec.method = "bucket";
  }

  const preset = str("preset");
  if (preset !== undefined && !TRAIN_PRESETS[preset] && !GRID_PRESETS[preset]) {
    const known = [...Object.keys(TRAIN_PRESETS), ...Object.keys(GRID_PRESETS)].join(", ");
    fail(`unknown preset ${preset} (expected ${known})`);
  }
  const grid: Partial<GridRange> = {};
  const gMin = int("grid-min", str("grid-min")), gMax = int("grid-max", str("grid-max"));
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
    testRatio: float("test-ratio", str("test-ratio")),
    tokenizerType: tt as TokenizerType | undefined,
    force: values.force === true,
    quiet: values.quiet === true,
  };
}
