// Character-level vocabularies with upstream's exact token ids (cramming/data/arithmetic_tokenizers.py),
// so datasets, checkpoints and the Abacus digit mask (ids 4..13) agree with the original code.
// Like upstream, every vocabulary emits a space as PAD (0), never as its own id 18, and decoding
// drops PAD, BOS and EOS.

/**
 * Padding token id, also what a space encodes to: rows are right-padded with it and loss masks
 * ignore it (upstream asserts it is 0).
 *
 * @example
 * ```ts
 * import { PAD, getTokenizer } from "./tokenizer.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(getTokenizer("pad").encode(" ")[0], PAD);
 * ```
 */
export const PAD = 0;

/** Unknown-character token id: every vocabulary encodes characters outside it as UNK. */
const UNK = 1;

/** Beginning-of-sequence token id (never emitted; kept for upstream's ids, dropped by decoding). */
const BOS = 2;

/**
 * End-of-sequence token id: it ends every stored sample, and the model learns to emit it after the
 * answer.
 *
 * @example
 * ```ts
 * import { EOS, getTokenizer } from "./tokenizer.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(getTokenizer("pad").decode([4, EOS]), "0");
 * ```
 */
export const EOS = 3;

/**
 * Token id of the digit `0` in every vocabulary: digits are `DIGIT_FIRST..DIGIT_LAST`, the range
 * Abacus embeddings key on.
 *
 * @example
 * ```ts
 * import { DIGIT_FIRST, getTokenizer } from "./tokenizer.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(getTokenizer("sort").encode("0")[0], DIGIT_FIRST);
 * ```
 */
export const DIGIT_FIRST = 4;

/**
 * Token id of the digit `9` in every vocabulary (see `DIGIT_FIRST`).
 *
 * @example
 * ```ts
 * import { DIGIT_LAST, getTokenizer } from "./tokenizer.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(getTokenizer("index").encode("9")[0], DIGIT_LAST);
 * ```
 */
export const DIGIT_LAST = 13;

/**
 * Token id of `=` in every vocabulary; loss masking (`mask_before_equals`) keeps only the tokens
 * after it.
 *
 * @example
 * ```ts
 * import { EQUALS, getTokenizer } from "./tokenizer.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(getTokenizer("pad").encode("=")[0], EQUALS);
 * ```
 */
export const EQUALS = 17;

/**
 * Token id of a space in every vocabulary, for decoding: encoding emits PAD instead, and the
 * generators write it only for the writer to store it as PAD, as upstream does.
 *
 * @example
 * ```ts
 * import { SPACE, getTokenizer } from "./tokenizer.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(getTokenizer("pad").decode([SPACE]), " ");
 * ```
 */
export const SPACE = 18;

/** The three vocabularies: `pad` (arithmetic, OR), `sort` (sorting), `index` (index hints). */
export type TokenizerType = "pad" | "sort" | "index";

/**
 * Upstream's 102-symbol cyclic list used for sorting labels and index hints (no `x`, no digits).
 *
 * @example
 * ```ts
 * import { CHAR_SET } from "./tokenizer.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(CHAR_SET.length, 102);
 * assert.deepEqual(CHAR_SET[0], "A");
 * ```
 */
export const CHAR_SET: readonly string[] = Object.freeze([
  ..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwyz",
  ..."!@£#$%^&*()~?.,<>{}[]:;/|",
  ..."βΓΔδεζηθκΛλμΞξΠπΣςτΦφχΨψΩω",
]);

const SPECIALS = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"];

/** A character-level tokenizer over one of the three vocabularies. */
export interface Tokenizer {
  /** Which vocabulary this is. */
  readonly type: TokenizerType;
  /** Number of token ids (19, 118 or 121). */
  readonly vocabSize: number;
  /** Token string for each id: specials as `[PAD]` etc., otherwise one character. */
  readonly tokens: readonly string[];
  /** Id of one character (space gives PAD, unknown gives UNK). */
  idOf(char: string): number;
  /** Encodes a string to token ids, one per character (code point). */
  encode(text: string): number[];
  /** Decodes ids to text, dropping PAD, BOS and EOS; UNK and unknown ids give `[UNK]`. */
  decode(ids: ArrayLike<number>): string;
}

/** The tokenizer whose ids `DIGIT_FIRST`, `DIGIT_FIRST + 1`, ... are `chars`, after the specials. */
function charTokenizer(type: TokenizerType, chars: string[]): Tokenizer {
  const tokens = Object.freeze([...SPECIALS, ...chars]);
  const ids = new Map(chars.map((c, i) => [c, i + DIGIT_FIRST]));
  const idOf = (char: string): number => char === " " ? PAD : ids.get(char) ?? UNK;
  return {
    type,
    vocabSize: tokens.length,
    tokens,
    idOf,
    encode: (text) => Array.from(text, idOf),
    decode(ids) {
      let s = "";
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i];
        if (id === PAD || id === BOS || id === EOS) continue;
        s += id > UNK && id < tokens.length ? tokens[id] : "[UNK]";
      }
      return s;
    },
  };
}

const BASE = [..."0123456789+-x= "];
const SORT_BASE = [..."0123456789D,:= "];

const TOKENIZERS: Record<TokenizerType, Tokenizer> = {
  pad: charTokenizer("pad", BASE),
  index: charTokenizer("index", [...BASE, ...CHAR_SET]),
  sort: charTokenizer("sort", [...SORT_BASE, ...CHAR_SET.filter((c) => !"D,:".includes(c))]),
};

/**
 * Returns the tokenizer of one vocabulary, with upstream's exact ids.
 *
 * - `pad` (19 ids): PAD 0, UNK 1, BOS 2, EOS 3, `0`..`9` 4..13, `+` 14, `-` 15, `x` 16, `=` 17,
 *   space 18.
 * - `index` (121 ids): the `pad` ids, then the 102 hint symbols of {@link CHAR_SET} at 19..120.
 * - `sort` (118 ids): `0`..`9` 4..13, `D` 14, `,` 15, `:` 16, `=` 17, space 18, then the 99
 *   labels of {@link CHAR_SET} other than `D`, `,` and `:` at 19..117 (those three labels reuse
 *   ids 14..16, as upstream).
 *
 * @example
 * ```ts
 * import { getTokenizer } from "./tokenizer.ts";
 * import assert from "node:assert/strict";
 *
 * const tok = getTokenizer("pad");
 * assert.deepEqual(tok.encode("12+3=51"), [5, 6, 14, 7, 17, 9, 5]);
 * assert.deepEqual(tok.decode([5, 6, 14, 7, 17, 9, 5, 3, 0, 0]), "12+3=51");
 * assert.deepEqual(getTokenizer("sort").vocabSize, 118);
 * ```
 *
 * @returns A shared, immutable tokenizer.
 */
export function getTokenizer(type: TokenizerType): Tokenizer {
  if (!Object.hasOwn(TOKENIZERS, type)) {
    throw new Error(`Cannot create tokenizer: unknown type ${JSON.stringify(type)}`);
  }
  return TOKENIZERS[type];
}
