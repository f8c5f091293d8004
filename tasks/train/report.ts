// What a training run shows and records: the run folder `<base_dir>/<name>/pretrain/<date>/<time>/`
// (upstream's Hydra layout) with the resolved config and `metrics.jsonl` (one JSON object per
// optimizer step, plus checkpoint and evaluation events), and the progress display: one live
// line on a terminal, plain lines every `impl.print_loss_every_nth_step` steps otherwise.

import { join } from "node:path";
import { compact, duration } from "../../cli/progress.ts";
import type { Budget } from "./schedule.ts";

/** One optimizer step, as a line of `metrics.jsonl`. */
export type StepRecord = {
  /** Microbatch steps done after it. */
  readonly step: number;
  /** Optimizer steps done after it. */
  readonly optimizer_step: number;
  /** Tokens consumed after it. */
  readonly tokens: number;
  /** Its training loss (mean over its microbatches). */
  readonly loss: number;
  /** Its learning rate. */
  readonly lr: number;
  /** Its batch size in samples. */
  readonly batch_size: number;
  /** Training seconds after it, across resumes. */
  readonly elapsed: number;
  /** Tokens per second in this session. */
  readonly tokens_per_second: number;
};

/**
 * Creates the run folder `<baseDir>/<name>/pretrain/<YYYY-MM-DD>/<HH-MM-SS>/` and returns its
 * path (local time `now`, as Hydra names it; `_1`, `_2`... when that second is taken).
 *
 * @example
 * ```ts
 * import { createRunDir } from "./report.ts";
 * import { match } from "node:assert/strict";
 *
 * const base = await Deno.makeTempDir();
 * const at = new Date(2024, 4, 1, 9, 5, 7);
 * match(await createRunDir(base, "t", at), /t\/pretrain\/2024-05-01\/09-05-07$/);
 * match(await createRunDir(base, "t", at), /09-05-07_1$/);
 * await Deno.remove(base, { recursive: true });
 * ```
 */
export async function createRunDir(
  baseDir: string,
  name: string,
  now: Date = new Date(),
): Promise<string> {
  const pad2 = (n: number) => String(n).padStart(2, "0");
  const day = `${now.getFullYear()}-${pad2(now.getMonth() + 1)}-${pad2(now.getDate())}`;
  const time = `${pad2(now.getHours())}-${pad2(now.getMinutes())}-${pad2(now.getSeconds())}`;
  const parent = join(baseDir, name, "pretrain", day);
  await Deno.mkdir(parent, { recursive: true });
  for (let k = 0;; k++) {
    const dir = join(parent, k === 0 ? time : `${time}_${k}`);
    try {
      await Deno.mkdir(dir);
      return dir;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
}

/** Options of {@link TrainReport}. */
export interface ReportOptions {
  /** The run folder (metrics.jsonl goes there); null: no metrics file. */
  readonly runDir: string | null;
  /** The budget, for the remaining-budget column. */
  readonly budget: Budget;
  /** Plain lines every this many microbatch steps (off a terminal). */
  readonly printEvery: number;
  /** Live line on a terminal (default: whether stderr is one). */
  readonly tty?: boolean;
  /** Where lines go (default: stderr for the live line, stdout otherwise). */
  readonly write?: (text: string) => void;
}

/**
 * The progress display and `metrics.jsonl` of a run.
 *
 * @example
 * ```ts
 * import { TrainReport } from "./report.ts";
 * import { match } from "node:assert/strict";
 *
 * let out = "";
 * const r = new TrainReport({ runDir: null, budget: { kind: "steps", total: 10 }, printEvery: 1,
 *   tty: false, write: (t) => out += t });
 * r.step({ step: 4, optimizer_step: 4, tokens: 400, loss: 1.5, lr: 1e-3, batch_size: 8,
 *   elapsed: 2, tokens_per_second: 200 });
 * match(out, /step 4\/10 loss 1\.5000 lr 1\.00e-3 .* left 6 steps ~3s/);
 * r.close();
 * ```
 */
export class TrainReport {
  #opts: ReportOptions;
  #tty: boolean;
  #write: (text: string) => void;
  #metrics: Deno.FsFile | null = null;
  #encoder = new TextEncoder();
  #lastDraw = -Infinity;
  #live = false;
  #printedStep = 0;

  constructor(options: ReportOptions) {
    this.#opts = options;
    this.#tty = options.tty ?? Deno.stderr.isTerminal();
    this.#write = options.write ??
      ((t) => (this.#tty ? Deno.stderr : Deno.stdout).writeSync(this.#encoder.encode(t)));
    if (options.runDir) {
      this.#metrics = Deno.openSync(join(options.runDir, "metrics.jsonl"), {
        append: true,
        create: true,
      });
    }
  }

  /** Appends one JSON object to `metrics.jsonl`. */
  record(record: Record<string, unknown>): void {
    if (!this.#metrics) return;
    const bytes = this.#encoder.encode(JSON.stringify(record) + "\n");
    for (let n = 0; n < bytes.length;) n += this.#metrics.writeSync(bytes.subarray(n));
  }

  /** Records a step and shows it (live, or as a plain line when due). */
  step(s: StepRecord): void {
    this.record(s);
    const text = this.#describe(s);
    if (this.#tty) {
      const now = performance.now();
      if (now - this.#lastDraw < 100) return;
      this.#lastDraw = now;
      this.#write(`\r\x1b[2K${text}`);
      this.#live = true;
      return;
    }
    const every = Math.max(1, this.#opts.printEvery);
    if (Math.floor(s.step / every) > Math.floor(this.#printedStep / every)) {
      this.#write(text + "\n");
      this.#printedStep = s.step;
    }
  }

  /** Prints `text` as a plain line (ending a live line first). */
  line(text: string): void {
    if (this.#live) this.#write("\n");
    this.#live = false;
    if (this.#tty) console.log(text);
    else this.#write(text + "\n");
  }

  #describe(s: StepRecord): string {
    const b = this.#opts.budget;
    const rate = s.tokens_per_second;
    let left: string;
    if (b.kind === "steps") {
      const n = Math.max(0, b.total - s.step);
      left = `${n} steps ~${duration(rate > 0 ? (n * s.tokens / s.step) / rate : Infinity)}`;
    } else if (b.kind === "tokens") {
      const n = Math.max(0, b.total - s.tokens);
      left = `${compact(n)} tokens ~${duration(rate > 0 ? n / rate : Infinity)}`;
    } else left = duration(Math.max(0, b.total - s.elapsed));
    const of = b.kind === "steps" ? `/${b.total}` : "";
    return `step ${s.step}${of} loss ${s.loss.toFixed(4)} lr ${s.lr.toExponential(2)} ` +
      `batch ${s.batch_size} | ${compact(rate)} tok/s | elapsed ${duration(s.elapsed)} | ` +
      `left ${left}`;
  }

  /** Ends the live line and closes `metrics.jsonl`. */
  close(): void {
    if (this.#live) this.#write("\n");
    this.#live = false;
    this.#metrics?.close();
    this.#metrics = null;
  }
}
