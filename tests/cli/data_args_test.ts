// Tests of the data task's flag parser: upstream spellings, presets, grids and one-line errors.

import assert from "node:assert/strict";
import { DATA_USAGE, parseDataArgs } from "../../cli/data_args.ts";
import { DataError } from "../../data/spec.ts";

Deno.test("parseDataArgs() reads upstream's shell flags", () => {
  const a = parseDataArgs([
    "--uniform_distribution_sort_data",
    "--continue_to_tokenize",
    "--tokenize",
    "--tokenizer_type",
    "sort",
    "--test_split_ratio",
    "0.01",
    "--n",
    "10",
    "--m",
    "10",
    "--limit",
    "20000000",
    "--sort_generation_method",
    "bucket_uniform_distribution",
    "--reverse_all",
  ]);
  assert.deepEqual(a.spec, {
    op: "sort",
    n: 10,
    m: 10,
    limit: 20_000_000,
    reverseAll: true,
    method: "bucket",
  });
  assert.equal(a.testRatio, 0.01);
  assert.equal(a.tokenizerType, "sort");
  assert.equal(a.isGrid, false);
});

Deno.test("parseDataArgs() takes '-' and negative numbers as values", () => {
  const a = parseDataArgs(["--op", "-", "--seed", "-3", "--num-samples", "100", "--exact"]);
  assert.deepEqual(a.spec, { op: "-", seed: -3, numSamples: 100, exact: true, method: "sample" });
});

Deno.test("parseDataArgs() recognises grid presets and grid flags", () => {
  const a = parseDataArgs([
    "--preset",
    "addition-grid",
    "--grid-max",
    "23",
    "--force",
    "--out",
    "x",
  ]);
  assert.deepEqual([a.isGrid, a.grid, a.force, a.out], [true, { maxSide: 23 }, true, "x"]);
  assert.equal(parseDataArgs(["--preset", "addition"]).isGrid, false);
  assert.equal(parseDataArgs(["-h"]).help, true);
});

Deno.test("parseDataArgs() rejects bad flags with one line", () => {
  const bad = [
    [["--foo"], /unknown flag --foo/],
    [["--n", "abc"], /--n expects an integer/],
    [["--preset", "nope"], /unknown preset nope/],
    [["--preset", "addition", "--grid-max", "3"], /grid flags need a grid preset/],
    [["--limit", "5", "--num-samples", "5"], /excludes --num-samples/],
    [["--n"], /--n needs a value/],
    [["stray"], /unexpected argument/],
  ] as const;
  for (const [argv, re] of bad) {
    assert.throws(() => parseDataArgs([...argv]), (e: unknown) => {
      assert(e instanceof DataError);
      assert.match(e.message, re);
      assert(!e.message.includes("\n"));
      return true;
    });
  }
});

Deno.test("parseDataArgs() accepts every flag of the usage's flag column, valued ones with a value", () => {
  const column = [...DATA_USAGE.matchAll(/^ {2}(--[a-z0-9-]+)( \S+)?/gm)];
  assert(column.length >= 20);
  for (const [, flag, value] of column) {
    const argv = value
      ? [flag, flag.includes("method") ? "bucket_uniform_distribution" : "1"]
      : [flag];
    assert.doesNotThrow(() => parseDataArgs(argv), flag);
  }
  assert.throws(() => parseDataArgs(["--bucket", "1"]), /unexpected argument "1"/);
  assert.throws(() => parseDataArgs(["--grid-min"]), /--grid-min needs a value/);
});
