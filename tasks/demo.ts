/**
 * `deno task demo [--task addition|multiplication|sorting] [--seeds 0,1,2] [--compare] [--quick]
 * [base_dir=DIR] [key=value ...]`: the paper's point end to end on the default adapter. Trains
 * a small Abacus model on one task (the presets and grids are in `USAGE`), evaluates the task's
 * grid beyond the training lengths with the task's own scoring, draws the heatmap and prints in-
 * and out-of-distribution accuracy for each seed and their mean; `--compare` adds the paper's
 * baselines, NoPE and FIRE. A second run reuses what is done.
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { resolveBaseDir, userCwd } from "../cli/config.ts";
import { ConfigError } from "../cli/overrides.ts";
import { writeFileAtomic } from "../core/checkpoint.ts";
import { TrainError } from "./train/errors.ts";
import { EvalError } from "./eval/grids.ts";
import { type Accuracies, meanOf } from "./eval/results.ts";
import { heatmapSvg, writeFigure } from "./plot.ts";
import {
  poolCells,
  type Recipe,
  type RecipeRun,
  type RecipeTask,
  runRecipe,
} from "./demo/recipes.ts";

/** The positional schemes the demo trains: Abacus, and with `--compare` the paper's baselines. */
const VARIANTS = [
  { id: "abacus", title: "Abacus", keys: [] },
  { id: "nope", title: "NoPE", keys: ["arch.embedding.pos_embedding=None"] },
  {
    id: "fire",
    title: "FIRE",
    keys: [
      "arch.embedding.pos_embedding=None",
      "arch.attention.type=self-attention",
      "arch.attention.rotary_embedding=fire",
    ],
  },
];

// The demo of each task: its recipe (preset, training range, grid; sorting's grid is maximum
// digits x list length) and, for the printout, the cells inside and outside the training range.
const DEMO_TASKS: Record<
  RecipeTask,
  { recipe: Omit<Recipe, "task" | "keys">; inside: string; outside: string }
> = {
  addition: {
    recipe: { range: 5, grid: 12 },
    inside: "1..5 digits",
    outside: "6..12 digits",
  },
  multiplication: {
    recipe: { preset: "tiny-multiplication", range: 3, grid: 5 },
    inside: "1..3 x 1..3 digits",
    outside: "an operand of 4..5 digits",
  },
  sorting: {
    recipe: { preset: "tiny-sorting", range: 4, grid: 6 },
    inside: "1..4 numbers of 1..4 digits",
    outside: "5..6 numbers or 5..6 digits",
  },
};

/** One demo run's figures. */
export interface DemoRun extends Omit<RecipeRun, "cells"> {
  /** Positional scheme: abacus, nope or fire. */
  embedding: string;
}

/** Means over the seeds of one positional scheme. */
export type DemoMean = Pick<DemoRun, "embedding" | "in_distribution" | "out_of_distribution">;

/**
 * The demo's summary (also `summary.json` in `<base_dir>/demo/`, or `demo-multiplication/`,
 * `demo-sorting/`).
 */
export interface DemoSummary {
  /** The task trained and evaluated. */
  task: RecipeTask;
  /** The Abacus runs' mean in-distribution accuracy (fraction): cells inside the training range. */
  in_distribution: number | null;
  /** The Abacus runs' mean out-of-distribution accuracy (fraction): the other cells. */
  out_of_distribution: number | null;
  /** Sorting: the Abacus runs' mean first-element (top-1) accuracies. */
  first_element?: Accuracies;
  /** Sorting: the Abacus runs' mean minimum-element accuracies. */
  min_element?: Accuracies;
  /** The seeds run. */
  seeds: number[];
  /** Every run. */
  runs: DemoRun[];
  /** Means over the seeds, per positional scheme. */
  means: DemoMean[];
  /** Heatmap files (seeds pooled, one panel per scheme). */
  plots: string[];
  /** Wall-clock seconds of this invocation. */
  seconds: number;
}

/** Options of `demo`. */
export interface DemoOptions {
  /** The task (default addition). */
  task?: RecipeTask;
  /** A short version (1000 steps). */
  quick: boolean;
  /** Also train NoPE and FIRE. */
  compare: boolean;
  /** Base folder. */
  baseDir: string;
  /** Seeds (default [0]). */
  seeds?: readonly number[];
  /** Training keys on top of the preset (`key=value`). */
  keys?: readonly string[];
  /** Samples per grid cell (default 100). */
  samples?: number;
  /** Grid side (default 12). */
  grid?: number;
}

/** A short stable tag of extra keys, so runs with other keys get other names. */
function tag(keys: readonly string[]): string {
  let h = 0x811c9dc5;
  for (const ch of keys.join("\n")) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0").slice(0, 6);
}

/**
 * Runs the demo.
 *
 * @example
 * ```ts ignore
 * const s = await demo({ quick: true, compare: false, baseDir: "/tmp/demo", seeds: [0, 1] });
 * console.log(s.out_of_distribution);
 * ```
 */
export async function demo(o: DemoOptions): Promise<DemoSummary> {
  const t0 = performance.now();
  const seeds = [...(o.seeds ?? [0])];
  const task = o.task ?? "addition", spec = DEMO_TASKS[task];
  const extra = [...(o.quick ? ["train.budget_steps=1000"] : []), ...(o.keys ?? [])];
  const { range } = spec.recipe, grid = o.grid ?? spec.recipe.grid;
  // Run and folder names: demo[-TASK]-VARIANT-sSEED[-quick][-TAG], demo[-TASK][-quick][-TAG].
  const head = task === "addition" ? "demo" : `demo-${task}`;
  const tail = (o.quick ? "-quick" : "") + (o.keys?.length ? `-${tag(o.keys)}` : "");
  const variants = o.compare ? VARIANTS : VARIANTS.slice(0, 1);
  const runs: DemoRun[] = [], panels = [], means: DemoMean[] = [];
  for (const v of variants) {
    const cells = [];
    const mine: DemoRun[] = [];
    for (const seed of seeds) {
      const name = `${head}-${v.id}-s${seed}${tail}`;
      console.log(`\n== ${name}: training (${v.title} positions, seed ${seed}) ==`);
      const r = await runRecipe({ ...spec.recipe, task, grid, keys: [...v.keys, ...extra] }, {
        name,
        seed,
        baseDir: o.baseDir,
        samples: o.samples ?? 100,
      });
      const { cells: c, ...figures } = r;
      cells.push(c);
      mine.push({ ...figures, embedding: v.id });
      console.log(
        `${v.title} seed ${seed}: in-distribution ${pct(r.in_distribution)}, ` +
          `out-of-distribution ${pct(r.out_of_distribution)}`,
      );
    }
    runs.push(...mine);
    means.push({ embedding: v.id, ...meanOver(mine, ["in_distribution", "out_of_distribution"]) });
    panels.push({
      cells: poolCells(cells),
      title: `${v.title} (seed${seeds.length > 1 ? "s" : ""} ${seeds.join(",")})`,
      kind: task,
      trainRange: [[1, range], [1, range]] as [[number, number], [number, number]],
    });
  }
  const abacus = runs.filter((r) => r.embedding === "abacus");
  const sortMeans = task !== "sorting" ? {} : {
    first_element: meanOver(abacus.map((r) => r.first_element), ACCURACY_KEYS),
    min_element: meanOver(abacus.map((r) => r.min_element), ACCURACY_KEYS),
  };
  const dir = join(o.baseDir, head + tail);
  const plots = await writeFigure(heatmapSvg(panels), { dir, name: "heatmap" });
  const summary: DemoSummary = {
    task,
    in_distribution: means[0].in_distribution,
    out_of_distribution: means[0].out_of_distribution,
    ...sortMeans,
    seeds,
    runs,
    means,
    plots,
    seconds: (performance.now() - t0) / 1000,
  };
  await writeFileAtomic(join(dir, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
  return summary;
}

const ACCURACY_KEYS = ["in_distribution", "out_of_distribution", "extended", "all"] as const;

/** Means over runs of each of `keys` (null values and absent runs skipped). */
function meanOver<K extends string>(
  runs: readonly (Partial<Record<K, number | null>> | undefined)[],
  keys: readonly K[],
): Record<K, number | null> {
  const means = keys.map((k) => [k, meanOf(runs.map((r) => r?.[k] ?? null))]);
  return Object.fromEntries(means) as Record<K, number | null>;
}

const pct = (x: number | null) => (x === null ? "n/a" : `${(100 * x).toFixed(1)}%`);

const USAGE = `Usage: deno task demo [--task addition|multiplication|sorting] [--seeds 0,1,2]
                      [--compare] [--quick] [base_dir=DIR] [key=value ...]

Trains a small Abacus transformer on one task, evaluates it on the task's grid beyond the
training lengths (100 problems per cell) with the task's own scoring, draws the heatmap and
prints in- and out-of-distribution accuracy. Per seed on 2 CPU cores (llvmpipe):

  addition        the demo preset (2 x 1, width 64) on reversed 1..5-digit additions; grid
                  1..12 x 1..12; about 3.5 minutes of training and 1 of evaluation
  multiplication  tiny-multiplication (2 x 1, width 128, RoPE) on reversed 1..3 x 1..3-digit
                  products written with their partial products (a scratchpad, not upstream's
                  format); grid 1..5 x 1..5; about 6.5 minutes of training (99.3-99.6%)
  sorting         tiny-sorting (3 x 1, width 64, RoPE) on 1..4 numbers of 1..4 digits; grid
                  1..6 x 1..6 (maximum digits x list length), exact match plus first-element
                  and minimum-element accuracy; about 8.5 minutes of training (96-98%)

  --task T        addition (default), multiplication or sorting
  --seeds 0,1,2   train and evaluate each seed; prints each and the mean (default 0)
  --compare       also train the paper's baselines, NoPE and FIRE, with the same budget, and
                  draw the three heatmaps side by side
  --quick         1000 training steps (instead of 5000, 3000 and 4000)
  base_dir=DIR    where data, runs and the heatmap go (default ./abacus-data)
  key=value       training keys on top of the preset, e.g. train.budget_steps=8000 (the runs
                  then get their own names)

Writes heatmap.{svg,png} and summary.json to <base_dir>/demo/ (addition), demo-multiplication/
or demo-sorting/; a second run reuses what is done.`;

/**
 * Reads the demo's command line.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { parseDemoArgs } from "./demo.ts";
 * const a = parseDemoArgs(["--seeds", "0,1,2", "--compare", "train.budget_steps=8000"]);
 * deepStrictEqual([a.seeds, a.compare, a.keys], [[0, 1, 2], true, ["train.budget_steps=8000"]]);
 * deepStrictEqual(parseDemoArgs(["--task", "sorting"]).task, "sorting");
 * ```
 * @returns the options (`baseDir` as given, null when absent) and whether help was asked
 * @throws ConfigError on an unknown flag or task, a bad seed list or a key the demo sets itself
 */
export function parseDemoArgs(
  argv: readonly string[],
): Omit<DemoOptions, "baseDir"> & { baseDir: string | null; help: boolean } {
  const usage = "use --task, --seeds, --compare, --quick, base_dir=DIR or key=value";
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        task: { type: "string", default: "addition" },
        seeds: { type: "string", default: "0" },
        quick: { type: "boolean", default: false },
        compare: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    const { message, code } = e as Error & { code?: string };
    const flag = /'(-[^' ]+)/.exec(message)?.[1]; // e.g. Option '--seeds <value>' argument missing
    throw new ConfigError(
      code === "ERR_PARSE_ARGS_UNKNOWN_OPTION"
        ? `Unknown demo argument "${flag}": ${usage}`
        : message.includes("argument missing")
        ? `${flag} needs a value: see deno task demo --help`
        : `${message.split("\n")[0]}: see deno task demo --help`,
    );
  }
  const { values: { task, seeds, ...flags }, positionals } = parsed;
  if (!Object.hasOwn(DEMO_TASKS, task)) {
    throw new ConfigError(
      `Unknown demo task "${task}": use --task addition, multiplication or sorting`,
    );
  }
  const seedList = seeds.split(",").map((s) => Number(s.trim()));
  if (seeds.trim() === "" || seedList.some((s) => !Number.isSafeInteger(s) || s < 0)) {
    throw new ConfigError(`Cannot parse --seeds "${seeds}": expected integers like 0,1,2`);
  }
  const keys: string[] = [];
  let baseDir: string | null = null;
  for (const a of positionals) {
    if (a.startsWith("base_dir=")) baseDir = a.slice("base_dir=".length) || null;
    else if (/^\+?(name|preset|seed)=/.test(a)) {
      throw new ConfigError(
        `The demo sets ${a.split("=")[0]} itself: use --seeds, or deno task train for other runs`,
      );
    } else if (/^\+?[A-Za-z_][\w.]*=/.test(a)) keys.push(a);
    else throw new ConfigError(`Unknown demo argument "${a}": ${usage}`);
  }
  return { ...flags, task: task as RecipeTask, seeds: [...new Set(seedList)], keys, baseDir };
}

/** Runs the task. */
export async function main(argv: string[]): Promise<number> {
  try {
    const args = parseDemoArgs(argv);
    if (args.help) {
      console.log(USAGE);
      return 0;
    }
    const s = await demo({
      ...args,
      baseDir: resolveBaseDir(args.baseDir, { cwd: userCwd() }),
    });
    console.log("\n== demo done ==");
    const t = DEMO_TASKS[s.task];
    for (const r of s.runs) {
      console.log(
        `${r.embedding.padEnd(7)} seed ${r.seed}: in-distribution (${t.inside}) ` +
          `${pct(r.in_distribution)}, out-of-distribution (${t.outside}) ` +
          `${pct(r.out_of_distribution)}, ${(r.train_seconds / 60).toFixed(1)} min training`,
      );
      if (r.first_element && r.min_element) {
        console.log(
          `${"".padEnd(7)} first element ${pct(r.first_element.in_distribution)} / ` +
            `${pct(r.first_element.out_of_distribution)}, minimum element ` +
            `${pct(r.min_element.in_distribution)} / ${pct(r.min_element.out_of_distribution)} ` +
            "(in / out of distribution)",
        );
      }
    }
    if (s.seeds.length > 1) {
      for (const m of s.means) {
        console.log(
          `${m.embedding.padEnd(7)} mean of seeds ${s.seeds.join(",")}: in-distribution ` +
            `${pct(m.in_distribution)}, out-of-distribution ${pct(m.out_of_distribution)}`,
        );
      }
    }
    for (const p of s.plots) console.log(`heatmap: ${p}`);
    console.log(`summary: ${join(s.plots[0], "..", "summary.json")}`);
    console.log(`time: ${(s.seconds / 60).toFixed(1)} min`);
    return 0;
  } catch (e) {
    if (e instanceof TrainError || e instanceof EvalError || e instanceof ConfigError) {
      console.error(e.message);
      return 1;
    }
    throw e;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
