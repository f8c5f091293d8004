// Where the training rows come from: the dataset a config names (a data-task preset, generated
// on first use, or upstream's tokenized_dataset_path), checked against the config, and the
// train split as an endless stream of microbatches in stored order whose position (row, epoch)
// goes into checkpoints, so a resumed run reads exactly the rows the uninterrupted run would.

import { basename, dirname, join, resolve } from "node:path";
import { Progress } from "../../cli/progress.ts";
import type { PretrainConfig } from "../../cli/config_types.ts";
import { type Dataset, type DatasetMeta, readMeta } from "../../data/dataset.ts";
import { ensureDataset, planDataset } from "../../data/generate.ts";
import { TRAIN_PRESETS } from "../../data/presets.ts";
import { TrainError } from "./errors.ts";

/** The dataset a run trains on. */
export interface TrainDataset {
  /** Its folder. */
  readonly dir: string;
  /** Its `meta.json`. */
  readonly meta: DatasetMeta;
  /** What checkpoints record as `data.dataset`: `data.dataset`, else the folder's path. */
  readonly name: string;
}

async function metaAt(dir: string): Promise<DatasetMeta | null> {
  try {
    await Deno.stat(join(dir, "meta.json"));
  } catch {
    return null;
  }
  try {
    return await readMeta(dir);
  } catch (e) {
    const why = (e as Error).message.split("\n")[0];
    throw new TrainError(`Cannot read dataset ${dir}: ${why}`);
  }
}

async function fromPreset(cfg: PretrainConfig, name: string, root: string): Promise<TrainDataset> {
  const dir = join(root, planDataset({ preset: name, baseDir: cfg.base_dir }).name);
  if (await metaAt(dir)) {
    return { dir, meta: await ensureDataset({ preset: name, out: dir }), name };
  }
  console.log(`Generating dataset ${name} into ${dir} (first use)`);
  const progress = new Progress(`dataset ${name}`);
  const meta = await ensureDataset({
    preset: name,
    out: dir,
    onProgress: (d, t) => progress.update(d, t),
  });
  progress.done();
  return { dir, meta, name };
}

async function fromPath(cfg: PretrainConfig, root: string): Promise<TrainDataset> {
  const key = "data.sources.arithmetic.tokenized_dataset_path";
  const path = cfg.data.sources.arithmetic.tokenized_dataset_path;
  if (path === null) {
    throw new TrainError(`No dataset given: set data.dataset=NAME or ${key}=PATH`);
  }
  const full = resolve(root, path);
  // Upstream's paths end in hf_tokenized_dataset; the data task writes the folder above it.
  const tries = basename(full) === "hf_tokenized_dataset"
    ? [full, dirname(full), join(root, basename(dirname(full)))]
    : [full];
  for (const dir of tries) {
    const meta = await metaAt(dir);
    if (meta) return { dir, meta, name: dir };
  }
  throw new TrainError(
    `Cannot find dataset ${full} (${key}): no dataset folder (meta.json) there; ` +
      `generate it with deno task data`,
  );
}

/**
 * Finds the dataset a config trains on, generating a data-task preset's dataset on first use.
 *
 * `data.dataset` names a data-task preset (generated into `<base_dir>/<impl.path>/<folder>` when
 * missing, saying so) or a folder under `<base_dir>/<impl.path>/`; otherwise upstream's
 * `data.sources.arithmetic.tokenized_dataset_path` is read relative to that folder. Checks the
 * tokenizer and that the train split holds at least one microbatch.
 *
 * @example
 * ```ts ignore
 * import { loadConfig } from "../../cli/config.ts";
 * import { resolveTrainDataset } from "./dataset.ts";
 *
 * const cfg = await loadConfig(["preset=tiny-addition", "base_dir=/tmp/abacus"], "pretrain");
 * const { dir, meta } = await resolveTrainDataset(cfg);
 * console.log(dir, meta.counts);
 * ```
 */
export async function resolveTrainDataset(cfg: PretrainConfig): Promise<TrainDataset> {
  const root = resolve(cfg.base_dir, cfg.impl.path);
  const name = cfg.data.dataset;
  let found: TrainDataset;
  if (name !== null && Object.hasOwn(TRAIN_PRESETS, name)) {
    found = await fromPreset(cfg, name, root);
  } else if (name !== null) {
    const dir = join(root, name);
    const meta = await metaAt(dir);
    if (!meta) {
      throw new TrainError(
        `Cannot find dataset "${name}" (data.dataset): ${dir} holds none and it is not a ` +
          `data-task preset (${Object.keys(TRAIN_PRESETS).join(", ")})`,
      );
    }
    found = { dir, meta, name };
  } else found = await fromPath(cfg, root);
  const want = cfg.data.sources.arithmetic.tokenizer_type;
  if (want !== null && want !== found.meta.tokenizer) {
    throw new TrainError(
      `Dataset ${found.dir} uses the ${found.meta.tokenizer} tokenizer, but ` +
        `data.sources.arithmetic.tokenizer_type is ${want}`,
    );
  }
  const mb = cfg.impl.microbatch_size;
  if (found.meta.counts.train < mb) {
    throw new TrainError(
      `Dataset ${found.dir} has ${found.meta.counts.train} train rows, fewer than ` +
        `impl.microbatch_size (${mb})`,
    );
  }
  return found;
}

/**
 * The train split as an endless stream of full microbatches in stored order (upstream's fixed
 * order; an incomplete last batch is skipped and the next epoch starts at row 0).
 *
 * `position` and `epoch` after a microbatch are what a checkpoint records; a stream created
 * with them continues with the very next row.
 *
 * @example
 * ```ts
 * import { generateDataset } from "../../data/generate.ts";
 * import { openDataset } from "../../data/dataset.ts";
 * import { TrainStream } from "./dataset.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const out = `${await Deno.makeTempDir()}/ds`;
 * await generateDataset({ spec: { op: "+", n: 2, m: 2, limit: 50 }, out, testRatio: 0 });
 * const ds = await openDataset(out);
 * const s = new TrainStream(ds, 20);
 * for (let i = 0; i < 3; i++) await s.next();
 * deepEqual([s.position, s.epoch], [20, 1]);
 * ds.close();
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export class TrainStream {
  #ds: Dataset;
  #rows: number;
  #position: number;
  #epoch: number;
  #it: AsyncGenerator<{ tokens: Int32Array; nextRow: number }> | null = null;

  /**
   * @param start Where to continue (default: row 0 of epoch 0).
   */
  constructor(ds: Dataset, rows: number, start: { position: number; epoch: number } = {
    position: 0,
    epoch: 0,
  }) {
    this.#ds = ds;
    this.#rows = rows;
    this.#position = start.position;
    this.#epoch = start.epoch;
  }

  /** Next row of the train split to read. */
  get position(): number {
    return this.#position;
  }

  /** Passes over the train split completed. */
  get epoch(): number {
    return this.#epoch;
  }

  /**
   * Reads the next microbatch.
   *
   * @returns Token ids, (rows, rowLength) row-major.
   */
  async next(): Promise<Int32Array> {
    for (let tries = 0; tries < 2; tries++) {
      this.#it ??= this.#ds.batches({
        split: "train",
        batchSize: this.#rows,
        startRow: this.#position,
        dropLast: true,
      });
      const r = await this.#it.next();
      if (!r.done) {
        this.#position = r.value.nextRow;
        return r.value.tokens;
      }
      this.#it = null;
      this.#epoch++;
      this.#position = 0;
    }
    throw new TrainError(`Dataset ${this.#ds.dir} has fewer train rows than one microbatch`);
  }
}
