// Config trees (nested plain objects) and their checks against the schema (cli/config_keys.ts):
// every key present with the right type, no unknown keys, restricted keys within their accepted
// values, and the rules that tie keys together (embedding width = hidden size, RoPE/FIRE need
// self-attention, ...). Private to cli/; used for command lines, presets and reloaded files.

import { schemaFor } from "./config_keys.ts";
import { checkValue, closestKeys, type Key } from "./config_schema.ts";
import type { ConfigKind } from "./config_types.ts";
import { ConfigError, type ConfigValue } from "./overrides.ts";

/** A config tree: nested maps of config values. */
export type Tree = { [key: string]: ConfigValue };

/**
 * Whether a value is a plain map (not null, not a list).
 *
 * @example
 * ```ts
 * import { isMap } from "./_validate.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual([isMap({}), isMap([]), isMap(null)], [true, false, false]);
 * ```
 */
export function isMap(v: unknown): v is Tree {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Reads a dotted path; undefined when any step is missing.
 *
 * @example
 * ```ts
 * import { getPath } from "./_validate.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(getPath({ a: { b: 2 } }, "a.b"), 2);
 * ```
 *
 * @returns The value, or undefined.
 */
export function getPath(tree: Tree, path: string): ConfigValue | undefined {
  let node: ConfigValue | undefined = tree;
  for (const part of path.split(".")) {
    if (!isMap(node) || !Object.hasOwn(node, part)) return undefined;
    node = node[part];
  }
  return node;
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

/** Checks every key of a tree against the schema. */
function validateTree(
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

function fail(message: string): never {
  throw new ConfigError(message);
}

function archChecks(arch: Tree, p: string): void {
  const get = (k: string): ConfigValue | undefined => getPath(arch, k);
  const [hidden, heads, dim, intermed] = [
    "hidden_size",
    "attention.num_attention_heads",
    "embedding.embedding_dim",
    "intermed_size",
  ].map(get) as number[];
  if (dim !== hidden) {
    fail(`${p}embedding.embedding_dim (${dim}) must equal ${p}hidden_size (${hidden})`);
  }
  if (hidden % heads !== 0) {
    fail(
      `${p}hidden_size (${hidden}) must be divisible by ${p}attention.num_attention_heads (${heads})`,
    );
  }
  if (intermed % 2 !== 0) {
    fail(`${p}intermed_size (${intermed}) must be even: the GLU splits it in two halves`);
  }
  const rotary = get("attention.rotary_embedding");
  if (rotary !== false && get("attention.type") !== "self-attention") {
    const what = rotary === "fire" ? "fire" : "True";
    fail(
      `${p}attention.rotary_embedding=${what} needs ${p}attention.type=self-attention, as upstream`,
    );
  }
}

/** The rules that tie keys together, naming the keys involved. */
function crossCheck(tree: Tree, kind: ConfigKind | "arch"): void {
  if (kind === "arch") return archChecks(tree, "");
  if (kind === "eval") {
    const shard = tree.shard;
    if (typeof shard === "string" && shard !== "auto") {
      const [k, n] = shard.split("/").map(Number);
      if (!(n >= 1 && k >= 1 && k <= n)) {
        fail(`shard must be k/N with 1 <= k <= N or auto, got "${shard}"`);
      }
    }
    const steps = Object.keys(tree).filter((k) => /^big_eval_step_\d+$/.test(k) && tree[k]);
    if (steps.length > 1) fail(`Set at most one big_eval_step_k, got ${steps.join(", ")}`);
    return;
  }
  archChecks(tree.arch as Tree, "arch.");
  const num = (path: string): number => getPath(tree, path) as number;
  if (num("impl.microbatch_size") > num("train.batch_size")) {
    fail(
      `impl.microbatch_size (${num("impl.microbatch_size")}) must not exceed ` +
        `train.batch_size (${num("train.batch_size")})`,
    );
  }
  if (
    getPath(tree, "train.budget_tokens") !== null && getPath(tree, "train.budget_steps") !== null
  ) {
    fail("Set at most one of train.budget_tokens and train.budget_steps");
  }
  const betas = getPath(tree, "train.optim.betas") as number[];
  if (betas.some((b) => !(b >= 0 && b < 1))) {
    fail(`train.optim.betas must lie in [0, 1), got [${betas.join(", ")}]`);
  }
  if (num("train.warmup_steps") + num("train.cooldown_steps") > 1) {
    fail("train.warmup_steps + train.cooldown_steps must not exceed 1 (fractions of the budget)");
  }
}

/** Freezes a tree and everything inside it. */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * Checks a merged tree against the schema of `kind` and the rules that tie keys together, then
 * freezes it; throws a `ConfigError` with one line.
 *
 * @example
 * ```ts
 * import { checkConfig } from "./_validate.ts";
 * import { throws } from "node:assert/strict";
 *
 * throws(() => checkConfig({ hidden_size: 64 }, "arch", new Map(), "x.json"), /\(in x\.json\)$/);
 * ```
 *
 * @param kind `pretrain`, `eval` or `arch` (a bare arch tree, as in model_config.json).
 * @param originOf Where each explicitly set key came from, for messages.
 * @param where The file the tree came from, appended to messages.
 * @returns The same tree, frozen.
 */
export function checkConfig<T>(
  tree: Tree,
  kind: ConfigKind | "arch",
  originOf: ReadonlyMap<string, string> = new Map(),
  where?: string,
): T {
  try {
    validateTree(tree, schemaFor(kind), originOf);
    crossCheck(tree, kind);
  } catch (e) {
    if (where && e instanceof ConfigError) throw new ConfigError(`${e.message} (in ${where})`);
    throw e;
  }
  return deepFreeze(tree) as unknown as T;
}
