// Where the training rows come from: the dataset a config names (a data-task preset, generated
// on first use, or upstream's tokenized_dataset_path), checked against the config, and the
// train split as an endless stream of microbatches in stored order whose position (row, epoch)
// goes into checkpoints, so a resumed run reads exactly the rows the uninterrupted run would.

import { basename, dirname, join, resolve } from "node:path";
import { Progress } from "../../cli/progress.ts";
import type { PretrainConfig } from "../../cli/config_types.ts";
import { Dataset, readMeta } from "../../data/dataset.ts";
import { ensureDataset, planDataset } from "../../data/generate.ts";
import { TRAIN_PRESETS } from "../../data/presets.ts";
import { TrainError } from "./errors.ts";

/** The dataset in `dir`, or null when it has no `meta.json`. */
async function datasetAt(dir: string): Promise<Dataset | null> {
  try {
    await Deno.stat(join(dir, "meta.json"));
  } catch {
    return null;
  }
  try {
    return new Dataset(dir, await readMeta(dir));
  } catch (e) {
    const why = (e as Error).message.split("\n")[0];
    throw new TrainError(`Cannot read dataset ${dir}: ${why}`);
  }
}

async function fromPreset(cfg: PretrainConfig, name: string, root: string): Promise<Dataset> {
  const dir = join(root, planDataset({ preset: name, baseDir: cfg.base_dir }).name);
  const progress = (await datasetAt(dir)) ? null : new Progress(`dataset ${name}`);
  if (progress) console.log(`Generating dataset ${name} into ${dir} (first use)`);
  const onProgress = progress ? (d: number, t: number) => progress.update(d, t) : undefined;
  const meta = await ensureDataset({ preset: name, out: dir, onProgress });
  progress?.done();
  return new Dataset(dir, meta);
}

async function fromPath(cfg: PretrainConfig, root: string): Promise<Dataset> {
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
    const found = await datasetAt(dir);
    if (found) return found;
  }
  throw new TrainError(
    `Cannot find dataset ${full} (${key}): no dataset folder (meta.json) there; ` +
      `generate it with deno task data`,
  );
}

/**
 * Finds and opens the dataset a config trains on (close it when done), generating a data-task
 * preset's dataset on first use.
 *
 * `data.dataset` names a data-task preset (generated into `<base_dir>/<impl.path>/<folder>` when
 * missing, saying so) or a folder under `<base_dir>/<impl.path>/`; otherwise upstream's
 * `data.sources.arithmetic.tokenized_dataset_path` is read relative to that folder. Checks the
 * tokenizer and that the train split holds at least one microbatch.
 *
 * @example
 * ```ts
 * import { loadConfig } from "../../cli/config.ts";
 * import { resolveTrainDataset } from "./dataset.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const base = await Deno.makeTempDir();
 * const cfg = await loadConfig(["preset=tiny-addition", `base_dir=${base}`], "pretrain");
 * const ds = await resolveTrainDataset(cfg); // generated on first use
 * deepEqual(ds.meta.counts, { train: 19800, test: 200 });
 * ds.close();
 * await Deno.remove(base, { recursive: true });
 * ```
 */
export async function resolveTrainDataset(cfg: PretrainConfig): Promise<Dataset> {
  const root = resolve(cfg.base_dir, cfg.impl.path);
  const name = cfg.data.dataset;
  let found: Dataset;
  if (name !== null && Object.hasOwn(TRAIN_PRESETS, name)) {
    found = await fromPreset(cfg, name, root);
  } else if (name !== null) {
    const dir = join(root, name);
    const at = await datasetAt(dir);
    if (!at) {
      throw new TrainError(
        `Cannot find dataset "${name}" (data.dataset): ${dir} holds none and it is not a ` +
          `data-task preset (${Object.keys(TRAIN_PRESETS).join(", ")})`,
      );
    }
    found = at;
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
 * `at` (position and epoch) after a microbatch is what a checkpoint records; a stream created
 * with it continues with the very next row.
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
 * deepEqual(s.at, { position: 20, epoch: 1 });
 * ds.close();
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export class TrainStream {
  #ds: Dataset;
  #rows: number;
  #position: number;
  #epoch: number;

  /** @param start Where to continue (default: row 0 of epoch 0). */
  constructor(ds: Dataset, rows: number, start = { position: 0, epoch: 0 }) {
    this.#ds = ds;
    this.#rows = rows;
    this.#position = start.position;
    this.#epoch = start.epoch;
  }

  /** The next row of the train split to read, and the passes over it completed. */
  get at(): { position: number; epoch: number } {
    return { position: this.#position, epoch: this.#epoch };
  }

  /** Reads the next microbatch: token ids, (rows, rowLength) row-major. */
  async next(): Promise<Int32Array> {
    if (this.#position + this.#rows > this.#ds.meta.counts.train) {
      this.#epoch++;
      this.#position = 0;
    }
    const rows = await this.#ds.readRows("train", this.#position, this.#rows);
    this.#position += this.#rows;
    return Int32Array.from(rows);
  }
}
