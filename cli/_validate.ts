// Checks a merged config tree against the schema (cli/config_keys.ts): every key present with
// the right type, no unknown keys, restricted keys within their accepted values, and the rules
// that tie keys together (embedding width = hidden size, RoPE/FIRE need self-attention, ...).
// Private to cli/; config.ts calls it for command lines, presets and reloaded config files.

import { checkValue, closestKeys, type Key, keyInfo } from "./config_schema.ts";
import { ConfigError, type ConfigValue } from "./overrides.ts";
import { getPath, isMap, type Tree } from "./_tree.ts";

/**
 * The `map` key that owns a path below it (`impl.add_env_variables.X` -> `impl.add_env_variables`).
 *
 * @example
 * ```ts
 * import { mapOwner } from "./_validate.ts";
 * import { schemaFor } from "./config_keys.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(mapOwner("impl.add_env_variables.X", schemaFor("pretrain")), "impl.add_env_variables");
 * ```
 *
 * @param schema The keys and their schemas (`schemaFor`).
 * @returns The owning key, or null.
 */
export function mapOwner(path: string, schema: ReadonlyMap<string, Key>): string | null {
  const parts = path.split(".");
  for (let i = 1; i < parts.length; i++) {
    const prefix = parts.slice(0, i).join(".");
    const key = schema.get(prefix);
    if (key && keyInfo(key).kind === "record") return prefix;
  }
  return null;
}

/**
 * The one-line error for an unknown key, naming the closest valid keys.
 *
 * @example
 * ```ts
 * import { unknownKeyError } from "./_validate.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(
 *   unknownKeyError("arch.hiden_size", ["arch.hidden_size", "seed"]).message,
 *   'Unknown config key "arch.hiden_size": did you mean arch.hidden_size?',
 * );
 * ```
 *
 * @param origin Where the key came from, e.g. `preset tiny-addition`.
 */
export function unknownKeyError(
  path: string,
  valid: Iterable<string>,
  origin?: string,
): ConfigError {
  const { keys, close } = closestKeys(path, valid);
  const where = origin ? ` (in ${origin})` : "";
  if (close) {
    const near = keys.filter((k, i) => i === 0 || closestKeys(path, [k]).close);
    const list = near.length === 1
      ? near[0]
      : `${near.slice(0, -1).join(", ")} or ${near[near.length - 1]}`;
    return new ConfigError(`Unknown config key "${path}"${where}: did you mean ${list}?`);
  }
  return new ConfigError(
    `Unknown config key "${path}"${where}: the closest valid keys are ${keys.join(", ")}`,
  );
}

/**
 * Checks every key of a tree against the table; throws a `ConfigError` with one line.
 *
 * @example
 * ```ts
 * import { validateTree } from "./_validate.ts";
 * import { int } from "./config_schema.ts";
 * import { throws } from "node:assert/strict";
 *
 * const schema = new Map([["a", int()]]);
 * validateTree({ a: 1 }, schema);
 * throws(() => validateTree({ a: "x" }, schema), /expected an integer/);
 * ```
 *
 * @param schema The keys and their schemas (`schemaFor`).
 * @param originOf Where each explicitly set key came from, for messages.
 */
export function validateTree(
  tree: Tree,
  schema: ReadonlyMap<string, Key>,
  originOf: ReadonlyMap<string, string> = new Map(),
): void {
  const walk = (node: Tree, prefix: string): void => {
    for (const [k, v] of Object.entries(node)) {
      const path = prefix ? `${prefix}.${k}` : k;
      if (schema.has(path)) continue;
      if (isMap(v) && [...schema.keys()].some((s) => s.startsWith(`${path}.`))) walk(v, path);
      else throw unknownKeyError(path, schema.keys(), originOf.get(path));
    }
  };
  walk(tree, "");
  for (const [path, spec] of schema) {
    const value = getPath(tree, path);
    if (value === undefined) throw new ConfigError(`Missing config key ${path}`);
    const problem = checkValue(path, spec, value);
    if (problem) {
      const origin = originOf.get(path);
      throw new ConfigError(origin ? `${problem} (from ${origin})` : problem);
    }
  }
}

function num(tree: Tree, path: string): number {
  return getPath(tree, path) as number;
}

function archChecks(arch: Tree, p: string): string | null {
  const get = (k: string): ConfigValue | undefined => getPath(arch, k);
  const hidden = get("hidden_size") as number;
  const heads = get("attention.num_attention_heads") as number;
  if (get("embedding.embedding_dim") !== hidden) {
    return `${p}embedding.embedding_dim (${
      get("embedding.embedding_dim")
    }) must equal ${p}hidden_size (${hidden})`;
  }
  if (hidden % heads !== 0) {
    return `${p}hidden_size (${hidden}) must be divisible by ${p}attention.num_attention_heads (${heads})`;
  }
  if ((get("intermed_size") as number) % 2 !== 0) {
    return `${p}intermed_size (${
      get("intermed_size")
    }) must be even: the GLU splits it in two halves`;
  }
  const rotary = get("attention.rotary_embedding");
  if (rotary !== false && get("attention.type") !== "self-attention") {
    const what = rotary === "fire" ? "fire" : "True";
    return `${p}attention.rotary_embedding=${what} needs ${p}attention.type=self-attention, as upstream`;
  }
  return null;
}

/**
 * The rules that tie keys together; throws a `ConfigError` naming the keys involved.
 *
 * @example
 * ```ts
 * import { crossCheck } from "./_validate.ts";
 * import { throws } from "node:assert/strict";
 *
 * throws(() => crossCheck({ shard: "5/4" }, "eval"), /shard/);
 * ```
 *
 * @param kind `pretrain`, `eval` or `arch` (a bare arch tree, as in model_config.json).
 */
export function crossCheck(tree: Tree, kind: "pretrain" | "eval" | "arch"): void {
  let problem: string | null = null;
  if (kind === "arch") problem = archChecks(tree, "");
  else if (kind === "pretrain") {
    problem = archChecks(tree.arch as Tree, "arch.");
    if (
      !problem && tree.train && num(tree, "impl.microbatch_size") > num(tree, "train.batch_size")
    ) {
      problem = `impl.microbatch_size (${num(tree, "impl.microbatch_size")}) must not exceed ` +
        `train.batch_size (${num(tree, "train.batch_size")})`;
    }
    if (
      !problem && getPath(tree, "train.budget_tokens") !== null &&
      getPath(tree, "train.budget_steps") !== null
    ) {
      problem = "Set at most one of train.budget_tokens and train.budget_steps";
    }
    const betas = getPath(tree, "train.optim.betas") as number[];
    if (!problem && betas.some((b) => !(b >= 0 && b < 1))) {
      problem = `train.optim.betas must lie in [0, 1), got [${betas.join(", ")}]`;
    }
    if (!problem && num(tree, "train.warmup_steps") + num(tree, "train.cooldown_steps") > 1) {
      problem =
        "train.warmup_steps + train.cooldown_steps must not exceed 1 (fractions of the budget)";
    }
  } else {
    const shard = tree.shard;
    if (typeof shard === "string" && shard !== "auto") {
      const [k, n] = shard.split("/").map(Number);
      if (!(n >= 1 && k >= 1 && k <= n)) {
        problem = `shard must be k/N with 1 <= k <= N or auto, got "${shard}"`;
      }
    }
    const steps = Object.keys(tree).filter((k) =>
      /^big_eval_step_\d+$/.test(k) && tree[k] === true
    );
    if (!problem && steps.length > 1) {
      problem = `Set at most one big_eval_step_k, got ${steps.join(", ")}`;
    }
  }
  if (problem) throw new ConfigError(problem);
}
