// Where a cell's evaluation samples come from: the data task's grid folder when it holds the
// cell, else the same generator run on the fly with the same per-cell seed and stream, so both
// paths give identical samples in the training format. Also splits a sample into the prompt (up
// to and including `=`) and the target (answer + EOS).

import { join } from "node:path";
import { openDataset } from "../../data/dataset.ts";
import { cellSpec } from "../../data/generate.ts";
import { readGridMeta } from "../../data/dataset.ts";
import type { GridMeta } from "../../data/meta.ts";
import type { DataSpec } from "../../data/spec.ts";
import { createSource } from "../../data/generators.ts";
import { EOS, EQUALS, PAD, SPACE } from "../../data/tokenizer.ts";
import { EvalError } from "./grids.ts";
import type { GridPlan } from "./flags.ts";
import { gridBase } from "./data_spec.ts";

/** One evaluation sample. */
export interface EvalSample {
  /** Tokens up to and including `=`. */
  prompt: Int32Array;
  /** Answer tokens and EOS. */
  target: Int32Array;
}

/** Options of `CellSamples`. */
export interface CellSamplesOptions {
  /** A data-task grid folder (with `grid.json`) to read cells from; null: generate all. */
  dataDir?: string | null;
  /** Generator seed (default: the grid folder's, else 42). */
  seed?: number;
  /** Samples per generated cell (OR: at most this many cases); default: the preset's. */
  samples?: number;
  /** Drop PAD (stored spaces) from prompts, as upstream's `remove_padding` (default true). */
  removePadding?: boolean;
}

/** Splits a stored sample (ending in EOS, maybe PAD-padded) into prompt and target. */
function splitSample(tokens: ArrayLike<number>, removePadding: boolean): EvalSample {
  let eq = -1, eos = tokens.length;
  for (let k = 0; k < tokens.length; k++) {
    if (eq < 0 && tokens[k] === EQUALS) eq = k;
    else if (eq >= 0 && tokens[k] === EOS) {
      eos = k;
      break;
    }
  }
  if (eq < 0) throw new EvalError(`Cannot split an evaluation sample: it has no "="`);
  const head = Array.from({ length: eq + 1 }, (_, k) => tokens[k]);
  const prompt = Int32Array.from(removePadding ? head.filter((t) => t !== PAD) : head);
  const target = Int32Array.from(
    { length: Math.min(eos + 1, tokens.length) - eq - 1 },
    (_, k) => tokens[eq + 1 + k],
  );
  return { prompt, target };
}

/**
 * Supplies each cell's samples: read from a data-task grid folder when it holds the cell, else
 * generated with the same arguments (so both give the same samples).
 *
 * @example
 * ```ts
 * import { CellSamples } from "./samples.ts";
 * import { resolveGrid } from "./flags.ts";
 * import { generateGrid } from "../../data/generate.ts";
 * import assert from "node:assert/strict";
 *
 * const root = await Deno.makeTempDir();
 * await generateGrid({ preset: "addition-grid", maxSide: 2, out: `${root}/g` });
 * const plan = resolveGrid({ grid: "1..3x1" });
 * const fromDisk = await CellSamples.open(plan, { dataDir: `${root}/g` });
 * const generated = await CellSamples.open(plan, {});
 * assert.deepEqual(await fromDisk.get(2, 1), await generated.get(2, 1));
 * assert.deepEqual((await fromDisk.get(3, 1)).length, 100); // not on disk: generated
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class CellSamples {
  #plan: GridPlan;
  #base: Partial<DataSpec>;
  #dataDir: string | null;
  #onDisk: Map<string, string>;
  #removePadding: boolean;

  /**
   * Use `CellSamples.open`.
   *
   * @param dataDir Grid data folder or null.
   * @param onDisk Cell folders on disk by `"i,j"`.
   */
  constructor(
    plan: GridPlan,
    base: Partial<DataSpec>,
    dataDir: string | null,
    onDisk: Map<string, string>,
    removePadding: boolean,
  ) {
    this.#plan = plan;
    this.#base = base;
    this.#dataDir = dataDir;
    this.#onDisk = onDisk;
    this.#removePadding = removePadding;
  }

  /** Prepares the samples of a plan, checking a grid folder's arguments against the plan's. */
  static async open(plan: GridPlan, options: CellSamplesOptions): Promise<CellSamples> {
    const onDisk = new Map<string, string>();
    let grid: GridMeta | null = null;
    if (options.dataDir) {
      try {
        grid = await readGridMeta(options.dataDir);
      } catch (err) {
        throw new EvalError(
          `Cannot read grid data ${options.dataDir}: ${(err as Error).message.split("\n")[0]}`,
        );
      }
    }
    const gb = grid?.base;
    const samples = options.samples ??
      (gb ? (plan.task === "or" ? gb.max : gb.numSamples) : undefined);
    const base = gridBase(plan, { seed: options.seed ?? gb?.seed, samples });
    if (grid && gb) {
      const want = cellSpec(base, 1, 1);
      for (
        const k of [
          "op",
          "reverseAll",
          "reverseAnswer",
          "indexHints",
          "scratchpad",
          "p",
          "seed",
          "numSamples",
          "max",
        ] as const
      ) {
        // Grids written before the scratchpad existed have no such key: false.
        if ((gb[k] ?? false) !== want[k]) {
          throw new EvalError(
            `Cannot use grid data ${options.dataDir}: its ${k} is ${
              JSON.stringify(gb[k])
            }, the evaluation needs ${JSON.stringify(want[k])}`,
          );
        }
      }
      for (const c of grid.cells) onDisk.set(`${c.i},${c.j}`, join(options.dataDir!, c.dir));
    }
    return new CellSamples(
      plan,
      base,
      options.dataDir ?? null,
      onDisk,
      options.removePadding ?? true,
    );
  }

  /** The grid data folder in use, or null. */
  get dataDir(): string | null {
    return this.#dataDir;
  }

  /** The samples of cell (i, j), in stored order. */
  async get(i: number, j: number): Promise<EvalSample[]> {
    const dir = this.#onDisk.get(`${i},${j}`);
    const rows: ArrayLike<number>[] = [];
    if (dir) {
      const ds = await openDataset(dir);
      try {
        const T = ds.meta.rowLength, n = ds.meta.counts.test;
        const bytes = await ds.readRows("test", 0, n);
        for (let r = 0; r < n; r++) rows.push(bytes.subarray(r * T, (r + 1) * T));
      } finally {
        ds.close();
      }
    } else {
      const src = createSource(cellSpec(this.#base, i, j));
      const buf = new Uint8Array(src.maxTokens + 1);
      for (let k = 0; k < src.total; k++) {
        const len = src.next(buf, 0);
        const row = buf.slice(0, len + 1).map((t) => (t === SPACE ? PAD : t));
        row[len] = EOS;
        rows.push(row);
      }
    }
    return rows.map((row) => splitSample(row, this.#removePadding));
  }

  /** The plan these samples belong to. */
  get plan(): GridPlan {
    return this.#plan;
  }
}
