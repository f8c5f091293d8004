/**
 * What the playground needs to rebuild a run's newest checkpoint in the browser, worked out on
 * the server with the same code the eval task uses: the resolved architecture (from
 * `model_config.json` and the vocabulary size in the safetensors header), the weights' URL, and
 * how the training data wrote numbers (reversed operands and answer).
 * @module
 */
import { join } from "node:path";
import { listCheckpoints } from "../../core/checkpoint_read.ts";
import { resolveArch } from "../../core/nn/arch.ts";
import { normalizeKey } from "../../core/state_keys.ts";
import { parseArchConfig } from "../../cli/config.ts";
import { readTrainingMeta } from "../eval/model_io.ts";
import type { PlayModel } from "./play_model.ts";

/** Reads the JSON header of a safetensors file without its data. */
async function readHeader(path: string): Promise<Record<string, { shape?: number[] }>> {
  const f = await Deno.open(path, { read: true });
  try {
    const head = new Uint8Array(8);
    if ((await f.read(head)) !== 8) throw new Error("too short");
    const n = Number(new DataView(head.buffer).getBigUint64(0, true));
    if (n > 100_000_000) throw new Error("header too large");
    const buf = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const k = await f.read(buf.subarray(got));
      if (k === null) throw new Error("truncated header");
      got += k;
    }
    return JSON.parse(new TextDecoder().decode(buf));
  } finally {
    f.close();
  }
}

/**
 * Describes a run's newest checkpoint for the playground.
 *
 * @example
 * ```ts ignore
 * const info = await playModel("/tmp/x", "t");
 * console.log(info.weights); // "/files/t/checkpoints/FINAL_0.0469/model.safetensors"
 * ```
 * @param name the run (a checked folder name)
 * @returns the architecture, weights URL and number format
 * @throws Error with a one-line reason (no checkpoint, unreadable or mismatched files)
 */
export async function playModel(baseDir: string, name: string): Promise<PlayModel> {
  const runDir = join(baseDir, name);
  const found = await listCheckpoints(runDir).catch(() => []);
  if (found.length === 0) throw new Error(`Run "${name}" has no checkpoint yet`);
  const ck = found[0];
  const dir = ck.path;
  const raw = parseArchConfig(
    await Deno.readTextFile(join(dir, "model_config.json")),
    `${ck.name}/model_config.json`,
  );
  const weightsPath = join(dir, "model.safetensors");
  let header;
  try {
    header = await readHeader(weightsPath);
  } catch (e) {
    throw new Error(`Cannot read ${ck.name}/model.safetensors: ${(e as Error).message}`);
  }
  const word = Object.entries(header).find(([k]) =>
    normalizeKey(k) === "encoder.embedding.word_embedding.weight"
  );
  const vocab = raw.embedding.vocab_size ?? word?.[1].shape?.[0] ?? NaN;
  if (!Number.isInteger(vocab)) throw new Error(`Cannot tell the vocabulary size of ${ck.name}`);
  const arch = resolveArch(raw, vocab);
  // Unknown data: the project's presets all reverse operands and answer.
  const g = (await readTrainingMeta(dir, baseDir))?.generator;
  const reverseOperands = g ? g.reverseAll : true;
  const reverseAnswer = g ? g.reverseAll || g.reverseAnswer : true;
  const op: string | null = g ? g.op : null;
  const rel = dir.slice(baseDir.length).split(/[\\/]/).filter(Boolean).map(encodeURIComponent);
  const bytes = (await Deno.stat(weightsPath)).size;
  return {
    run: name,
    checkpoint: ck.name,
    step: ck.step,
    weights: `/files/${rel.join("/")}/model.safetensors`,
    bytes,
    arch,
    reverseOperands,
    reverseAnswer,
    op,
  };
}
