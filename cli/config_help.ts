// The `--help` text of `deno task train` and `deno task eval`: usage, value spelling, groups,
// presets and the main keys, generated from the key table so it cannot drift from it.

import { GROUP_OPTIONS, PRESETS, schemaFor } from "./config_keys.ts";
import type { ConfigKind } from "./config_types.ts";

function columns(rows: [string, string][]): string {
  const width = Math.min(Math.max(...rows.map(([a]) => a.length)) + 2, 34);
  return rows.map(([a, b]) =>
    a.length + 2 > width ? `  ${a}\n  ${" ".repeat(width)}${b}` : `  ${a.padEnd(width)}${b}`
  ).join("\n");
}

/**
 * The help text listing usage, groups, presets and the main keys of a config kind.
 *
 * Main keys are those with a help line in the key table; every other upstream key is still
 * accepted (PyTorch/CUDA/DDP/compile/wandb keys are ignored with a note, unimplemented
 * options reject values other than their defaults).
 *
 * @example
 * ```ts
 * import { helpText } from "./config_help.ts";
 * import { ok } from "node:assert/strict";
 *
 * const text = helpText("pretrain");
 * ok(text.includes("tiny-addition") && text.includes("arch.hidden_size"));
 * ```
 *
 * @param kind `pretrain` (default) or `eval`.
 * @returns Plain text, lines under 100 characters.
 */
export function helpText(kind: ConfigKind = "pretrain"): string {
  const train = kind === "pretrain";
  const groups = Object.entries(GROUP_OPTIONS[kind]).map(
    ([g, opts]): [string, string] => [`${g}=${opts.join("|")}`, `default ${opts[0]}`],
  );
  const keys: [string, string][] = [];
  for (const [k, spec] of schemaFor(kind)) if (spec.doc) keys.push([k, spec.doc]);
  const lines = [
    train
      ? "Usage: deno task train [preset=NAME] [GROUP=OPTION ...] [key=value ...]"
      : "Usage: deno task eval name=RUN [--shard k/N] [GROUP=OPTION ...] [key=value ...]",
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
  if (train) {
    lines.push("", "Presets (preset=NAME):", columns(Object.entries(PRESETS)));
  }
  lines.push(
    "",
    "Main keys:",
    columns(keys),
    "",
    "Upstream keys with no meaning here (PyTorch, CUDA, DDP, torch.compile, wandb) are accepted",
    "and ignored with a note; unimplemented options accept only their defaults. The full list",
    "with reasons is cli/config_keys.ts.",
    "Base dir: base_dir=, else $cramming_base_dir, else ./abacus-data.",
  );
  return lines.join("\n");
}
