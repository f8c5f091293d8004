// A progress display for long-running tasks (dataset generation, training, evaluation): one
// live `\r` line with percent, rate and ETA on a terminal, and plain periodic lines otherwise,
// so logs of non-interactive runs stay readable.

/** Options of `Progress`. */
export interface ProgressOptions {
  /** Output, written synchronously (default `Deno.stderr`). */
  writer?: { writeSync(bytes: Uint8Array): number };
  /** Live single-line display (default: whether stderr is a terminal). */
  tty?: boolean;
  /** Least time between lines in ms (default 100 on a terminal, 5000 otherwise). */
  intervalMs?: number;
  /** Clock in ms (default `performance.now`), for tests. */
  now?: () => number;
}

/**
 * Formats a count as `950`, `12.3k`, `4.57M` or `1.20G`.
 *
 * @example
 * ```ts
 * import { compact } from "./progress.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual([950, 12345, 4.567e6].map(compact), ["950", "12.3k", "4.57M"]);
 * ```
 */
export function compact(x: number): string {
  if (x >= 1e9) return `${(x / 1e9).toFixed(2)}G`;
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(1)}k`;
  return String(Math.round(x));
}

/**
 * Formats seconds, rounded to the second, as `42s`, `3m07s` or `2h05m` (`?` when not finite).
 *
 * @example
 * ```ts
 * import { duration } from "./progress.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * deepEqual([42, 187, 239.7, 7500].map(duration), ["42s", "3m07s", "4m00s", "2h05m"]);
 * ```
 */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds), m = Math.floor(s / 60);
  const pad = (n: number) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  return m < 60 ? `${m}m${pad(s % 60)}s` : `${Math.floor(m / 60)}h${pad(m % 60)}m`;
}

/**
 * Reports progress of a task with a known total.
 *
 * On a terminal it redraws one line (`\r`); otherwise it prints a full line at most every
 * `intervalMs`. `done()` prints the final line with the elapsed time.
 *
 * @example
 * ```ts
 * import { Progress } from "./progress.ts";
 * import assert from "node:assert/strict";
 *
 * const chunks: Uint8Array[] = [];
 * const writer = { writeSync: (b: Uint8Array) => (chunks.push(b), b.length) };
 * let t = 0;
 * const p = new Progress("data", { writer, tty: false, intervalMs: 1000, now: () => t });
 * t = 2000;
 * p.update(50, 100);
 * p.done();
 * const text = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
 * assert.match(text, /data: 50\.0% \(50\/100\)/);
 * assert.match(text, /data: done 100 in 2\.0s/);
 * ```
 */
export class Progress {
  #label: string;
  #writer: NonNullable<ProgressOptions["writer"]>;
  #tty: boolean;
  #interval: number;
  #now: () => number;
  #start: number;
  #last = -Infinity;
  #done = 0;
  #total = 0;
  #finished = false;
  #encoder = new TextEncoder();

  /**
   * @param label Shown at the start of each line.
   */
  constructor(label: string, options: ProgressOptions = {}) {
    this.#label = label;
    this.#writer = options.writer ?? Deno.stderr;
    this.#tty = options.tty ?? Deno.stderr.isTerminal();
    this.#interval = options.intervalMs ?? (this.#tty ? 100 : 5000);
    this.#now = options.now ?? (() => performance.now());
    this.#start = this.#now();
  }

  /** Records progress; draws a line when enough time has passed since the last one. */
  update(done: number, total: number): void {
    this.#done = done;
    this.#total = total;
    const now = this.#now();
    if (now - this.#last < this.#interval) return;
    this.#last = now;
    const elapsed = (now - this.#start) / 1000;
    const rate = elapsed > 0 ? done / elapsed : 0;
    const pct = total > 0 ? (100 * done) / total : 100;
    const eta = rate > 0 ? (total - done) / rate : Infinity;
    const line = `${this.#label}: ${pct.toFixed(1)}% (${compact(done)}/${compact(total)}) ` +
      `${compact(rate)}/s ETA ${duration(eta)}`;
    this.#write(this.#tty ? `\r\x1b[2K${line}` : `${line}\n`);
  }

  /** Prints the final line (once). */
  done(): void {
    if (this.#finished) return;
    this.#finished = true;
    const seconds = ((this.#now() - this.#start) / 1000).toFixed(1);
    const line = `${this.#label}: done ${compact(this.#total || this.#done)} in ${seconds}s`;
    this.#write(this.#tty ? `\r\x1b[2K${line}\n` : `${line}\n`);
  }

  /** Ends a live line without a final message (before printing an error). */
  abort(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#tty && this.#last > -Infinity) this.#write("\n");
  }

  #write(text: string): void {
    const bytes = this.#encoder.encode(text);
    let n = 0;
    while (n < bytes.length) n += this.#writer.writeSync(bytes.subarray(n));
  }
}
