// Small constructors for the key tables of config_keys.ts and config_keys_eval.ts: value types
// (int, float, bool, string, enum, lists, maps) and key specs (supported, nullable, ignored with a
// note, restricted to some values).

import type { KeySpec, KeyType } from "./config_schema.ts";
import type { ConfigValue } from "./overrides.ts";

/** An integer, optionally with a minimum. */
export const int = (min?: number): KeyType => ({ kind: "int", min });
/** A number, optionally with a minimum (and a maximum). */
export const float = (min?: number, max?: number): KeyType => ({ kind: "float", min, max });
/** True/False. */
export const bool: KeyType = { kind: "bool" };
/** A string, optionally matching a pattern (the hint shows an example). */
export const str = (pattern?: RegExp, hint?: string): KeyType => ({
  kind: "string",
  pattern,
  hint,
});
/** One of the listed values. */
export const oneOf = (...values: (string | boolean)[]): KeyType => ({ kind: "enum", values });
/** A pair of numbers. */
export const floats2: KeyType = { kind: "list", of: "float", length: 2 };
/** A list of strings. */
export const strings: KeyType = { kind: "list", of: "string" };
/** A nested map. */
export const map: KeyType = { kind: "map" };
/** A supported key that must have a value. */
export const key = (type: KeyType, doc?: string): KeySpec => ({
  type,
  nullable: false,
  use: "supported",
  doc,
});
/** A supported key that may be None. */
export const orNone = (type: KeyType, doc?: string): KeySpec => ({
  type,
  nullable: true,
  use: "supported",
  doc,
});
/** A key accepted without effect: setting it prints the note. */
export const ignored = (type: KeyType, note: string): KeySpec => ({
  type,
  nullable: true,
  use: "ignored",
  note,
});
/** A key that accepts only some values; others are refused with the note. */
export const only = (type: KeyType, allowed: ConfigValue[], note: string): KeySpec => ({
  type,
  nullable: allowed.includes(null),
  use: "restricted",
  allowed,
  note,
});

/** A run name: one folder name. */
export const NAME: KeyType = str(/^(?!\.\.?$)[^/\\]+$/, "add_run_1 (a folder name)");
