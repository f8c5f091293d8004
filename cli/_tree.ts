// Small operations on config trees (nested plain objects) shared by config.ts: dotted-path get
// and set, Hydra-style deep merge, `${a.b}` interpolation, deep freeze and canonical JSON.
// Private to cli/: nothing here knows about config keys or their types.

import { ConfigError, type ConfigValue } from "./overrides.ts";

/** A config tree: nested maps of config values. */
export type Tree = { [key: string]: ConfigValue };

/**
 * Whether a value is a plain map (not null, not a list).
 *
 * @example
 * ```ts
 * import { isMap } from "./_tree.ts";
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
 * import { getPath } from "./_tree.ts";
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
 * Writes a dotted path, creating (or replacing non-map) intermediate nodes.
 *
 * @example
 * ```ts
 * import { setPath } from "./_tree.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const t = {};
 * setPath(t, "a.b", 1);
 * deepEqual(t, { a: { b: 1 } });
 * ```
 *
 * @param tree The tree, changed in place.
 */
export function setPath(tree: Tree, path: string, value: ConfigValue): void {
  const parts = path.split(".");
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    if (!isMap(node[part])) node[part] = {};
    node = node[part] as Tree;
  }
  node[parts[parts.length - 1]] = value;
}

/**
 * Merges `over` into `base` in place: maps merge key by key, anything else replaces.
 *
 * @example
 * ```ts
 * import { deepMerge } from "./_tree.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(deepMerge({ a: { b: 1, c: 2 } }, { a: { c: 3 } }), { a: { b: 1, c: 3 } });
 * ```
 *
 * @returns `base`.
 */
export function deepMerge(base: Tree, over: Tree): Tree {
  for (const [k, v] of Object.entries(over)) {
    if (isMap(v) && isMap(base[k])) deepMerge(base[k] as Tree, v);
    else base[k] = structuredClone(v);
  }
  return base;
}

const REF = /\$\{([^}]*)\}/g;

/**
 * Replaces `${a.b}` interpolations in every string of a tree, in place.
 *
 * A string that is exactly one interpolation takes the referenced value with its type
 * (`${arch.hidden_size}` gives a number); otherwise the references are spliced as text.
 * References are absolute dotted paths; Hydra resolvers such as `${now:...}` are rejected.
 *
 * @example
 * ```ts
 * import { resolveInterpolations } from "./_tree.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const t = { a: 4, b: "${a}", c: "x/${a}" };
 * resolveInterpolations(t);
 * deepEqual(t, { a: 4, b: 4, c: "x/4" });
 * ```
 *
 * @param tree The tree, changed in place.
 */
export function resolveInterpolations(tree: Tree): void {
  const resolving = new Set<string>();
  const resolveAt = (path: string): ConfigValue => {
    const v = getPath(tree, path);
    if (typeof v !== "string" || !v.includes("${")) return v as ConfigValue;
    if (resolving.has(path)) {
      throw new ConfigError(`Cannot resolve ${path}: its interpolation refers to itself`);
    }
    resolving.add(path);
    const out = resolveText(v, path);
    resolving.delete(path);
    setPath(tree, path, out);
    return out;
  };
  const resolveText = (text: string, where: string): ConfigValue => {
    const lookup = (ref: string): ConfigValue => {
      if (ref.includes(":") || !/^[\w.-]+$/.test(ref)) {
        throw new ConfigError(
          `Cannot resolve \${${ref}} in ${where}: only \${key.path} is supported`,
        );
      }
      if (getPath(tree, ref) === undefined) {
        throw new ConfigError(`Cannot resolve \${${ref}} in ${where}: no such key`);
      }
      return resolveAt(ref);
    };
    const whole = /^\$\{([^}]*)\}$/.exec(text);
    if (whole) return lookup(whole[1]);
    return text.replace(REF, (_, ref: string) => String(lookup(ref)));
  };
  const walk = (node: Tree, prefix: string): void => {
    for (const [k, v] of Object.entries(node)) {
      const path = prefix ? `${prefix}.${k}` : k;
      if (isMap(v)) walk(v, path);
      else if (typeof v === "string") resolveAt(path);
      else if (Array.isArray(v)) {
        node[k] = v.map((x) =>
          typeof x === "string" && x.includes("${") ? resolveText(x, path) : x
        );
      }
    }
  };
  walk(tree, "");
}

/**
 * Freezes a tree and everything inside it.
 *
 * @example
 * ```ts
 * import { deepFreeze } from "./_tree.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(Object.isFrozen(deepFreeze({ a: { b: [1] } }).a), true);
 * ```
 *
 * @returns The same value, frozen.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * JSON with map keys sorted at every level, so equal trees give equal text.
 *
 * @example
 * ```ts
 * import { canonicalJson } from "./_tree.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] }), '{"a":[2,{"c":4,"d":3}],"b":1}');
 * ```
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_, v) => isMap(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v,
  );
}
