// Tests that the three vocabularies carry upstream's exact ids and that encoding round-trips.

import assert from "node:assert/strict";
import {
  CHAR_SET,
  DIGIT_FIRST,
  DIGIT_LAST,
  EOS,
  EQUALS,
  getTokenizer,
  PAD,
} from "../../data/tokenizer.ts";

const [UNK, BOS] = [1, 2]; // upstream's ids

Deno.test("getTokenizer('pad') has upstream's 19 ids", () => {
  const t = getTokenizer("pad");
  assert.deepEqual(t.vocabSize, 19);
  assert.deepEqual([PAD, EOS, DIGIT_FIRST, DIGIT_LAST, EQUALS], [0, 3, 4, 13, 17]);
  assert.deepEqual(t.tokens.slice(0, 4), ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]);
  assert.deepEqual(t.encode("0123456789+-x= "), [
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
    12,
    13,
    14,
    15,
    16,
    17,
    0,
  ]);
  assert.deepEqual(t.encode("a?"), [UNK, UNK]);
});

Deno.test("getTokenizer('sort') has upstream's 118 ids", () => {
  const t = getTokenizer("sort");
  assert.deepEqual(t.vocabSize, 118);
  assert.deepEqual(t.encode("0D,:= A"), [4, 14, 15, 16, 17, 0, 19]);
  assert.deepEqual(t.idOf("C"), 21);
  assert.deepEqual(t.idOf("E"), 22); // D is skipped in the label range
  assert.deepEqual(t.idOf("ω"), 117);
  assert.deepEqual(new Set(CHAR_SET.map((c) => t.idOf(c))).size, 102);
});

Deno.test("getTokenizer('index') puts the 102 hint symbols at 19..120", () => {
  const t = getTokenizer("index");
  assert.deepEqual(t.vocabSize, 121);
  assert.deepEqual(CHAR_SET.map((c) => t.idOf(c)), Array.from({ length: 102 }, (_, k) => 19 + k));
  assert.deepEqual(t.encode("x="), [16, 17]);
});

Deno.test("Tokenizer.decode() round-trips and strips PAD, BOS and EOS", () => {
  for (const type of ["pad", "sort", "index"] as const) {
    const t = getTokenizer(type);
    const text = type === "sort" ? "A:12,£:3=£,A" : type === "index" ? "A1B2+A3=A4B2" : "21+43=64";
    assert.deepEqual(t.decode(t.encode(text)), text);
    assert.deepEqual(t.decode([BOS, ...t.encode(text), EOS, PAD, PAD]), text);
  }
  assert.deepEqual(getTokenizer("pad").decode([4, UNK, 200]), "0[UNK][UNK]");
});
