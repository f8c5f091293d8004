// The `--help` text of `deno task train` and `deno task eval` (usage, value spelling, groups,
// presets and the main keys) and the key tables of docs/config.md, both generated from the
// schema so they cannot drift from it. `deno task docs` rewrites docs/config.md.

import { CONFIG_SCHEMAS, GROUP_OPTIONS, schemaFor } from "./config_keys.ts";
import type { ConfigKind } from "./config_types.ts";
import { describeKey, type Key, keyInfo } from "./config_schema.ts";
import { formatValue } from "./overrides.ts";

function columns(rows: [string, string][]): string {
  const width = Math.min(Math.max(...rows.map(([a]) => a.length)) + 2, 34);
  return rows.map(([a, b]) =>
    a.length + 2 > width ? `  ${a}\n  ${" ".repeat(width)}${b}` : `  ${a}`.padEnd(width + 2) + b
  ).join("\n");
}

/**
 * The help text listing usage, groups, presets and the main keys of a config kind.
 *
 * Main keys are those with a help line in the schema; every other upstream key is still
 * accepted (PyTorch/CUDA/DDP/compile/wandb keys are ignored with a note, unimplemented
 * options reject values other than their defaults).
 *
 * @example
 * ```ts
 * import { helpText } from "./config_help.ts";
 * import { ok } from "node:assert/strict";
 *
 * const text = helpText("pretrain", [["tiny-addition", "CPU: 3-digit addition"]]);
 * ok(text.includes("CPU: 3-digit addition") && text.includes("arch.hidden_size"));
 * ```
 *
 * @param kind `pretrain` (default) or `eval`.
 * @param presets `[name, summary]` rows for the train help (`presetSummaries()` in config.ts
 *   reads them from the preset files).
 * @returns Plain text, lines under 100 characters.
 */
export function helpText(
  kind: ConfigKind = "pretrain",
  presets: readonly [string, string][] = [],
): string {
  const train = kind === "pretrain";
  const groups = Object.entries(GROUP_OPTIONS[kind]).map(
    ([g, opts]): [string, string] => [`${g}=${opts.join("|")}`, `default ${opts[0]}`],
  );
  const keys: [string, string][] = [];
  for (const [k, spec] of schemaFor(kind)) {
    const { doc, use } = keyInfo(spec);
    if (doc && use === "supported") keys.push([k, doc]);
  }
  const lines = [
    train
      ? "Usage: deno task train [preset=NAME] [GROUP=OPTION ...] [key=value ...]"
      : "Usage: deno task eval name=RUN [--shard k/N|auto] [GROUP=OPTION ...] [key=value ...]",
    "",
    "Arguments use upstream's (Hydra) spelling: None, True/False, 1e-4, 'quoted', [a,b];",
    "+key=value is accepted like key=value. Unknown keys and wrong types are rejected.",
    train
      ? "Merge order: YAML defaults (with group choices) <- preset <- key=value arguments."
      : "Merge order: YAML defaults (with group choices) <- key=value arguments.",
    "",
    "Groups:",
    columns(groups),
  ];
  if (train && presets.length) lines.push("", "Presets (preset=NAME):", columns([...presets]));
  lines.push(
    "",
    "Main keys:",
    columns(keys),
    "",
    "Upstream keys with no meaning here (PyTorch, CUDA, DDP, torch.compile, wandb) are accepted",
    "and ignored with a note; unimplemented options accept only their defaults. Every key, with",
    "its type and reason, is listed in docs/config.md.",
    "Base dir: base_dir=, else $cramming_base_dir, else ./abacus-data.",
  );
  return lines.join("\n");
}

/** A markdown table laid out as `deno fmt` lays it out. */
function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(3, h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(w[i])).join(" | ")} |`;
  return [line(head), line(w.map((n) => "-".repeat(n))), ...rows.map(line)].join("\n");
}

function keyRows(kind: ConfigKind, keep: (key: string) => boolean): string[][] {
  return [...schemaFor(kind)].filter(([k]) => keep(k)).map(([k, spec]) => {
    const { use, note, allowed, doc } = keyInfo(spec);
    const only = allowed?.map((a) => formatValue(a).replace(/"/g, "")).join(", ");
    const value = use === "restricted" ? `only ${only}` : describeKey(spec);
    const meaning = use === "ignored" ? `ignored: ${note}` : use === "restricted" ? note : doc;
    return [`\`${k}\``, value, meaning ?? ""];
  });
}

/** The heading that starts the generated part of docs/config.md. */
const DOC_START = "## Every key";

/** The generated part of docs/config.md: every key with its type, status and reason. */
function configDocTables(): string {
  const head = ["key", "value", "meaning"];
  const shared = (k: string) => /^(data|impl|wandb)\./.test(k);
  return [
    DOC_START,
    "",
    "Generated from the schema (`cli/config_keys.ts`) by `deno task docs`; " +
    "a test keeps it current.",
    "",
    "`only X` keys refuse other values with the reason; `ignored` keys print the reason when set.",
    "",
    "### Train (`deno task train`)",
    "",
    table(head, keyRows("pretrain", () => true)),
    "",
    "### Eval (`deno task eval`), besides the `data`, `impl` and `wandb` groups above",
    "",
    table(head, keyRows("eval", (k) => !shared(k))),
    "",
  ].join("\n");
}

/**
 * docs/config.md with its generated part replaced by the key tables generated from the schema.
 *
 * @example
 * ```ts
 * import { configDoc } from "./config_help.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(configDoc("# Config\n\n## Every key\nold\n"), configDoc("# Config\n"));
 * ```
 *
 * @param current The page as it is (the text before `## Every key` is kept).
 */
export function configDoc(current: string): string {
  const at = current.indexOf(`\n${DOC_START}\n`);
  return (at < 0 ? current : current.slice(0, at)).trimEnd() + "\n\n" + configDocTables();
}

const NAMED = new Map(Object.entries(CONFIG_SCHEMAS).map(([name, s]) => [s, name]));

// deno-lint-ignore no-explicit-any
function tsType(s: any, indent: string, path: string): string {
  if (s.pipe) {
    const { use, allowed } = keyInfo(s);
    if (use === "restricted") return allowed!.map((a) => JSON.stringify(a)).join(" | ");
    return tsType(s.pipe[0], indent, path);
  }
  switch (s.type) {
    case "nullable":
      return `${tsType(s.wrapped, indent, path)} | null`;
    case "union":
      return s.options.map((o: { literal: unknown }) => JSON.stringify(o.literal)).join(" | ");
    case "array":
      return `${tsType(s.item, indent, path)}[]`;
    case "record":
      return "Record<string, unknown>";
    case "object": {
      const lines = Object.entries(s.entries as Record<string, Key>).map(([k, e]) => {
        const type = /^(base|model)_dir$/.test(k) && !path
          ? "string"
          : NAMED.get(e) ?? tsType(e, `${indent}  `, k);
        return `${indent}  readonly ${k}: ${type};`;
      });
      return `{\n${lines.join("\n")}\n${indent}}`;
    }
    default:
      return s.type;
  }
}

/**
 * The text of cli/config_types.ts: the config types written out from the schema (explicit types
 * for JSR; `deno check` fails when they differ from what valibot infers from the schema).
 *
 * @example
 * ```ts
 * import { configTypes } from "./config_help.ts";
 * import { ok } from "node:assert/strict";
 *
 * ok(configTypes().includes('readonly head: "ffn" | "identity" | "linear";'));
 * ```
 */
export function configTypes(): string {
  const out = [
    "// Generated from the schema in cli/config_keys.ts by `deno task docs`: do not edit. The",
    "// types valibot infers from the schema, written out so JSR gets explicit types; each key's",
    "// meaning is in docs/config.md.",
    "",
    "/** `pretrain` (`deno task train`) or `eval` (`deno task eval`). */",
    'export type ConfigKind = "pretrain" | "eval";',
  ];
  for (const [name, schema] of Object.entries(CONFIG_SCHEMAS)) {
    out.push("", `/** The \`${name}\` config, as the schema defines it. */`);
    out.push(`export interface ${name} ${tsType(schema, "", "")}`);
  }
  out.push(
    "",
    "/** The resolved config of a kind. */",
    "export type ConfigOf<K extends ConfigKind> = " +
      'K extends "pretrain" ? PretrainConfig : EvalConfig;',
    "",
    "/** Any resolved config. */",
    "export type Config = PretrainConfig | EvalConfig;",
    "",
  );
  return out.join("\n");
}

if (import.meta.main) {
  const url = new URL("../docs/config.md", import.meta.url);
  await Deno.writeTextFile(url, configDoc(await Deno.readTextFile(url)));
  await Deno.writeTextFile(new URL("./config_types.ts", import.meta.url), configTypes());
}
