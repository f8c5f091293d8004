// Shared helpers of the data tests: run a source to text lines, and parse samples back into
// numbers with an independent oracle (BigInt) rather than the generator's digit arithmetic.

import { createSource } from "../../data/generators.ts";
import { type DataSpec, resolveSpec, tokenizerFor } from "../../data/spec.ts";
import { getTokenizer, SPACE } from "../../data/tokenizer.ts";

/** Generates every sample of a spec as text (spaces kept). */
export function sampleLines(partial: Partial<DataSpec>): string[] {
  const spec = resolveSpec(partial);
  const src = createSource(spec);
  const tok = getTokenizer(tokenizerFor(spec));
  const row = new Uint8Array(src.maxTokens);
  const lines: string[] = [];
  for (let k = 0; k < src.total; k++) {
    const len = src.next(row, 0);
    lines.push([...row.subarray(0, len)].map((t) => (t === SPACE ? " " : tok.tokens[t])).join(""));
  }
  return lines;
}

/** Reverses a string by code points. */
export function rev(s: string): string {
  return [...s].reverse().join("");
}

/** Splits `a{op}b=c` into its three parts. */
export function splitArith(line: string, op: string): [string, string, string] {
  const m = new RegExp(`^(\\d+)\\${op}(\\d+)=(-?\\d+-?)$`).exec(line);
  if (!m) throw new Error(`not an arithmetic sample: ${line}`);
  return [m[1], m[2], m[3]];
}

/** The answer of a op b computed with BigInt, as a decimal string. */
export function oracle(op: string, a: string, b: string): string {
  const x = BigInt(a), y = BigInt(b);
  return String(op === "+" ? x + y : op === "-" ? x - y : x * y);
}

/** A temporary folder removed by the returned function. */
export async function tempDir(): Promise<[string, () => Promise<void>]> {
  const dir = await Deno.makeTempDir({ prefix: "abacus-data-test-" });
  return [dir, () => Deno.remove(dir, { recursive: true })];
}
