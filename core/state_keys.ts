/**
 * Checkpoint tensor names: upstream's state-dict keys as abacus spells them. Free of runtime
 * APIs, so the browser playground (`deno task serve`) loads checkpoints with it too.
 * @module
 */

/**
 * Spells a tensor name as abacus writes it: upstream's state-dict key with `_orig_mod.`.
 *
 * Upstream compiles its recurrent block(s), so its keys read
 * `encoder.recurrent_block._orig_mod.layers.0...` and `encoder.recurrent_blocks.3._orig_mod...`.
 * Keys without that segment (an uncompiled model) get it; a whole-model `_orig_mod.` or DDP
 * `module.` prefix is dropped. Apply it to every key read from a file before matching names.
 *
 * @example
 * ```ts
 * import { normalizeKey } from "./state_keys.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual(normalizeKey("encoder.recurrent_block.layers.0.ffn.dense_in.weight"),
 *   "encoder.recurrent_block._orig_mod.layers.0.ffn.dense_in.weight");
 * deepEqual(normalizeKey("decoder.weight"), "decoder.weight");
 * ```
 *
 * @param key A state-dict key, with or without `_orig_mod.`.
 * @returns The key as abacus writes it.
 */
export function normalizeKey(key: string): string {
  return key
    .replace(/^(?:module\.|_orig_mod\.)+/, "")
    .replace(/^encoder\.recurrent_block\.(?!_orig_mod\.)/, "encoder.recurrent_block._orig_mod.")
    .replace(
      /^encoder\.recurrent_blocks\.(\d+)\.(?!_orig_mod\.)/,
      "encoder.recurrent_blocks.$1._orig_mod.",
    );
}
