// Parses Hydra-style command-line arguments (`key=value`, `+key=value`) with upstream's value
// spelling (`None`, `True`/`False`, `1e-4`, `'quoted'`, `[a,b]`), so commands written for
// upstream's pretrain.py work unchanged. Values are typed here; keys are checked in config.ts.
// Reference: Hydra override grammar, https://hydra.cc/docs/advanced/override_grammar/basic/

/** A config value as YAML and the override grammar produce it. */
export type ConfigValue =
  | null
  | boolean
  | number
  | string
  | ConfigValue[]
  | { [key: string]: ConfigValue };

/**
 * A bad config argument, key or value; tasks print its message (sentence case, no final period)
 * as one line and exit non-zero.
 */
export class ConfigError extends Error {
  /** `ConfigError`, so a caught error can be told apart without importing the class. */
  override name: string = "ConfigError";
}

/** One parsed `key=value` argument. */
export interface Override {
  /** Dotted key without the `+`/`++` prefix, e.g. `arch.hidden_size`. */
  readonly key: string;
  /** The typed value. */
  readonly value: ConfigValue;
  /** The value text as written (used to keep `name=2024` a string for string keys). */
  readonly raw: string;
  /** Whether the value was a quoted string. */
  readonly quoted: boolean;
}

const KEY_RE = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;
const NUMBER_RE = /^[+-]?(?=\.?\d)(\d(_?\d)*)?(\.(\d(_?\d)*)?)?([eE][+-]?\d+)?$/;

/** Interprets an unquoted word: None/null, booleans, numbers, else the string itself. */
function primitive(word: string): ConfigValue {
  const lower = word.toLowerCase();
  if (word === "None" || lower === "null") return null; // lowercase none stays text: loss_reduction=none
  if (lower === "true") return true;
  if (lower === "false") return false;
  if (lower === "inf" || lower === "+inf") return Infinity;
  if (lower === "-inf") return -Infinity;
  if (lower === "nan") return NaN;
  if (NUMBER_RE.test(word)) return Number(word.replace(/_/g, ""));
  return word;
}

/** A small recursive-descent reader over one value's text. */
class Reader {
  #text: string;
  #pos = 0;
  constructor(text: string) {
    this.#text = text;
  }
  fail(why: string): never {
    throw new ConfigError(`Cannot parse value ${JSON.stringify(this.#text)}: ${why}`);
  }
  get done(): boolean {
    this.#skipSpace();
    return this.#pos >= this.#text.length;
  }
  #skipSpace(): void {
    while (this.#pos < this.#text.length && /\s/.test(this.#text[this.#pos])) this.#pos++;
  }
  #peek(): string {
    this.#skipSpace();
    return this.#text[this.#pos] ?? "";
  }
  #expect(ch: string): void {
    if (this.#peek() !== ch) this.fail(`expected "${ch}" at position ${this.#pos}`);
    this.#pos++;
  }
  value(top: boolean): { value: ConfigValue; quoted: boolean } {
    const ch = this.#peek();
    if (ch === "[") return { value: this.#list(), quoted: false };
    if (ch === "{") return { value: this.#dict(), quoted: false };
    if (ch === "'" || ch === '"') return { value: this.#quoted(), quoted: true };
    return { value: primitive(this.#word(top)), quoted: false };
  }
  #quoted(): string {
    const q = this.#text[this.#pos++];
    let out = "";
    while (this.#pos < this.#text.length) {
      const c = this.#text[this.#pos++];
      if (c === q) return out;
      const next = this.#text[this.#pos]; // undefined after the last character
      if (c === "\\" && (next === q || next === "\\")) {
        out += next;
        this.#pos++;
      } else out += c;
    }
    return this.fail("unterminated quoted string");
  }
  #word(top: boolean): string {
    const start = this.#pos;
    let depth = 0;
    while (this.#pos < this.#text.length) {
      const c = this.#text[this.#pos];
      if (c === "$" && this.#text[this.#pos + 1] === "{") {
        depth++;
        this.#pos++; // the "{" is stepped over below
      } else if (depth > 0 && c === "}") depth--;
      else if (depth === 0 && !top && (c === "," || c === "]" || c === "}" || c === ":")) break;
      else if (depth === 0 && top && c === ",") {
        this.fail("sweeps (a,b) are not supported; write a list as [a,b] or quote the value");
      } else if (depth === 0 && (c === "'" || c === '"')) this.fail("unexpected quote");
      this.#pos++;
    }
    if (depth > 0) this.fail("unterminated ${...} interpolation");
    return this.#text.slice(start, this.#pos).trim();
  }
  /** Reads `open item, item, ... close`, calling `item` for each entry. */
  #items(open: string, close: string, item: () => void): void {
    this.#expect(open);
    if (this.#peek() !== close) {
      for (;;) {
        item();
        if (this.#peek() !== ",") break;
        this.#pos++;
      }
    }
    this.#expect(close);
  }
  #list(): ConfigValue[] {
    const out: ConfigValue[] = [];
    this.#items("[", "]", () => out.push(this.value(false).value));
    return out;
  }
  #dict(): { [key: string]: ConfigValue } {
    const out: { [key: string]: ConfigValue } = {};
    this.#items("{", "}", () => {
      const key = this.#peek() === "'" || this.#peek() === '"' ? this.#quoted() : this.#word(false);
      if (key === "") this.fail("empty dictionary key");
      this.#expect(":");
      out[key] = this.value(false).value;
    });
    return out;
  }
}

/**
 * Parses one override value with upstream's (Hydra's) spelling.
 *
 * `None`/`null` give null (lowercase `none` is text, as in `arch.loss_reduction=none`); `True`/`False`/`true`/`false` booleans; `12`, `12_000`, `-1` integers;
 * `1e-4`, `0.5`, `inf`, `nan` numbers; `'text'` and `"text"` strings (kept as strings even when
 * they look like numbers); `[a, b]` lists and `{k: v}` maps; `${a.b}` interpolations stay strings
 * and are resolved later; anything else is an unquoted string. An empty value is `""`.
 *
 * @example
 * ```ts
 * import { parseValue } from "./overrides.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(parseValue("None"), null);
 * deepEqual(parseValue("1e-4"), 0.0001);
 * deepEqual(parseValue("'self-attention'"), "self-attention");
 * deepEqual(parseValue("[0.9,0.98]"), [0.9, 0.98]);
 * ```
 *
 * @param text The text after `=`.
 */
export function parseValue(text: string): ConfigValue {
  return readValue(text).value;
}

function readValue(text: string): { value: ConfigValue; quoted: boolean } {
  const reader = new Reader(text);
  if (reader.done) return { value: "", quoted: false };
  const out = reader.value(true);
  if (!reader.done) reader.fail("unexpected text after the value");
  return out;
}

/**
 * Parses one `key=value`, `+key=value` or `++key=value` argument.
 *
 * The key is split at the first `=`; it must be a dotted name (`arch.attention.type`). Hydra's
 * `~key` deletion and sweeps are rejected with a clear message.
 *
 * @example
 * ```ts
 * import { parseOverride } from "./overrides.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const o = parseOverride("+sort_reverse=True");
 * deepEqual([o.key, o.value], ["sort_reverse", true]);
 * ```
 */
export function parseOverride(arg: string): Override {
  if (arg.startsWith("~")) {
    throw new ConfigError(`Cannot delete config keys ("${arg}"): set the key to None instead`);
  }
  const body = arg.replace(/^\+\+?/, "");
  const eq = body.indexOf("=");
  if (eq < 0) throw new ConfigError(`Expected key=value, got "${arg}"`);
  const key = body.slice(0, eq).trim();
  if (!KEY_RE.test(key)) throw new ConfigError(`Invalid config key "${key}" in "${arg}"`);
  const raw = body.slice(eq + 1);
  const { value, quoted } = readValue(raw);
  return { key, value, raw: raw.trim(), quoted };
}

/**
 * Formats a value the way upstream's configs spell it, for messages: `None`, `True`, `"text"`.
 *
 * @example
 * ```ts
 * import { formatValue } from "./overrides.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(formatValue([null, true, "a", 2]), '[None, True, "a", 2]');
 * ```
 */
export function formatValue(value: ConfigValue): string {
  if (value === null) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(formatValue).join(", ")}]`;
  const parts = Object.entries(value).map(([k, v]) => `${k}: ${formatValue(v)}`);
  return `{${parts.join(", ")}}`;
}
