// Benchmark of the data pipeline: generates and tokenizes the paper's 20M-sample 20x20 reversed
// addition set into a temporary folder and reports elapsed time and peak resident memory.
// Target (issue 4): under 60 s and under 1 GiB peak RSS on the 2-core development machine.

import { cpuUsage } from "node:process";
import { parseArgs } from "node:util";
import { generateDataset } from "../../data/generate.ts";
import { TRAIN_PRESETS } from "../../data/presets.ts";

/**
 * Runs the data benchmark: `--limit N` samples (default 20000000), `--json` for JSON output,
 * `--keep` to keep the generated folder (its path is printed).
 *
 * @example
 * ```ts
 * import { run } from "./data.ts";
 *
 * await run(["--limit", "1000", "--json"]);
 * ```
 */
export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { limit: { type: "string" }, json: { type: "boolean" }, keep: { type: "boolean" } },
    strict: true,
  });
  const limit = Number(values.limit ?? TRAIN_PRESETS.addition.spec.limit);
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new Error(
      `Cannot run data bench: --limit must be a positive integer, got ${values.limit}`,
    );
  }
  const root = await Deno.makeTempDir({ prefix: "abacus-bench-data-" });
  const out = `${root}/ds`;
  let peak = Deno.memoryUsage().rss;
  const sample = () => (peak = Math.max(peak, Deno.memoryUsage().rss));
  const timer = setInterval(sample, 25);
  const t0 = performance.now();
  const cpu0 = cpuUsage();
  let result;
  try {
    const meta = await generateDataset({
      preset: "addition",
      spec: { limit },
      out,
      onProgress: sample,
    });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuUsage(cpu0);
    sample();
    const size = async (f: string) => (await Deno.stat(`${out}/${f}`)).size;
    // CPU: user + system, all threads (robust to load); peak RSS: sampled every 25 ms and after
    // every chunk; bytes of train.bin + test.bin and of train.txt + test.txt.
    result = {
      samples: limit,
      seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      samplesPerSecond: limit / seconds,
      peakRssBytes: peak,
      binBytes: (await size(meta.files.train)) + (await size(meta.files.test)),
      textBytes: (await size(meta.files.trainText)) + (await size(meta.files.testText)),
      rowLength: meta.rowLength,
    };
  } finally {
    clearInterval(timer);
    if (!values.keep) await Deno.remove(root, { recursive: true });
  }
  if (values.json) {
    console.log(JSON.stringify({ bench: "data", ...result }));
    return;
  }
  const mib = (b: number) => (b / 2 ** 20).toFixed(0);
  console.log(
    `data: ${result.samples} samples (20x20 reversed addition, row length ${result.rowLength}) ` +
      `in ${result.seconds.toFixed(1)} s (CPU ${result.cpuSeconds.toFixed(1)} s), ${
        (result.samplesPerSecond / 1e6).toFixed(2)
      }M samples/s, ` +
      `peak RSS ${mib(result.peakRssBytes)} MiB, bin ${mib(result.binBytes)} MiB, ` +
      `text ${mib(result.textBytes)} MiB${values.keep ? `, kept in ${out}` : ""}`,
  );
}
