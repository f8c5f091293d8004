/**
 * Arithmetic, sorting and bitwise-OR datasets for abacus: upstream-exact tokenizers, seeded
 * generators, a streamed dataset folder format and its batch reader.
 *
 * @example
 * ```ts
 * import { generateDataset, openDataset } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const out = `${await Deno.makeTempDir()}/ds`;
 * const meta = await generateDataset({ preset: "tiny-addition", spec: { limit: 200 }, out });
 * const ds = await openDataset(out);
 * for await (const batch of ds.batches({ batchSize: 64, dropLast: true })) {
 *   assert.deepEqual(batch.tokens.length, 64 * meta.rowLength);
 * }
 * ds.close();
 * await Deno.remove(out, { recursive: true });
 * ```
 *
 * @module
 */

export * from "./tokenizer.ts";
export * from "./spec.ts";
export * from "./names.ts";
export * from "./meta.ts";
export * from "./presets.ts";
export * from "./grid.ts";
export * from "./dataset.ts";
export * from "./generate.ts";
export { createSource, type SampleSource } from "./generators/mod.ts";
