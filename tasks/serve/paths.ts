/**
 * Mapping a request's path onto a file of the served base folder, refusing everything that could
 * leave it: `..` and `.` segments (plain, percent-encoded, double-encoded), backslashes, NUL and
 * other control bytes, drive letters and empty segments (`//`, absolute paths), names starting
 * with a dot, and symbolic links whose target lies outside the folder (checked on the real path).
 * @module
 */
import { join, sep } from "node:path";

/**
 * Decodes and checks the segments of a URL path below a route prefix. A segment must decode
 * (once) to a plain file name: not empty, not `.`/`..`, no dot in front (hidden files and
 * temporaries), no slash, backslash, colon, percent sign (a second encoding layer), or control
 * byte.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { safeSegments } from "./paths.ts";
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
 * import { resolveInBase } from "./paths.ts";
 * const base = await Deno.realPath(await Deno.makeTempDir());
 * await Deno.writeTextFile(`${base}/a.txt`, "hi");
 * strictEqual(await resolveInBase(base, ["a.txt"]), `${base}/a.txt`);
 * strictEqual(await resolveInBase(base, ["missing"]), null);
 * await Deno.remove(base, { recursive: true });
 * ```
 * @param realBase the base folder's real path (`Deno.realPath`)
 * @param segments checked path segments
 * @returns the file's real path, or null (missing, a folder, or outside the base)
 */
export async function resolveInBase(realBase: string, segments: string[]): Promise<string | null> {
  const real = await Deno.realPath(join(realBase, ...segments)).catch(() => null);
  if (!real?.startsWith(realBase.endsWith(sep) ? realBase : realBase + sep)) return null;
  return (await Deno.stat(real).catch(() => null))?.isFile ? real : null;
}
