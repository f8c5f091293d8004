/**
 * The HTTP side of `deno task serve`: routes, the file route's confinement to the base folder
 * (refusing `..`, encoded or not, hidden names, absolute paths and symbolic links leading out),
 * server-sent events for live curves, and the browser bundle of the playground, built once with
 * `deno bundle` into a temporary folder on the first visit to the playground (so the other pages
 * never fetch esbuild). Read-only: every method but GET and HEAD gets 405. Bound to a loopback
 * address, requests naming another host are refused (a web page elsewhere cannot reach the server
 * through DNS rebinding). Event streams read the runs' metrics once a second.
 * @module
 */
import { extname, join, sep } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { curvesFigure, playPage, RUN_SCRIPT, runPage, runsPage } from "./pages.ts";
import { listRunNames, playModel, readEvals, readRun, RUN_NAME, type RunInfo } from "./runs.ts";

/** Options of `startServer`. */
export interface ServeOptions {
  /** The folder whose runs are served. */
  baseDir: string;
  /** Port (0: any free one). Default 8000. */
  port?: number;
  /** Interface. Default 127.0.0.1. */
  host?: string;
  /** Called with one line per served request error (default: nothing). */
  log?: (line: string) => void;
}

/** A running server. */
export interface RunningServer {
  /** `http://host:port`, with the port bound. */
  url: string;
  /** Stops listening, ends event streams, removes the bundle. */
  close(): Promise<void>;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
}

/** Content types of the file route; anything else is `application/octet-stream`. */
const TYPES: Record<string, string> = {
  ".json": "application/json",
  ".jsonl": "text/plain; charset=utf-8",
  ".yaml": "text/plain; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

const PAGE_CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "script-src 'self' 'wasm-unsafe-eval'; object-src 'none'; base-uri 'none'; form-action 'self'";

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\./.test(host);
}

/** A response, plain text unless `headers` names another content type. */
function reply(status: number, body: BodyInit | null, headers = {}): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

function html(body: string): Response {
  const type = "text/html; charset=utf-8";
  return reply(200, body, { "content-type": type, "content-security-policy": PAGE_CSP });
}

/** Builds the playground bundle; resolves to its path or rejects with deno bundle's error. */
async function buildBundle(dir: string): Promise<string> {
  const entry = new URL("./play_client.ts", import.meta.url);
  const out = join(dir, "play.js");
  const args = ["bundle", "--quiet", "--platform", "browser", "--output", out];
  if (entry.protocol === "file:") args.push("--config", new URL("../../deno.json", entry).pathname);
  args.push(entry.href);
  const res = await new Deno.Command(Deno.execPath(), { args }).output(); // both piped
  if (!res.success) {
    const err = new TextDecoder().decode(res.stderr).trim().split("\n").slice(-3).join(" ");
    throw new Error(`deno bundle failed: ${err}`);
  }
  return out;
}

/** The run names of a query (`name=` repeated), checked; null when one is malformed. */
function namesOf(url: URL, key = "name"): string[] | null {
  const names = url.searchParams.getAll(key);
  if (names.length === 0 || names.length > 16 || names.some((n) => !RUN_NAME.test(n))) return null;
  return [...new Set(names)];
}

/**
 * Decodes and checks the segments of a URL path below a route prefix. A segment must decode
 * (once) to a plain file name: not empty, not `.`/`..`, no dot in front (hidden files and
 * temporaries), no slash, backslash, colon, percent sign (a second encoding layer), or control
 * byte.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { safeSegments } from "./server.ts";
 * deepStrictEqual(safeSegments("t/checkpoints/last/model.safetensors"),
 *   ["t", "checkpoints", "last", "model.safetensors"]);
 * deepStrictEqual(safeSegments("t/%2e%2e/%2e%2e/etc/passwd"), null);
 * deepStrictEqual(safeSegments("t/%252e%252e/x"), null);
 * ```
 * @param rest the URL-encoded path after the route prefix, without a leading slash
 * @returns the decoded segments, or null when any is refused
 */
export function safeSegments(rest: string): string[] | null {
  if (rest === "" || rest.length > 4096) return null;
  const out: string[] = [];
  for (const raw of rest.split("/")) {
    let s: string;
    try {
      s = decodeURIComponent(raw);
    } catch {
      return null;
    }
    // deno-lint-ignore no-control-regex
    if (s === "" || s.startsWith(".") || /[\/\\:%\x00-\x1f\x7f]/.test(s)) return null;
    out.push(s);
  }
  return out;
}

/**
 * Resolves segments (from `safeSegments`) to a regular file inside `realBase`, following
 * symbolic links and refusing any whose real path leaves the folder.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { resolveInBase } from "./server.ts";
 * const base = await Deno.realPath(await Deno.makeTempDir());
 * await Deno.writeTextFile(`${base}/a.txt`, "hi");
 * strictEqual(await resolveInBase(base, ["a.txt"]), `${base}/a.txt`);
 * strictEqual(await resolveInBase(base, ["missing"]), null);
 * await Deno.remove(base, { recursive: true });
 * ```
 * @param realBase the base folder's real path (`Deno.realPath`)
 * @returns the file's real path, or null (missing, a folder, or outside the base)
 */
export async function resolveInBase(realBase: string, segments: string[]): Promise<string | null> {
  const real = await Deno.realPath(join(realBase, ...segments)).catch(() => null);
  if (!real?.startsWith(realBase.endsWith(sep) ? realBase : realBase + sep)) return null;
  return (await Deno.stat(real).catch(() => null))?.isFile ? real : null;
}

/**
 * Starts the server.
 *
 * @example
 * ```ts ignore
 * const server = await startServer({ baseDir: "/tmp/x", port: 0 });
 * console.log(server.url);
 * await server.close();
 * ```
 * @throws Error when the base folder does not exist or the port cannot be bound
 */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  let realBase: string;
  try {
    realBase = await Deno.realPath(options.baseDir);
    if (!(await Deno.stat(realBase)).isDirectory) throw new Error("not a folder");
  } catch (e) {
    throw new Error(`Cannot serve ${options.baseDir}: ${(e as Error).message.split(":")[0]}`);
  }
  const host = options.host ?? "127.0.0.1";
  const loopback = isLoopback(host);
  const log = options.log ?? (() => {});
  const bundleDir = await Deno.makeTempDir({ prefix: "abacus-serve-" });
  let bundle: Promise<string> | undefined;
  const playBundle = (): Promise<string> =>
    bundle ??= buildBundle(bundleDir).catch((e: Error) => {
      log(`playground bundle: ${e.message}`); // once: a failed bundle is not retried
      throw e;
    });
  const abort = new AbortController();

  const allRuns = async (): Promise<RunInfo[]> =>
    Promise.all((await listRunNames(realBase)).map((n) => readRun(realBase, n)));
  const runsOf = async (names: string[]): Promise<RunInfo[] | null> => {
    const known = new Set(await listRunNames(realBase));
    if (names.some((n) => !known.has(n))) return null;
    return Promise.all(names.map((n) => readRun(realBase, n)));
  };

  /** Server-sent events: the runs' status, last step and loss, sent when they change. */
  const events = (names: string[], req: Request): Response => {
    const stop = AbortSignal.any([req.signal, abort.signal]); // the reader left, or close()
    async function* lines(): AsyncGenerator<string> {
      yield "retry: 2000\n\n";
      let last = "";
      while (!stop.aborted) {
        const runs = await Promise.all(names.map((n) => readRun(realBase, n).catch(() => null)));
        const data = JSON.stringify(runs.map((r, k) => ({
          name: names[k],
          status: r?.status ?? "missing",
          step: r?.points.at(-1)?.step ?? null,
          loss: r?.points.at(-1)?.loss ?? null,
        })));
        yield data === last ? ": alive\n\n" : `event: metrics\ndata: ${data}\n\n`;
        last = data;
        await sleep(1000, undefined, { signal: stop }).catch(() => {});
      }
    }
    const body = ReadableStream.from(lines()).pipeThrough(new TextEncoderStream());
    return reply(200, body, { "content-type": "text/event-stream", "x-accel-buffering": "no" });
  };

  const handle = async (req: Request): Promise<Response> => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return reply(405, "Method not allowed: this server is read-only\n", { allow: "GET, HEAD" });
    }
    const url = new URL(req.url);
    if (loopback) {
      const name = (req.headers.get("host") ?? "").replace(/:\d+$/, "");
      if (!isLoopback(name)) return reply(403, "Forbidden: unexpected Host header\n");
    }
    const path = url.pathname;
    if (path === "/") return html(runsPage(options.baseDir, await allRuns()));
    if (path === "/run" || path === "/curves" || path === "/events") {
      const names = namesOf(url);
      if (!names) return reply(400, "Bad request: give run names as ?name=RUN\n");
      const runs = await runsOf(names);
      if (!runs) return reply(404, "No such run\n");
      if (path === "/events") return events(names, req);
      if (path === "/curves") {
        return reply(200, curvesFigure(runs), { "content-type": "image/svg+xml" });
      }
      return html(runPage(runs, await Promise.all(names.map((n) => readEvals(realBase, n)))));
    }
    if (path === "/play") {
      playBundle().catch(() => {}); // start building while the page loads
      const runs = await allRuns();
      return html(playPage(runs.filter((r) => r.checkpoints.length > 0).map((r) => r.name)));
    }
    if (path === "/api/runs") {
      return Response.json((await allRuns()).map((r) => ({
        name: r.name,
        status: r.status,
        steps: r.points.at(-1)?.step ?? null,
        loss: r.points.at(-1)?.loss ?? null,
        checkpoints: r.checkpoints.map((c) => c.name),
      })));
    }
    if (path === "/api/model") {
      const names = namesOf(url, "run");
      if (!names || names.length !== 1) return reply(400, "Bad request: give ?run=RUN\n");
      if (!(await listRunNames(realBase)).includes(names[0])) return reply(404, "No such run\n");
      const model = await playModel(realBase, names[0]).catch((e: Error) => e);
      if (model instanceof Error) return reply(404, `${model.message.split("\n")[0]}\n`);
      return Response.json(model);
    }
    if (path === "/assets/run.js") {
      return reply(200, RUN_SCRIPT, { "content-type": "text/javascript" });
    }
    if (path === "/assets/play.js") {
      const file = await playBundle().catch((e: Error) => e);
      if (file instanceof Error) return reply(500, `${file.message}\n`);
      const f = await Deno.open(file, { read: true });
      return reply(200, f.readable, { "content-type": "text/javascript" });
    }
    if (path.startsWith("/files/")) {
      const segs = safeSegments(path.slice("/files/".length));
      if (!segs) return reply(403, "Forbidden path\n");
      const file = await resolveInBase(realBase, segs);
      if (!file) return reply(404, "Not found\n");
      const f = req.method === "HEAD" ? null : await Deno.open(file, { read: true });
      const size = (await (f ? f.stat() : Deno.stat(file))).size;
      const type = TYPES[extname(file).toLowerCase()] ?? "application/octet-stream";
      return reply(200, f ? f.readable : null, {
        "content-type": type,
        "content-length": String(size),
        "content-security-policy": "sandbox; default-src 'none'",
      });
    }
    return reply(404, "Not found\n");
  };

  const server = Deno.serve({
    hostname: host,
    port: options.port ?? 8000,
    signal: abort.signal,
    onListen: () => {}, // the task prints its own line
    onError: (e) => {
      log(`error: ${(e as Error).message.split("\n")[0]}`);
      return reply(500, "Internal error\n");
    },
  }, async (req) => {
    const res = await handle(req);
    res.headers.set("cache-control", "no-store"); // runs change while the server is up
    res.headers.set("x-content-type-options", "nosniff");
    res.headers.set("referrer-policy", "no-referrer");
    return res;
  });
  const shown = host.includes(":") ? `[${host}]` : host;
  // Wait for a bundle still being built: deno bundle would recreate the folder after removal.
  const finished = server.finished.then(() => bundle?.catch(() => "")).then(() =>
    Deno.remove(bundleDir, { recursive: true }).catch(() => {})
  );
  return {
    url: `http://${shown}:${server.addr.port}`,
    finished,
    close: async () => {
      abort.abort();
      await finished;
    },
  };
}
