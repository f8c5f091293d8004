// The vocabulary of the config schema: valibot schemas for one key each (type, None-ability, help
// line, and whether abacus supports it, ignores it with a note or restricts it to some values),
// read back by introspection for messages, `--help` and docs/config.md.

import * as v from "npm:valibot@1.5.0";
import { type ConfigValue, formatValue } from "./overrides.ts";

/** One config key: a valibot schema of its value, with its status as metadata. */
export type Key<T = unknown> = v.GenericSchema<unknown, T>;

/** How abacus treats a key. */
export type KeyUse = "supported" | "ignored" | "restricted";

/** What a key's metadata says: status, note, accepted values, help line. */
export interface KeyInfo {
  /** `supported`, `ignored` (accepted; a note is printed when set), or `restricted`. */
  readonly use: KeyUse;
  /** Ignored: why it has no meaning here. Restricted: why other values are rejected. */
  readonly note?: string;
  /** Restricted: the values abacus accepts. */
  readonly allowed?: readonly ConfigValue[];
  /** One line for `--help` (only the main keys have one). */
  readonly doc?: string;
  /** The valibot type of the value, None stripped: `number`, `string`, `union`, `record`... */
  readonly kind: string;
}

// deno-lint-ignore no-explicit-any
type Node = any; // a valibot schema or action, read by introspection

/** A schema's base and pipe actions, nested pipes flattened. */
function parts(s: Node): Node[] {
  return s.pipe ? [...parts(s.pipe[0]), ...s.pipe.slice(1)] : [s];
}

function meta(s: Node): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of parts(s)) {
    if (a.type === "metadata") Object.assign(out, a.metadata);
    if (a.type === "description") out.doc = a.description;
    if (a.type === "nullable") Object.assign(out, meta(a.wrapped));
  }
  return out;
}

/**
 * A key's value type in words, as messages, `--help` and docs/config.md give it.
 *
 * @example
 * ```ts
 * import { describeKey, int, orNone } from "./config_schema.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(describeKey(orNone(int(1))), "None or an integer of at least 1");
 * ```
 *
 * @returns Words such as "True or False".
 */
export function describeKey(s: Key): string {
  const [base, ...acts]: Node[] = parts(s);
  const req = (t: string) => acts.find((a) => a.type === t)?.requirement;
  const [min, max, len] = [req("min_value"), req("max_value"), req("length")];
  switch (base.type) {
    case "nullable":
      return `None or ${describeKey(base.wrapped)}`;
    case "number": {
      const what = acts.some((a) => a.type === "integer") ? "an integer" : "a number";
      if (min === undefined) return what;
      return max === undefined ? `${what} of at least ${min}` : `${what} from ${min} to ${max}`;
    }
    case "boolean":
      return "True or False";
    case "string":
      return meta(s).hint ? `a string like ${meta(s).hint}` : "a string";
    case "union":
      return `one of ${
        base.options.map((o: Node) => formatValue(o.literal).replace(/"/g, "")).join(", ")
      }`;
    case "array":
      return `a list of ${base.item.type === "number" ? "numbers" : "strings"}` +
        (len ? ` with ${len} entries` : "");
    default:
      return "a map";
  }
}

/**
 * A key's status, notes and help line, read from its schema.
 *
 * @example
 * ```ts
 * import { ignored, keyInfo, str } from "./config_schema.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(keyInfo(ignored(str(), "why")).use, "ignored");
 * ```
 */
export function keyInfo(key: Key): KeyInfo {
  let base = parts(key)[0];
  while (base.type === "nullable") base = parts(base.wrapped)[0];
  return { use: "supported", ...meta(key), kind: base.type } as KeyInfo;
}

/** An integer, optionally with a minimum. */
export function int(min?: number): Key<number> {
  const i = v.pipe(v.number(), v.integer());
  return min === undefined ? i : v.pipe(i, v.minValue(min));
}
/** A number (valibot refuses NaN), optionally with a minimum (and a maximum). */
export function float(min?: number, max?: number): Key<number> {
  if (min === undefined) return v.number();
  const atLeast = v.pipe(v.number(), v.minValue(min));
  return max === undefined ? atLeast : v.pipe(atLeast, v.maxValue(max));
}
/** True/False. */
export const bool: Key<boolean> = v.boolean();
/** A string, optionally matching a pattern (the hint shows an example). */
export function str(pattern?: RegExp, hint?: string): Key<string> {
  return pattern ? v.pipe(v.string(), v.regex(pattern), v.metadata({ hint })) : v.string();
}
/** One of the listed values. */
export function oneOf<const T extends (string | boolean)[]>(...values: T): Key<T[number]> {
  return v.union(values.map((x) => v.literal(x))) as unknown as Key<T[number]>;
}
/** A pair of numbers. */
export const floats2: Key<number[]> = v.pipe(v.array(v.number()), v.length(2));
/** A list of strings. */
export const strings: Key<string[]> = v.array(v.string());
/** A nested map. */
export const map: Key<Record<string, unknown>> = v.record(v.string(), v.unknown());
/** A supported key that must have a value (with a help line). */
export function key<T>(type: Key<T>, doc?: string): Key<T> {
  return doc ? v.pipe(type, v.description(doc)) : type;
}
/** A supported key that may be None. */
export function orNone<T>(type: Key<T>, doc?: string): Key<T | null> {
  return key(v.nullable(type), doc);
}
/** A key accepted without effect (None allowed): setting it prints the note. */
export function ignored<T>(type: Key<T>, note: string): Key<T | null> {
  return v.pipe(v.nullable(type), v.metadata({ use: "ignored", note }));
}
/** A key that accepts only some values; others are refused with the note. */
export function only<T, const A extends T>(type: Key<T>, allowed: A[], note: string): Key<A> {
  return v.pipe(type as Key<A>, v.metadata({ use: "restricted", allowed, note }));
}
/** A run name: one folder name. */
export const NAME: Key<string> = str(/^(?!\.\.?$)[^/\\]+$/, "add_run_1 (a folder name)");
