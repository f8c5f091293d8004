/**
 * What the playground needs to rebuild a run's newest checkpoint in the browser, worked out on
 * the server with the same code the eval task uses: the resolved architecture (from
 * `model_config.json` and the vocabulary size in the safetensors header), the weights' URL, and
 * how the training data wrote numbers (reversed operands and answer). The browser bundle imports
 * only the type of the answer from here.
 * @module
 */
import { join } from "node:path";
import { listCheckpoints } from "../../core/checkpoint_read.ts";
import { type Arch, resolveArch } from "../../core/nn/arch.ts";
import { normalizeKey } from "../../core/state_keys.ts";
import { parseArchConfig } from "../../cli/config_files.ts";
import { readTrainingMeta } from "../eval/model_io.ts";

/** The `/api/model` answer. */
export interface PlayModel {
  /** Run name. */
  run: string;
  /** Checkpoint folder name. */
  checkpoint: string;
  /** Training step of the checkpoint, when known. */
  step: number | null;
  /** URL path of `model.safetensors` (served by the file route). */
  weights: string;
  /** Bytes of `model.safetensors`. */
  bytes: number;
  /** The resolved architecture. */
  arch: Arch;
  /** Operands written least-significant digit first. */
  reverseOperands: boolean;
  /** Answer written least-significant digit first. */
  reverseAnswer: boolean;
}

/** Reads the JSON header of a safetensors file without its data. */
async function readHeader(path: string): Promise<Record<string, { shape?: number[] }>> {
  using f = await Deno.open(path, { read: true });
  const read = async (n: number): Promise<Uint8Array> => {
    const buf = new Uint8Array(n);
    for (let got = 0; got < n;) {
      const k = await f.read(buf.subarray(got));
      if (k === null) throw new Error("truncated header");
      got += k;
    }
    return buf;
  };
  const n = Number(new DataView((await read(8)).buffer).getBigUint64(0, true));
  if (n > 100_000_000) throw new Error("header too large");
  return JSON.parse(new TextDecoder().decode(await read(n)));
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
  const header = await readHeader(weightsPath).catch((e: Error) => {
    throw new Error(`Cannot read ${ck.name}/model.safetensors: ${e.message}`);
  });
  const word = Object.entries(header).find(([k]) =>
    normalizeKey(k) === "encoder.embedding.word_embedding.weight"
  );
  const vocab = raw.embedding.vocab_size ?? word?.[1].shape?.[0] ?? NaN;
  if (!Number.isInteger(vocab)) throw new Error(`Cannot tell the vocabulary size of ${ck.name}`);
  const g = (await readTrainingMeta(dir, baseDir))?.generator;
  const rel = dir.slice(baseDir.length).split(/[\\/]/).filter(Boolean).map(encodeURIComponent);
  return {
    run: name,
    checkpoint: ck.name,
    step: ck.step,
    weights: `/files/${rel.join("/")}/model.safetensors`,
    bytes: (await Deno.stat(weightsPath)).size,
    arch: resolveArch(raw, vocab),
    // Unknown data: the project's presets all reverse operands and answer.
    reverseOperands: g ? g.reverseAll : true,
    reverseAnswer: g ? g.reverseAll || g.reverseAnswer : true,
  };
}
