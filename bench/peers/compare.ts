/**
 * Proves the peer benchmarks run the same computation: writes one inputs file per config, runs
 * every peer on it in its own process, and checks that their first losses agree within a relative
 * tolerance (kernels differ, so bitwise equality is not expected). Also prints each peer's timings.
 * Run from bench/peers (its own deno.json): deno run -A compare.ts [--config tiny|larger|all] [--steps 10]
 * @module
 */
import { encodeInputs, type PeerReport, VOCAB } from "./common.ts";
import { generate } from "./make_inputs.ts";
import { PEER_CONFIGS, type PeersConfig } from "../../tasks/bench/peers.ts";

/** Shape of one benchmark configuration (`deno task bench peers`'s). */
export type BenchConfig = PeersConfig;

/** The two configurations of issue 9, shared with `deno task bench peers`. */
export const CONFIGS: Record<string, BenchConfig> = PEER_CONFIGS;

const here = decodeURIComponent(new URL(".", import.meta.url).pathname);

/**
 * Command lines of abacus's own step and of the peers; each gets the shared CLI appended. The
 * PyTorch one drops OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (they slow OpenBLAS) and uses Debian's
 * python3, where `python3-torch` lives (override with PEER_PYTHON).
 */
export const PEERS: Record<string, string[]> = {
  abacus: [Deno.execPath(), "run", "-A", "--config", here + "deno.json", here + "abacus_step.ts"],
  jax: [Deno.execPath(), "run", "-A", "--config", here + "deno.json", here + "jax_step.ts"],
  tfjs: [Deno.execPath(), "run", "-A", "--config", here + "deno.json", here + "tfjs_step.ts"],
  torch: [
    "env",
    "-u",
    "OPENBLAS_CORETYPE",
    "-u",
    "OPENBLAS_L2_SIZE",
    Deno.env.get("PEER_PYTHON") ?? "/usr/bin/python3",
    here + "torch_step.py",
  ],
};

/**
 * The shared CLI arguments for one run.
 *
 * @returns arguments to append to a peer's command
 */
export function peerArgs(c: BenchConfig, steps: number, seed: number, weights: string): string[] {
  return Object.entries({ ...c, steps, seed, weights }).flatMap(([k, v]) => [`--${k}`, String(v)]);
}

/**
 * Writes the inputs file of a configuration.
 */
export function writeInputs(c: BenchConfig, seed: number, path: string): void {
  const config = { ...c, vocab: VOCAB, seed };
  const { params, tokens } = generate(config);
  Deno.writeFileSync(path, encodeInputs(config, params, tokens));
}

/**
 * Runs one peer command and parses the JSON line it prints last.
 *
 * @param cmd command line (program first)
 * @throws Error when the peer fails or prints no report
 */
export async function runPeer(cmd: string[]): Promise<PeerReport> {
  const out = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  const last = text.split("\n").pop() ?? "";
  if (!out.success || !last.startsWith("{")) {
    throw new Error(`${cmd.join(" ")} failed (exit ${out.code}):\n${text}`);
  }
  return JSON.parse(last) as PeerReport;
}

/**
 * Largest relative difference between two loss curves over their common prefix.
 *
 * @returns max |a - b| / |b|
 */
export function maxRelDiff(a: number[], b: number[]): number {
  let m = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]) / Math.abs(b[i]));
  }
  return m;
}

if (import.meta.main) {
  const opt: Record<string, string> = {
    config: "all",
    steps: "10",
    seed: "1",
    tol: "5e-3",
    peers: "abacus,jax,tfjs,torch",
    dir: "",
    out: "",
  };
  for (let i = 0; i < Deno.args.length; i++) {
    const k = Deno.args[i].replace(/^--/, "");
    if (!(k in opt) || i + 1 >= Deno.args.length) {
      console.error(
        "usage: compare.ts [--config tiny|larger|all] [--steps 10] [--seed 1] [--tol 5e-3] " +
          "[--peers abacus,jax,tfjs,torch] [--dir DIR] [--out FILE.jsonl]",
      );
      Deno.exit(2);
    }
    opt[k] = Deno.args[++i];
  }
  const names = opt.config === "all" ? Object.keys(CONFIGS) : opt.config.split(",");
  const peers = opt.peers.split(",");
  const steps = Number(opt.steps), seed = Number(opt.seed), tol = Number(opt.tol);
  const dir = opt.dir || Deno.makeTempDirSync({ prefix: "abacus-peers-" });
  let ok = true;
  for (const name of names) {
    const c = CONFIGS[name];
    if (!c || !peers.every((p) => p in PEERS)) throw new Error(`unknown config or peer`);
    const path = `${dir}/${name}-seed${seed}.bin`;
    writeInputs(c, seed, path);
    const reports: Record<string, PeerReport> = {};
    for (const p of peers) {
      reports[p] = await runPeer([...PEERS[p], ...peerArgs(c, steps, seed, path)]);
      const r = reports[p];
      if (opt.out) Deno.writeTextFileSync(opt.out, JSON.stringify(r) + "\n", { append: true });
      // Figures are null in JSON when no step followed the warm-up.
      const f = (x: number | null, d: number) => x === null ? "n/a" : x.toFixed(d);
      console.log(
        `${name} ${p.padEnd(5)} median ${f(r.ms_per_step_median, 1)} ms/step ` +
          `(min ${f(r.ms_per_step_min, 1)}, CPU ${f(r.cpu_ms_per_step, 1)} ms), ` +
          `warm-up ${f(r.warmup_ms, 0)} ms, peak RSS ${f(r.peak_rss_mb, 0)} MiB, ` +
          `losses ${r.losses.slice(0, 3).map((x) => x.toFixed(6)).join(" ")} ...`,
      );
    }
    for (let i = 0; i < peers.length; i++) {
      for (let j = i + 1; j < peers.length; j++) {
        const d = maxRelDiff(reports[peers[i]].losses, reports[peers[j]].losses);
        const pass = d <= tol && reports[peers[i]].losses.length >= Math.min(10, steps);
        ok &&= pass;
        console.log(
          `${name} ${peers[i]} vs ${peers[j]}: max relative loss difference over ` +
            `${Math.min(10, steps)} steps ${d.toExponential(2)} ${pass ? "<=" : ">"} ${tol}`,
        );
      }
    }
  }
  console.log(ok ? "losses agree" : "LOSSES DISAGREE");
  if (!ok) Deno.exit(1);
}
