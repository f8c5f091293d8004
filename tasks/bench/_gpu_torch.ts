/**
 * The PyTorch side of `deno task bench gpu`: finding a `python3` that imports torch, and a
 * long-running `gpu_torch.py` process (bundled beside this module) that runs the same training
 * step as abacus on request, one JSON line per request.
 * @module
 */

/** What the PyTorch side reports, or why it is absent. */
export interface TorchFigures {
  /** Whether PyTorch ran. */
  available: boolean;
  /** Why it did not (no python3, torch not importable, a failure, `--no-torch`). */
  reason?: string;
  /** torch version. */
  version?: string;
  /** CUDA device name, or `cpu`. */
  device?: string;
  /** Whether CUDA was used. */
  cuda?: boolean;
}

/** The model and batch `gpu_torch.py` builds: abacus's arch fields and TBPTT split (n, k). */
export interface TorchShape {
  layers: number;
  hidden: number;
  intermed: number;
  heads: number;
  batch: number;
  seq: number;
  n: number;
  k: number;
}

/** A PyTorch step process speaking `gpu_torch.py`'s line protocol. */
export class TorchPeer {
  #proc: Deno.ChildProcess;
  #lines: ReadableStreamDefaultReader<string>;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #buffered = "";
  /** The script's first line. */
  info: Record<string, unknown> = {};

  constructor(python: string, script: string, c: TorchShape) {
    const args = [script, "--layers", c.layers, "--hidden", c.hidden, "--intermed", c.intermed];
    args.push("--heads", c.heads, "--batch", c.batch, "--seq", c.seq, "--n", c.n, "--k", c.k);
    // As in bench peers: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE slow OpenBLAS down (CPU torch).
    const env = Deno.env.toObject();
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
    this.#proc = new Deno.Command(python, {
      args: args.map(String),
      env,
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#lines = this.#proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.#writer = this.#proc.stdin.getWriter();
  }

  async #line(): Promise<Record<string, unknown>> {
    while (!this.#buffered.includes("\n")) {
      const { value, done } = await this.#lines.read();
      if (done) {
        const err = await new Response(this.#proc.stderr).text();
        const last = err.trim().split("\n").slice(-1)[0] ?? "";
        throw new Error(`the PyTorch step exited: ${last || "no output"}`);
      }
      this.#buffered += value;
    }
    const at = this.#buffered.indexOf("\n");
    const line = this.#buffered.slice(0, at);
    this.#buffered = this.#buffered.slice(at + 1);
    return JSON.parse(line);
  }

  /** Waits for the model to be built. */
  async ready(): Promise<void> {
    this.info = await this.#line();
  }

  /** Runs `steps` steps in a mode; returns their ms and the last loss. */
  async run(mode: "fp32" | "bf16", steps: number): Promise<{ ms: number[]; loss: number }> {
    await this.#writer.write(new TextEncoder().encode(`${mode} ${steps}\n`));
    const r = await this.#line();
    if (typeof r.error === "string") throw new Error(r.error);
    return { ms: r.ms as number[], loss: r.loss as number };
  }

  /** Ends the process. */
  async close(): Promise<void> {
    try {
      await this.#writer.write(new TextEncoder().encode("quit\n"));
      await this.#writer.close();
    } catch { /* already gone */ }
    await this.#proc.status;
    await this.#proc.stderr.cancel().catch(() => {});
  }
}

/**
 * The bundled PyTorch script as a local path (copied to a temporary file when remote).
 *
 * @example
 * ```ts
 * import { torchScript } from "./_gpu_torch.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok((await torchScript()).endsWith("gpu_torch.py"));
 * ```
 */
export async function torchScript(): Promise<string> {
  const url = new URL("./gpu_torch.py", import.meta.url);
  if (url.protocol === "file:") return decodeURIComponent(url.pathname);
  const text = await (await fetch(url)).text();
  const path = await Deno.makeTempFile({ suffix: ".py" });
  await Deno.writeTextFile(path, text);
  return path;
}

/**
 * Whether `python` imports torch: its version and CUDA device, or why not (never throws).
 *
 * @example
 * ```ts
 * import { probeTorch } from "./_gpu_torch.ts";
 * import assert from "node:assert/strict";
 *
 * const t = await probeTorch("/nonexistent/python3");
 * assert.deepEqual(t, { available: false, reason: "/nonexistent/python3 not found" });
 * ```
 */
export async function probeTorch(python: string): Promise<TorchFigures> {
  const code = "import json, torch; print(json.dumps({'version': torch.__version__, " +
    "'cuda': torch.cuda.is_available(), 'device': torch.cuda.get_device_name(0) " +
    "if torch.cuda.is_available() else 'cpu'}))";
  try {
    const r = await new Deno.Command(python, {
      args: ["-c", code],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    if (!r.success) {
      const err = new TextDecoder().decode(r.stderr).trim().split("\n").slice(-1)[0];
      return { available: false, reason: `${python} cannot import torch: ${err}` };
    }
    const info = JSON.parse(new TextDecoder().decode(r.stdout));
    return { available: true, ...info };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return { available: false, reason: `${python} not found` };
    }
    return { available: false, reason: (e as Error).message };
  }
}
