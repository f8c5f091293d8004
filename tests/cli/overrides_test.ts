// Value and argument parsing of Hydra-style overrides, with upstream's spellings taken from
// its shell scripts (None, True, quoted strings, 1e-4, 0.00006, lists).

import { deepStrictEqual as equal, throws } from "node:assert/strict";
import { formatValue, parseOverride, parseValue } from "../../cli/overrides.ts";

Deno.test("parseValue() reads None and null as null", () => {
  for (const t of ["None", "null", "NULL", " None "]) equal(parseValue(t), null);
  equal(parseValue("none"), "none"); // arch.loss_reduction=none in upstream's shells
});

Deno.test("parseValue() reads booleans in upstream's and YAML's spelling", () => {
  equal(["True", "False", "true", "false", "TRUE"].map(parseValue), [
    true,
    false,
    true,
    false,
    true,
  ]);
});

Deno.test("parseValue() reads integers, underscores and signs", () => {
  equal(["512", "-1", "+3", "12_000_000", "0"].map(parseValue), [512, -1, 3, 12000000, 0]);
});

Deno.test("parseValue() reads floats as the shells write them", () => {
  equal(["1e-4", "0.0001", "0.00006", "1e-12", "20e6", ".5", "1.", "-2.5E3"].map(parseValue), [
    1e-4,
    1e-4,
    6e-5,
    1e-12,
    2e7,
    0.5,
    1,
    -2500,
  ]);
  equal([parseValue("inf"), parseValue("-inf")], [Infinity, -Infinity]);
  equal(Number.isNaN(parseValue("nan")), true);
});

Deno.test("parseValue() keeps quoted text a string, even when it looks like a number", () => {
  equal(parseValue("'last'"), "last");
  equal(parseValue('"self-attention"'), "self-attention");
  equal(parseValue("'1e-4'"), "1e-4");
  equal(parseValue('"None"'), "None");
  equal(parseValue("'it\\'s'"), "it's");
  equal(parseValue('"a\\\\b"'), "a\\b");
  equal(parseValue("''"), "");
});

Deno.test("parseValue() reads unquoted words and paths as strings", () => {
  equal(parseValue("self-attention"), "self-attention");
  equal(
    parseValue(
      "arithmetic_data/+_bucket_method_n_20_m_20_20000000_p_00_reverse_all/hf_tokenized_dataset",
    ),
    "arithmetic_data/+_bucket_method_n_20_m_20_20000000_p_00_reverse_all/hf_tokenized_dataset",
  );
  equal(parseValue("1.2.3"), "1.2.3");
  equal(parseValue(""), "");
});

Deno.test("parseValue() reads lists and maps, nested, with typed elements", () => {
  equal(parseValue("[0.9,0.98]"), [0.9, 0.98]);
  equal(parseValue("[ bias , 'norm', None, [1, 2] ]"), ["bias", "norm", null, [1, 2]]);
  equal(parseValue("[]"), []);
  equal(parseValue("{a: 1, 'b c': [True]}"), { a: 1, "b c": [true] });
});

Deno.test("parseValue() keeps ${...} interpolations as text", () => {
  equal(parseValue("${arch.hidden_size}"), "${arch.hidden_size}");
  equal(parseValue("${base_dir}/x"), "${base_dir}/x");
  equal(parseValue("[${a.b}, 2]"), ["${a.b}", 2]);
});

Deno.test("parseValue() rejects sweeps, unterminated quotes and trailing text in one line", () => {
  for (
    const [text, re] of [
      ["a,b", /sweeps \(a,b\) are not supported/],
      ["'open", /unterminated quoted string/],
      ["'a' b", /unexpected text after the value/],
      ["[1, 2", /expected "]"/],
      ["${a.b", /unterminated/],
      ["ab'c", /unexpected quote/],
    ] as const
  ) {
    throws(
      () => parseValue(text),
      (e: Error) => e.name === "ConfigError" && re.test(e.message) && !e.message.includes("\n"),
    );
  }
});

Deno.test("parseOverride() splits at the first = and takes Hydra's + and ++ like key=value", () => {
  const o = parseOverride("data.sources.arithmetic.tokenized_dataset_path=a=b/c");
  equal([o.key, o.value], ["data.sources.arithmetic.tokenized_dataset_path", "a=b/c"]);
  equal(parseOverride("+sort_reverse=True"), parseOverride("sort_reverse=True"));
  equal(parseOverride("++x.y=1").key, "x.y");
  equal(parseOverride("name=2024").raw, "2024");
  equal(parseOverride("name='2024'").quoted, true);
  equal(parseOverride("checkpoint=").value, "");
});

Deno.test("parseOverride() rejects deletion, missing = and bad keys", () => {
  throws(() => parseOverride("~arch.norm"), /Cannot delete config keys/);
  throws(() => parseOverride("arch.hidden_size"), /Expected key=value, got "arch.hidden_size"/);
  throws(() => parseOverride("arch..x=1"), /Invalid config key "arch..x"/);
  throws(() => parseOverride("=1"), /Invalid config key ""/);
});

Deno.test("formatValue() spells values as upstream's configs do", () => {
  equal(formatValue(null), "None");
  equal(formatValue(false), "False");
  equal(formatValue(1e-4), "0.0001");
  equal(formatValue({ a: ["x"] }), '{a: ["x"]}');
});
