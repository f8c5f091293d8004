/**
 * `deno task demo [--quick] [--compare] [base_dir=DIR]`: the paper's trick end to end on the
 * default adapter. Generates small reversed additions (operands 1..5 digits), trains an Abacus
 * model, evaluates the 1..12 x 1..12 grid (longer numbers than any it saw), writes the heatmap and
 * a summary, and prints in- and out-of-distribution accuracy. `--compare` does the same for NoPE
 * and plots both side by side. A second run resumes or reuses what is done.
 * @module
 */
import { join } from "node:path";
import { ConfigError, loadConfig, resolveBaseDir, userCwd } from "../cli/config.ts";
import { train } from "./train/run.ts";
import { TrainError } from "./train/errors.ts";
import { evaluate } from "./eval.ts";
import { EvalError } from "./eval/grids.ts";
import { mergeResults } from "./eval/summary.ts";
import { writePlots } from "./plot.ts";

/** One demo run's figures. */
export interface DemoRun {
  /** Run name under the base folder. */
  name: string;
  /** Positional embedding. */
  embedding: string;
  /** Mean exact match over cells with both operands <= 5 digits. */
  in_distribution: number | null;
  /** Mean exact match over cells with an operand of 6..12 digits. */
  out_of_distribution: number | null;
  /** The grid's results folder. */
  results: string;
}

/** The demo's summary (also `<base_dir>/demo/summary.json`). */
export interface DemoSummary {
  /** The Abacus run's in-distribution accuracy (fraction). */
  in_distribution: number | null;
  /** The Abacus run's out-of-distribution accuracy (fraction). */
  out_of_distribution: number | null;
  /** Every run. */
  runs: DemoRun[];
  /** Heatmap files. */
  plots: string[];
  /** Wall-clock seconds of this invocation. */
  seconds: number;
}

const QUICK = ["train.budget_steps=1000"];
const GRID = "eval.grid=1..12x1..12";

/**
 * Runs the demo.
 *
 * @example
 * ```ts ignore
 * const s = await demo({ quick: true, compare: false, baseDir: "/tmp/demo" });
 * console.log(s.in_distribution);
 * ```
 * @param o quick mode, NoPE comparison, base folder
 * @returns the summary
 */
export async function demo(
  o: { quick: boolean; compare: boolean; baseDir: string },
): Promise<DemoSummary> {
  const t0 = performance.now();
  const variants = [{ name: "demo-abacus", embedding: "abacus", keys: [] as string[] }];
  if (o.compare) {
    variants.push({
      name: "demo-nope",
      embedding: "none",
      keys: ["arch.embedding.pos_embedding=None"],
    });
  }
  const runs: DemoRun[] = [];
  const panels = [];
  for (const v of variants) {
    const name = o.quick ? `${v.name}-quick` : v.name;
    const args = [
      "preset=demo",
      `name=${name}`,
      `base_dir=${o.baseDir}`,
      ...v.keys,
      ...(o.quick ? QUICK : []),
    ];
    console.log(`\n== ${name}: training (${v.embedding} positions) ==`);
    await train(await loadConfig(args, "pretrain", { log: () => {} }));
    console.log(`\n== ${name}: evaluating operands of 1..12 digits (trained on 1..5) ==`);
    const ev = await evaluate([`name=${name}`, `base_dir=${o.baseDir}`, GRID], {
      samples: o.quick ? 20 : 100,
    });
    runs.push({
      name,
      embedding: v.embedding,
      in_distribution: ev.summary.in_distribution,
      out_of_distribution: ev.summary.out_of_distribution,
      results: ev.dir,
    });
    panels.push({
      cells: (await mergeResults(ev.dir, {})).cells,
      title: `${v.embedding === "abacus" ? "Abacus" : "NoPE"} (${name})`,
      kind: "addition" as const,
      trainRange: [[1, 5], [1, 5]] as [[number, number], [number, number]],
    });
  }
  const dir = join(o.baseDir, o.quick ? "demo-quick" : "demo");
  const plots = await writePlots(panels, { dir, name: "heatmap" });
  const summary: DemoSummary = {
    in_distribution: runs[0].in_distribution,
    out_of_distribution: runs[0].out_of_distribution,
    runs,
    plots,
    seconds: (performance.now() - t0) / 1000,
  };
  await Deno.mkdir(dir, { recursive: true });
  const tmp = join(dir, `.summary.json.${Deno.pid}.tmp`);
  await Deno.writeTextFile(tmp, JSON.stringify(summary, null, 2) + "\n");
  await Deno.rename(tmp, join(dir, "summary.json"));
  return summary;
}

const pct = (x: number | null) => (x === null ? "n/a" : `${(100 * x).toFixed(1)}%`);

/**
 * Runs the task.
 *
 * @param argv `--quick`, `--compare`, `base_dir=DIR`
 * @returns the exit code
 */
export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(
      "Usage: deno task demo [--quick] [--compare] [base_dir=DIR]\n\n" +
        "Trains a small Abacus transformer on reversed additions of 1..5-digit numbers, then\n" +
        "evaluates 1..12 x 1..12 digits. --quick: a 1-minute version; --compare: also NoPE.\n" +
        "Everything goes under base_dir (default ./abacus-data); a second run reuses it.",
    );
    return 0;
  }
  const unknown = argv.filter((a) =>
    !["--quick", "--compare"].includes(a) && !a.startsWith("base_dir=")
  );
  if (unknown.length) {
    console.error(`Unknown demo argument "${unknown[0]}": use --quick, --compare or base_dir=DIR`);
    return 1;
  }
  const base = argv.find((a) => a.startsWith("base_dir="))?.slice("base_dir=".length) ?? null;
  try {
    const s = await demo({
      quick: argv.includes("--quick"),
      compare: argv.includes("--compare"),
      baseDir: resolveBaseDir(base || null, { cwd: userCwd() }),
    });
    console.log("\n== demo done ==");
    for (const r of s.runs) {
      console.log(
        `${r.embedding.padEnd(7)} in-distribution (1..5 digits) ${pct(r.in_distribution)}, ` +
          `out-of-distribution (6..12 digits) ${pct(r.out_of_distribution)}`,
      );
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
