// The vocabulary for describing config keys: each key has a type, whether None is allowed, and
// whether abacus supports it, ignores it (no meaning here, with a note) or restricts it to some
// values (others rejected with a reason). Also the value checker and the "did you mean" search
// used by every error message about keys.

import { type ConfigValue, formatValue } from "./overrides.ts";

/** The type of one config key. */
export type KeyType =
  | { readonly kind: "int"; readonly min?: number }
  | { readonly kind: "float"; readonly min?: number; readonly max?: number }
  | { readonly kind: "bool" }
  | { readonly kind: "string"; readonly pattern?: RegExp; readonly hint?: string }
  | { readonly kind: "enum"; readonly values: readonly (string | boolean)[] }
  | { readonly kind: "list"; readonly of: "string" | "float"; readonly length?: number }
  | { readonly kind: "map" };

/** How abacus treats a key. */
export type KeyUse = "supported" | "ignored" | "restricted";

/** One config key: its type, None-ability, support status and help. */
export interface KeySpec {
  /** The value's type. */
  readonly type: KeyType;
  /** Whether `None` (null) is allowed. */
  readonly nullable: boolean;
  /** `supported`, `ignored` (accepted; a note is printed when set), or `restricted`. */
  readonly use: KeyUse;
  /** Ignored: why it has no meaning here. Restricted: why other values are rejected. */
  readonly note?: string;
  /** Restricted: the values abacus accepts. */
  readonly allowed?: readonly ConfigValue[];
  /** One line for `--help` (only the main keys have one). */
  readonly doc?: string;
}

/** Keys of one group, relative to the group (`embedding.max_abacus_len`). */
export type KeyTable = Readonly<Record<string, KeySpec>>;

/** Describes a type for messages: "an integer", "one of pad, sort". */
function describeType(spec: KeySpec): string {
  const t = spec.type;
  let text: string;
  switch (t.kind) {
    case "int":
      text = t.min === undefined ? "an integer" : `an integer of at least ${t.min}`;
      break;
    case "float":
      text = t.min === undefined
        ? "a number"
        : t.max === undefined
        ? `a number of at least ${t.min}`
        : `a number from ${t.min} to ${t.max}`;
      break;
    case "bool":
      text = "True or False";
      break;
    case "string":
      text = t.hint ? `a string like ${t.hint}` : "a string";
      break;
    case "enum":
      text = `one of ${t.values.map((v) => formatValue(v).replace(/"/g, "")).join(", ")}`;
      break;
    case "list":
      text = `a list of ${t.of === "float" ? "numbers" : "strings"}` +
        (t.length ? ` with ${t.length} entries` : "");
      break;
    case "map":
      text = "a map";
  }
  return spec.nullable ? `None or ${text}` : text;
}

function typeOk(t: KeyType, v: ConfigValue): boolean {
  switch (t.kind) {
    case "int":
      return typeof v === "number" && Number.isInteger(v) && (t.min === undefined || v >= t.min);
    case "float":
      return typeof v === "number" && !Number.isNaN(v) && (t.min === undefined || v >= t.min) &&
        (t.max === undefined || v <= t.max);
    case "bool":
      return typeof v === "boolean";
    case "string":
      return typeof v === "string" && (!t.pattern || t.pattern.test(v));
    case "enum":
      return t.values.includes(v as string | boolean);
    case "list":
      return Array.isArray(v) && (t.length === undefined || v.length === t.length) &&
        v.every((x) => typeof x === (t.of === "float" ? "number" : "string"));
    case "map":
      return v !== null && typeof v === "object" && !Array.isArray(v);
  }
}

/**
 * Checks one value against its key's spec.
 *
 * @example
 * ```ts
 * import { checkValue, type KeySpec } from "./config_schema.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const spec: KeySpec = { type: { kind: "int", min: 1 }, nullable: false, use: "supported" };
 * deepEqual(checkValue("arch.hidden_size", spec, 64), null);
 * deepEqual(
 *   checkValue("arch.hidden_size", spec, "big"),
 *   'Invalid value for arch.hidden_size: expected an integer of at least 1, got "big"',
 * );
 * ```
 *
 * @param path The full dotted key, for the message.
 * @param spec The key's spec.
 * @param value The value to check.
 * @returns Null when valid, else a one-line message.
 */
export function checkValue(path: string, spec: KeySpec, value: ConfigValue): string | null {
  if (value === null ? !spec.nullable : !typeOk(spec.type, value)) {
    return `Invalid value for ${path}: expected ${describeType(spec)}, got ${formatValue(value)}`;
  }
  if (spec.use === "restricted" && !spec.allowed!.some((a) => sameValue(a, value))) {
    const ok = spec.allowed!.map((a) => formatValue(a).replace(/"/g, "")).join(", ");
    return `Unsupported value for ${path}: ${formatValue(value)}: ${spec.note} (accepted: ${ok})`;
  }
  return null;
}

/** Structural equality of two config values. */
function sameValue(a: ConfigValue | undefined, b: ConfigValue | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
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
 * The valid keys closest to a mistyped one, best first.
 *
 * Compares whole dotted paths and last segments (so `hiden_size` finds `arch.hidden_size`).
 * `close` says whether the best match is near enough to ask "did you mean".
 *
 * @example
 * ```ts
 * import { closestKeys } from "./config_schema.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const found = closestKeys("arch.hiden_size", ["arch.hidden_size", "arch.norm", "seed"]);
 * deepEqual(found, { keys: ["arch.hidden_size", "arch.norm", "seed"], close: true });
 * ```
 *
 * @param wrong The unknown key.
 * @param valid Every valid key.
 * @param limit How many to return.
 * @returns The nearest keys and whether the best is close.
 */
export function closestKeys(
  wrong: string,
  valid: Iterable<string>,
  limit = 3,
): { keys: string[]; close: boolean } {
  const tail = (s: string): string => s.slice(s.lastIndexOf(".") + 1);
  const scored = [...valid].map((k) => {
    let score = Math.min(editDistance(wrong, k), editDistance(tail(wrong), tail(k)) + 1);
    if (k.endsWith(`.${wrong}`)) score = 0.5;
    return { k, score };
  });
  scored.sort((x, y) => x.score - y.score || x.k.localeCompare(y.k));
  const best = scored.slice(0, limit);
  const close = best.length > 0 && best[0].score <= Math.max(2, Math.floor(tail(wrong).length / 3));
  return { keys: best.map((x) => x.k), close };
}
