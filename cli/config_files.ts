// Writing and reading resolved configs: the YAML written to the run folder (and read back with
// the same validation as a command line), `model_config.json` (the resolved arch, upstream's
// file name) and a stable hash of a config for `state.json`.

import { parse, stringify } from "npm:yaml@^2.6.0";
import type { ArchConfig, Config, ConfigKind, ConfigOf } from "./config_types.ts";
import { ConfigError } from "./overrides.ts";
import { checkConfig, getPath, isMap, type Tree } from "./_validate.ts";

/**
 * Renders a resolved config as YAML for the run folder (`config.yaml`).
 *
 * Interpolations are already resolved, so the file states every value the run used;
 * {@link parseConfigYaml} reads it back to an equal config.
 *
 * @example
 * ```ts
 * import { loadConfig } from "@arith/abacus/config";
 * import { configToYaml } from "./config_files.ts";
 * import { ok } from "node:assert/strict";
 *
 * const cfg = await loadConfig(["name=t"], "pretrain");
 * ok(configToYaml(cfg).includes("name: t"));
 * ```
 */
export function configToYaml(cfg: Config): string {
  return "# Resolved config written by abacus (defaults <- preset <- command line)\n" +
    stringify(cfg, { lineWidth: 0 });
}

function parseTree(text: string, what: string): Tree {
  let value: unknown;
  try {
    value = parse(text);
  } catch (e) {
    const first = (e as Error).message.split("\n")[0];
    throw new ConfigError(`Cannot parse ${what}: ${first}`);
  }
  if (!isMap(value)) throw new ConfigError(`Cannot parse ${what}: expected a YAML map`);
  return value;
}

/**
 * Reads a resolved config written by {@link configToYaml}, validating every key.
 *
 * @example
 * ```ts
 * import { loadConfig } from "@arith/abacus/config";
 * import { configToYaml, parseConfigYaml } from "./config_files.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const cfg = await loadConfig(["preset=tiny-addition"], "pretrain");
 * deepEqual(parseConfigYaml(configToYaml(cfg), "pretrain"), cfg);
 * ```
 *
 * @param kind `pretrain` or `eval`.
 * @param what Name of the source for messages (e.g. the file path).
 */
export function parseConfigYaml<K extends ConfigKind>(
  text: string,
  kind: K,
  what = "the config file",
): ConfigOf<K> {
  return checkConfig(parseTree(text, what), kind, new Map(), what);
}

/**
 * Validates a model config (the `arch` group, as stored in a checkpoint's `model_config.json`).
 *
 * Accepts the JSON text or its parsed value; every arch key must be present and valid, as in
 * upstream's files, which hold the resolved arch.
 *
 * @example
 * ```ts
 * import { loadConfig } from "@arith/abacus/config";
 * import { parseArchConfig } from "./config_files.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const cfg = await loadConfig(["preset=tiny-addition"], "pretrain");
 * deepEqual(parseArchConfig(JSON.stringify(cfg.arch)).hidden_size, 64);
 * ```
 *
 * @param value JSON text or a parsed object.
 * @param what Name of the source for messages.
 */
export function parseArchConfig(value: unknown, what = "model_config.json"): ArchConfig {
  let tree = value;
  if (typeof value === "string") {
    try {
      tree = JSON.parse(value);
    } catch (e) {
      throw new ConfigError(`Cannot parse ${what}: ${(e as Error).message}`);
    }
  }
  if (!isMap(tree)) throw new ConfigError(`Cannot parse ${what}: expected a JSON object`);
  return checkConfig(structuredClone(tree), "arch", new Map(), what);
}

/**
 * Keys that may change between a run and its resume (budgets, caps, saving and logging
 * cadence, folders, backend); leave them out of the `state.json` hash with {@link configHash}.
 *
 * @example
 * ```ts
 * import { RESUME_KEYS } from "./config_files.ts";
 * import { ok } from "node:assert/strict";
 *
 * ok(RESUME_KEYS.includes("budget") && !RESUME_KEYS.includes("arch.hidden_size"));
 * ```
 */
export const RESUME_KEYS: readonly string[] = Object.freeze([
  "base_dir",
  "model_dir",
  "budget",
  "overall_budget",
  "dryrun",
  "train.budget",
  "train.overall_budget",
  "train.steps",
  "train.budget_tokens",
  "train.budget_steps",
  "impl.backend",
  "impl.print_loss_every_nth_step",
  "impl.save_intermediate_checkpoints",
  "impl.save_every_nth_step",
  "impl.save_every_n_minutes",
  "impl.save_intermediate_model_name",
  "impl.save_final_model",
]);

/**
 * A stable SHA-256 (hex) of a config, for `state.json`: equal configs give equal hashes
 * whatever their key order.
 *
 * @example
 * ```ts
 * import { loadConfig } from "@arith/abacus/config";
 * import { configHash, RESUME_KEYS } from "./config_files.ts";
 * import { deepEqual, notDeepEqual } from "node:assert/strict";
 *
 * const a = await loadConfig(["preset=tiny-addition"], "pretrain");
 * const b = await loadConfig(["preset=tiny-addition", "budget=9"], "pretrain");
 * notDeepEqual(await configHash(a), await configHash(b));
 * deepEqual(await configHash(a, RESUME_KEYS), await configHash(b, RESUME_KEYS));
 * ```
 *
 * @param cfg A config (or any JSON-like value).
 * @param exclude Dotted keys left out of the hash (e.g. budgets that may grow on resume).
 * @returns 64 hex digits.
 */
export async function configHash(cfg: unknown, exclude: readonly string[] = []): Promise<string> {
  const copy = structuredClone(cfg) as Tree;
  for (const path of exclude) {
    const dot = path.lastIndexOf(".");
    const parent = dot < 0 ? copy : getPath(copy, path.slice(0, dot));
    if (isMap(parent)) delete parent[path.slice(dot + 1)];
  }
  // JSON with map keys sorted at every level, so equal trees give equal text.
  const json = JSON.stringify(
    copy,
    (_, v) => isMap(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v,
  );
  const bytes = new TextEncoder().encode(json);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
