// The `--help` text of `deno task train` and `deno task eval` (usage, value spelling, groups,
// presets and the main keys) and the key tables of docs/config.md, both generated from the
// schema so they cannot drift from it. `deno task docs` rewrites docs/config.md and, from
// `configTypes` of config_keys.ts, cli/config_types.ts.

import { configTypes, GROUP_OPTIONS, schemaFor } from "./config_keys.ts";
import type { ConfigKind } from "./config_types.ts";
import { describeKey, keyInfo } from "./config_schema.ts";
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
 * @param presets `[name, summary]` rows for the train help (`presetSummaries()` in config.ts
 *   reads them from the preset files).
 * @returns Plain text, lines under 100 characters.
 */
export function helpText(kind: ConfigKind, presets: readonly [string, string][] = []): string {
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

if (import.meta.main) {
  const url = new URL("../docs/config.md", import.meta.url);
  await Deno.writeTextFile(url, configDoc(await Deno.readTextFile(url)));
  await Deno.writeTextFile(new URL("./config_types.ts", import.meta.url), configTypes());
}
