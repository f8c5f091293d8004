// Loads the config of `deno task train` / `deno task eval`: YAML defaults shipped next to this
// file (fetched by URL, so it works from file:, https: and jsr: alike), then a preset, then
// Hydra-style key=value arguments; validates every key and returns a frozen, typed tree. Also
// the files around a resolved config: the YAML written to the run folder (read back with the
// same validation), `model_config.json` (the resolved arch, upstream's file name) and a stable
// hash of a config for `state.json`. Every tree is checked against the schema the same way:
// every key present with the right type, no unknown keys, restricted keys within their accepted
// values, and the rules that tie keys together (embedding width = hidden size, RoPE/FIRE need
// self-attention, ...).
// Reference: upstream cramming/config (Hydra); the schema and reasons in config_keys.ts.

import { parse, stringify } from "npm:yaml@^2.6.0";
import { is } from "npm:valibot@1.5.0";
import { resolve } from "node:path";
import { GROUP_OPTIONS, PRESET_NAMES, schemaFor } from "./config_keys.ts";
import { describeKey, type Key, keyInfo } from "./config_schema.ts";
import type { ArchConfig, Config, ConfigKind, ConfigOf, PretrainConfig } from "./config_types.ts";
import {
  ConfigError,
  type ConfigValue,
  formatValue,
  type Override,
  parseOverride,
} from "./overrides.ts";

// The published `@arith/abacus/config` entry point also offers the config layer's other parts.
export { ConfigError, formatValue, parseOverride, parseValue } from "./overrides.ts";
export type { ConfigValue, Override } from "./overrides.ts";
export type * from "./config_types.ts";
export { GROUP_OPTIONS, PRESET_NAMES, schemaFor } from "./config_keys.ts";
export { keyInfo } from "./config_schema.ts";
export type { Key, KeyInfo, KeyUse } from "./config_schema.ts";
export { helpText } from "./config_help.ts";

/** A config tree: nested maps of config values. */
type Tree = { [key: string]: ConfigValue };

/** Throws the one-line `ConfigError` that tasks print before exiting non-zero. */
function fail(message: string): never {
  throw new ConfigError(message);
}

/** Whether a value is a plain map (not null, not a list). */
function isMap(v: unknown): v is Tree {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Reads a dotted path; undefined when any step is missing. */
function getPath(tree: Tree, path: string): ConfigValue | undefined {
  let node: ConfigValue | undefined = tree;
  for (const part of path.split(".")) {
    if (!isMap(node) || !Object.hasOwn(node, part)) return undefined;
    node = node[part];
  }
  return node;
}

/** Arguments given as `--key value` or `--key=value` (translated to `key=value`). */
const FLAG_KEYS: Record<ConfigKind, string[]> = { pretrain: [], eval: ["shard", "checkpoint"] };

/** Where loadConfig looks for the environment, the working folder and where notes go. */
export interface LoadOptions {
  /** Reads an environment variable (default: `Deno.env.get`, undefined without permission). */
  readonly env?: (name: string) => string | undefined;
  /** Folder that relative `base_dir` / `model_dir` are resolved against (default: `Deno.cwd()`). */
  readonly cwd?: string;
  /** Receives each note about an ignored key that was set (default: `console.error`). */
  readonly log?: (line: string) => void;
}

async function readText(rel: string, what: string): Promise<string> {
  const url = new URL(`./config/${rel}`, import.meta.url);
  try {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`status ${res.status}`);
    return await res.text();
  } catch (e) {
    fail(`Cannot read ${what} at ${url.href}: ${(e as Error).message}`);
  }
}

async function readYaml(rel: string, what: string): Promise<Tree> {
  return parseTree(await readText(rel, what), what);
}

/**
 * Each preset's one-line summary: the first line of `cli/config/presets/<name>.yaml`, a `# `
 * comment (read like the defaults, by URL), in `PRESET_NAMES` order. `deno task train --help`
 * prints these, so the help says what the files are.
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { presetSummaries } from "./config.ts";
 * const rows = await presetSummaries();
 * ok(rows.some(([name, line]) => name === "demo" && line.includes("width 64")));
 * ```
 * @throws ConfigError when a preset file is missing or does not start with a `# ` line
 */
export async function presetSummaries(): Promise<[string, string][]> {
  return await Promise.all(PRESET_NAMES.map(async (name): Promise<[string, string]> => {
    const text = await readText(`presets/${name}.yaml`, `preset ${name}`);
    const m = /^# (\S.*)$/m.exec(text.split("\n", 1)[0]);
    if (!m) fail(`Preset ${name} must start with a one-line "# summary" comment`);
    return [name, m[1].trim()];
  }));
}

function defaultEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * The folder the user started the task in: `deno task` runs tasks in the folder holding
 * deno.json and records the caller's folder in `INIT_CWD`; a plain `deno run` has it as cwd.
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { userCwd } from "./config.ts";
 * ok(userCwd().length > 0);
 * ```
 * @returns an absolute folder path
 */
export function userCwd(): string {
  return defaultEnv("INIT_CWD") || Deno.cwd();
}

/**
 * The base folder: `base_dir=` if given, else `$cramming_base_dir`, else `./abacus-data`, absolute.
 *
 * An empty `base_dir=` (what `base_dir=$cramming_base_dir` gives when the variable is unset)
 * counts as not given. Relative paths are resolved against `options.cwd`.
 *
 * @example
 * ```ts
 * import { resolveBaseDir } from "@arith/abacus/config";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(resolveBaseDir(null, { env: () => "/data/x", cwd: "/" }), "/data/x");
 * deepEqual(resolveBaseDir(null, { env: () => undefined, cwd: "/w" }), "/w/abacus-data");
 * ```
 *
 * @param value The `base_dir` key (null when unset).
 */
export function resolveBaseDir(value: string | null, options: LoadOptions = {}): string {
  const env = (options.env ?? defaultEnv)("cramming_base_dir");
  const chosen = value || env || "./abacus-data"; // base_dir= (an unset $var) counts as unset
  return resolve(options.cwd ?? Deno.cwd(), chosen);
}

interface Parsed {
  preset: string | null;
  groups: Record<string, string>;
  overrides: Override[];
}

function parseArgs(args: readonly string[], kind: ConfigKind): Parsed {
  const out: Parsed = { preset: null, groups: {}, overrides: [] };
  const groups = GROUP_OPTIONS[kind];
  for (let i = 0; i < args.length; i++) {
    let arg = args[i];
    if (arg.startsWith("-")) {
      const m = /^--([a-z_]+)(?:=(.*))?$/s.exec(arg);
      if (!m || !FLAG_KEYS[kind].includes(m[1])) {
        fail(`Unknown option "${arg}": config arguments are key=value (see --help)`);
      }
      const value = m[2] ?? args[++i];
      if (value === undefined) fail(`Option --${m[1]} needs a value`);
      arg = `${m[1]}=${value}`;
    }
    const o = parseOverride(arg);
    if (o.key === "preset") {
      if (kind !== "pretrain") fail("Presets apply to deno task train only");
      if (out.preset !== null) fail("Give at most one preset=NAME");
      const name = String(o.value);
      if (!PRESET_NAMES.includes(name)) {
        const best = closestKeys(name, PRESET_NAMES)[0].key;
        fail(`Unknown preset "${name}": did you mean ${best}? (see --help)`);
      }
      out.preset = name;
    } else if (Object.hasOwn(groups, o.key) && !isMap(o.value)) {
      const option = o.quoted ? String(o.value) : o.raw; // wandb=none is a name, not None
      if (!groups[o.key].includes(option)) {
        fail(`Unknown ${o.key} "${option}": choose ${groups[o.key].join(" or ")}`);
      }
      out.groups[o.key] = option;
    } else out.overrides.push(o);
  }
  return out;
}

/** Writes a dotted path, creating (or replacing non-map) intermediate nodes. */
function setPath(tree: Tree, path: string, value: ConfigValue): void {
  const parts = path.split(".");
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    if (!isMap(node[part])) node[part] = {};
    node = node[part] as Tree;
  }
  node[parts[parts.length - 1]] = value;
}

/** Merges `over` into `base` in place (maps key by key, anything else replaces); returns `base`. */
function deepMerge(base: Tree, over: Tree): Tree {
  for (const [k, v] of Object.entries(over)) {
    if (isMap(v) && isMap(base[k])) deepMerge(base[k] as Tree, v);
    else base[k] = structuredClone(v);
  }
  return base;
}

const REF = /\$\{([^}]*)\}/g;

/**
 * Replaces `${a.b}` interpolations in every string of a tree, in place. A string that is exactly
 * one interpolation takes the referenced value with its type (`${arch.hidden_size}` gives a
 * number); otherwise the references are spliced as text. References are absolute dotted paths;
 * Hydra resolvers such as `${now:...}` are rejected.
 */
function resolveInterpolations(tree: Tree): void {
  const resolving = new Set<string>();
  const resolveText = (text: string, where: string): ConfigValue => {
    const lookup = (ref: string): ConfigValue => {
      if (ref.includes(":") || !/^[\w.-]+$/.test(ref)) {
        fail(`Cannot resolve \${${ref}} in ${where}: only \${key.path} is supported`);
      }
      const v = getPath(tree, ref);
      if (v === undefined) fail(`Cannot resolve \${${ref}} in ${where}: no such key`);
      if (typeof v !== "string" || !v.includes("${")) return v;
      if (resolving.has(ref)) fail(`Cannot resolve ${ref}: its interpolation refers to itself`);
      resolving.add(ref);
      const out = resolveText(v, ref);
      resolving.delete(ref);
      setPath(tree, ref, out);
      return out;
    };
    const whole = /^\$\{([^}]*)\}$/.exec(text);
    return whole ? lookup(whole[1]) : text.replace(REF, (_, ref: string) => String(lookup(ref)));
  };
  const resolveAll = (v: ConfigValue, path: string): ConfigValue =>
    typeof v === "string" && v.includes("${") ? resolveText(v, path) : v;
  const walk = (node: Tree, prefix: string): void => {
    for (const [k, v] of Object.entries(node)) {
      const path = prefix ? `${prefix}.${k}` : k;
      if (isMap(v)) walk(v, path);
      else node[k] = Array.isArray(v) ? v.map((x) => resolveAll(x, path)) : resolveAll(v, path);
    }
  };
  walk(tree, "");
}

/** The `map` key that owns a path below it (`impl.add_env_variables.X` -> `impl.add_env_variables`). */
function mapOwner(path: string, schema: ReadonlyMap<string, Key>): string | null {
  const parts = path.split(".");
  for (let i = 1; i < parts.length; i++) {
    const prefix = parts.slice(0, i).join(".");
    const key = schema.get(prefix);
    if (key && keyInfo(key).kind === "record") return prefix;
  }
  return null;
}

/** Keeps `name=2024` or `name=True` a string when the key is a string key, as OmegaConf does. */
function coerce(o: Override, spec: Key | undefined): ConfigValue {
  if (!spec || o.quoted) return o.value;
  const t = keyInfo(spec).kind;
  if (typeof o.value === "number" && (t === "string" || t === "union")) return o.raw;
  if (typeof o.value === "boolean" && t === "string") return o.raw;
  return o.value;
}

/** Optimal-string-alignment edit distance (insertions, deletions, substitutions, swaps). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/**
 * The three valid keys nearest a mistyped one, best first, each with whether it is near enough
 * to ask "did you mean". Compares whole dotted paths and last segments (so `hiden_size` finds
 * `arch.hidden_size`).
 */
function closestKeys(wrong: string, valid: Iterable<string>): { key: string; close: boolean }[] {
  const tail = (s: string): string => s.slice(s.lastIndexOf(".") + 1);
  const near = Math.max(2, Math.floor(tail(wrong).length / 3));
  const scored = [...valid].map((key) => ({
    key,
    score: key.endsWith(`.${wrong}`)
      ? 0.5
      : Math.min(editDistance(wrong, key), editDistance(tail(wrong), tail(key)) + 1),
  }));
  scored.sort((x, y) => x.score - y.score || x.key.localeCompare(y.key));
  return scored.slice(0, 3).map(({ key, score }) => ({ key, close: score <= near }));
}

/** The one-line error for an unknown key, naming the closest valid keys. */
function unknownKeyError(path: string, valid: Iterable<string>, origin?: string): ConfigError {
  const found = closestKeys(path, valid);
  const where = origin ? ` (in ${origin})` : "";
  const near = found.filter((f) => f.close).map((f) => f.key);
  if (near.length > 0) {
    const list = near.join(", ").replace(/, ([^,]*)$/, " or $1"); // "a, b or c"
    return new ConfigError(`Unknown config key "${path}"${where}: did you mean ${list}?`);
  }
  const keys = found.map((f) => f.key).join(", ");
  return new ConfigError(
    `Unknown config key "${path}"${where}: the closest valid keys are ${keys}`,
  );
}

/** Checks every key of a tree against the schema. */
function validateTree(
  tree: Tree,
  schema: ReadonlyMap<string, Key>,
  originOf: ReadonlyMap<string, string> = new Map(),
): void {
  const walk = (node: Tree, prefix: string): void => {
    for (const [k, value] of Object.entries(node)) {
      const path = prefix ? `${prefix}.${k}` : k;
      if (schema.has(path)) continue;
      if (isMap(value) && [...schema.keys()].some((s) => s.startsWith(`${path}.`))) {
        walk(value, path);
      } else throw unknownKeyError(path, schema.keys(), originOf.get(path));
    }
  };
  walk(tree, "");
  for (const [path, spec] of schema) {
    const value = getPath(tree, path);
    if (value === undefined) fail(`Missing config key ${path}`);
    const from = originOf.get(path) ? ` (from ${originOf.get(path)})` : "";
    const got = formatValue(value);
    if (!is(spec, value)) {
      fail(`Invalid value for ${path}: expected ${describeKey(spec)}, got ${got}${from}`);
    }
    const { use, allowed = [], note } = keyInfo(spec);
    if (use === "restricted" && !allowed.some((a) => JSON.stringify(a) === JSON.stringify(value))) {
      const ok = allowed.map((a) => formatValue(a).replace(/"/g, "")).join(", ");
      fail(`Unsupported value for ${path}: ${got}: ${note} (accepted: ${ok})${from}`);
    }
  }
}

/** The rules that tie arch keys together; `p` prefixes the key names (`arch.` in a full config). */
function archChecks(arch: ArchConfig, p: string): void {
  const { hidden_size: hidden, intermed_size: intermed, attention } = arch;
  const dim = arch.embedding.embedding_dim, heads = attention.num_attention_heads;
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
  const rotary = attention.rotary_embedding;
  if (rotary !== false && attention.type !== "self-attention") {
    const what = rotary === "fire" ? "fire" : "True";
    fail(
      `${p}attention.rotary_embedding=${what} needs ${p}attention.type=self-attention, as upstream`,
    );
  }
}

/** The rules that tie keys together, naming the keys involved (on a tree of valid keys). */
function crossCheck(tree: Tree, kind: ConfigKind | "arch"): void {
  if (kind === "arch") return archChecks(tree as unknown as ArchConfig, "");
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
  const { arch, impl, train } = tree as unknown as PretrainConfig;
  archChecks(arch, "arch.");
  if (impl.microbatch_size > train.batch_size) {
    fail(
      `impl.microbatch_size (${impl.microbatch_size}) must not exceed ` +
        `train.batch_size (${train.batch_size})`,
    );
  }
  if (train.budget_tokens !== null && train.budget_steps !== null) {
    fail("Set at most one of train.budget_tokens and train.budget_steps");
  }
  if (train.optim.betas.some((b) => !(b >= 0 && b < 1))) {
    fail(`train.optim.betas must lie in [0, 1), got [${train.optim.betas.join(", ")}]`);
  }
  if (train.warmup_steps + train.cooldown_steps > 1) {
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
 * Checks a merged tree against the schema of `kind` (`arch`: a bare arch tree, as in
 * model_config.json) and the rules that tie keys together, then freezes it; throws a
 * `ConfigError` with one line, naming where a key came from (`originOf`) or the file (`where`).
 */
function checkConfig<T>(
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

/**
 * Loads the config of `deno task train` (`pretrain`) or `deno task eval` (`eval`).
 *
 * Merge order: YAML defaults (with `arch=`/`data=`/... group choices) <- `preset=NAME` <-
 * `key=value` arguments. Unknown keys, wrong types and unsupported values throw a
 * `ConfigError` with one line; ignored upstream keys that were set print a note.
 *
 * @example
 * ```ts
 * import { loadConfig } from "@arith/abacus/config";
 * import { deepEqual } from "node:assert/strict";
 *
 * const cfg = await loadConfig(["preset=tiny-addition", "train.steps=40"], "pretrain");
 * deepEqual([cfg.arch.hidden_size, cfg.train.steps], [64, 40]);
 * ```
 */
export async function loadConfig<K extends ConfigKind>(
  args: readonly string[],
  kind: K,
  options: LoadOptions = {},
): Promise<ConfigOf<K>> {
  const schema = schemaFor(kind);
  const valid = [...schema.keys(), ...Object.keys(GROUP_OPTIONS[kind])];
  const parsed = parseArgs(args, kind);
  const root = await readYaml(`cfg_${kind}.yaml`, `the ${kind} defaults`);
  const tree: Tree = { ...root };
  for (const [group, opts] of Object.entries(GROUP_OPTIONS[kind])) {
    const option = parsed.groups[group] ?? opts[0];
    const base = await readYaml(`${group}/${option}.yaml`, `${group}=${option}`);
    tree[group] = deepMerge(base, isMap(root[group]) ? root[group] : {});
  }
  const originOf = new Map<string, string>();
  /** Applies one setting (from a preset or an override) to the tree. */
  const apply = (path: string, value: ConfigValue, origin: string): void => {
    const owner = schema.has(path) ? path : mapOwner(path, schema);
    if (owner) {
      setPath(tree, path, value);
      originOf.set(owner, origin);
      return;
    }
    const children = [...schema.keys()].filter((k) => k.startsWith(`${path}.`));
    if (children.length === 0) throw unknownKeyError(path, valid, origin);
    if (!isMap(value)) fail(`${path} is a group of keys: set one of them, e.g. ${children[0]}=...`);
    for (const [k, v] of Object.entries(value)) apply(`${path}.${k}`, v, origin);
  };
  if (parsed.preset !== null) {
    const preset = await readYaml(`presets/${parsed.preset}.yaml`, `preset ${parsed.preset}`);
    for (const [k, v] of Object.entries(preset)) apply(k, v, `preset ${parsed.preset}`);
    tree.preset = parsed.preset;
  }
  for (const o of parsed.overrides) apply(o.key, coerce(o, schema.get(o.key)), "");
  const given = (key: string) => parsed.overrides.some((o) => o.key === key);
  const path = "data.sources.arithmetic.tokenized_dataset_path";
  if (given(path) && !given("data.dataset") && isMap(tree.data)) tree.data.dataset = null;
  const base = tree.base_dir ?? null; // any other value is reported by checkConfig
  if (base === null || typeof base === "string") tree.base_dir = resolveBaseDir(base, options);
  if (tree.model_dir === null) tree.model_dir = tree.base_dir;
  resolveInterpolations(tree);
  if (typeof tree.model_dir === "string") {
    tree.model_dir = resolve(options.cwd ?? Deno.cwd(), tree.model_dir);
  }
  const config = checkConfig<ConfigOf<K>>(tree, kind, originOf);
  const log = options.log ?? console.error;
  for (const [k, origin] of originOf) {
    const { use, note } = keyInfo(schema.get(k)!);
    const from = origin ? ` (from ${origin})` : "";
    if (use === "ignored") log(`Note: ${k}${from} is accepted and ignored: ${note}`);
  }
  return config;
}

/**
 * Renders a resolved config as YAML for the run folder (`config.yaml`).
 *
 * Interpolations are already resolved, so the file states every value the run used;
 * {@link parseConfigYaml} reads it back to an equal config.
 *
 * @example
 * ```ts
 * import { configToYaml, loadConfig } from "./config.ts";
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
    fail(`Cannot parse ${what}: ${first}`);
  }
  if (!isMap(value)) fail(`Cannot parse ${what}: expected a YAML map`);
  return value;
}

/**
 * Reads a resolved config written by {@link configToYaml}, validating every key.
 *
 * @example
 * ```ts
 * import { configToYaml, loadConfig, parseConfigYaml } from "./config.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const cfg = await loadConfig(["preset=tiny-addition"], "pretrain");
 * deepEqual(parseConfigYaml(configToYaml(cfg), "pretrain"), cfg);
 * ```
 *
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
 * Every arch key must be present and valid, as in upstream's files, which hold the resolved arch.
 *
 * @example
 * ```ts
 * import { loadConfig, parseArchConfig } from "./config.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const cfg = await loadConfig(["preset=tiny-addition"], "pretrain");
 * deepEqual(parseArchConfig(JSON.stringify(cfg.arch)).hidden_size, 64);
 * ```
 *
 * @param what Name of the source for messages.
 */
export function parseArchConfig(json: string, what = "model_config.json"): ArchConfig {
  let tree: unknown;
  try {
    tree = JSON.parse(json);
  } catch (e) {
    fail(`Cannot parse ${what}: ${(e as Error).message}`);
  }
  if (!isMap(tree)) fail(`Cannot parse ${what}: expected a JSON object`);
  return checkConfig(tree, "arch", new Map(), what);
}

/**
 * A stable SHA-256 (hex) of a config, for `state.json`: equal configs give equal hashes
 * whatever their key order.
 *
 * @example
 * ```ts
 * import { configHash, loadConfig } from "./config.ts";
 * import { deepEqual, notDeepEqual } from "node:assert/strict";
 *
 * const a = await loadConfig(["preset=tiny-addition"], "pretrain");
 * const b = await loadConfig(["preset=tiny-addition", "train.budget_steps=9"], "pretrain");
 * notDeepEqual(await configHash(a), await configHash(b));
 * deepEqual(await configHash(a, ["train.budget_steps"]), await configHash(b, ["train.budget_steps"]));
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
