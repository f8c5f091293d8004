/**
 * `deno task serve [base_dir=DIR] [--port N] [--host ADDR]`: a read-only local web server over
 * the runs under the base folder: the runs list, a run page with live loss/learning-rate curves
 * and every evaluation's heatmap (several runs side by side), and `/play`, where a run's newest
 * checkpoint decodes additions in the browser with abacus's own modules (the browser's WebGPU, or
 * the CPU backend). Loopback only unless `--host` says otherwise.
 * @module
 */
import { parseArgs } from "node:util";
import { resolveBaseDir, userCwd } from "../cli/config.ts";
import { startServer } from "./serve/server.ts";

export { type RunningServer, type ServeOptions, startServer } from "./serve/server.ts";

const USAGE = `Usage: deno task serve [base_dir=DIR] [--port N] [--host ADDR]

Serves the runs under the base folder (base_dir=, else $cramming_base_dir, else ./abacus-data):
  /                   every run: config, status (training/finished), steps, last loss, checkpoints
  /run?name=A&name=B  loss and learning-rate curves (live while training) and every evaluation's
                      heatmap with its in/out-of-distribution means, runs side by side
  /play?run=A&a=123&b=456[&backend=cpu]
                      the playground: the run's newest checkpoint adds a + b in the browser
                      (WebGPU when the browser has an adapter, else the CPU backend)
  /files/...          files of the base folder (nothing outside it)

Flags:
  --port N            port (default 8000; 0 picks a free one)
  --host ADDR         interface (default 127.0.0.1, this machine only; 0.0.0.0 for every one:
                      the server is read-only, but anyone who reaches it sees the runs)
  -h, --help          this text`;

/** The command line: `base_dir=DIR`, `--port N`, `--host ADDR` (of each, the last counts). */
function parseServeArgs(argv: string[]): { baseDir: string | null; port: number; host: string } {
  const usage = "use base_dir=DIR, --port N or --host ADDR";
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        port: { type: "string", default: "8000" },
        host: { type: "string", default: "127.0.0.1" },
      },
    });
  } catch (e) {
    throw new Error(`${(e as Error).message.split(/\. |\n/)[0]}: ${usage}`); // e.g. Unknown option '-x'
  }
  const { values: { port, host }, positionals } = parsed;
  let baseDir: string | null = null;
  for (const a of positionals) {
    if (!a.startsWith("base_dir=")) throw new Error(`Unknown serve argument "${a}": ${usage}`);
    baseDir = a.slice("base_dir=".length) || null;
  }
  if (!/^\d+$/.test(port) || Number(port) > 65535) {
    throw new Error(`Cannot parse --port ${port}: expected an integer 0..65535`);
  }
  if (!/^[\w.:-]+$/.test(host)) throw new Error(`Cannot parse --host ${host}: expected an address`);
  return { baseDir, port: Number(port), host };
}

/**
 * Runs the serve task until interrupted.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { main } from "./serve.ts";
 * strictEqual(await main(["--port", "x"]), 1);
 * ```
 * @returns the exit code (1 for bad arguments or a folder that cannot be served)
 */
export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  try {
    const args = parseServeArgs(argv);
    const baseDir = resolveBaseDir(args.baseDir, { cwd: userCwd() });
    const server = await startServer({ ...args, baseDir, log: (line) => console.error(line) });
    console.log(`Serving ${baseDir} at ${server.url}/ (read-only; Ctrl-C stops)`);
    if (!["127.0.0.1", "localhost", "::1"].includes(args.host)) {
      console.log(`Listening on ${args.host}: anyone who reaches this address can read the runs`);
    }
    const stop = () => server.close();
    Deno.addSignalListener("SIGINT", stop);
    if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", stop);
    await server.finished;
    return 0;
  } catch (e) {
    console.error((e as Error).message.split("\n")[0]);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
