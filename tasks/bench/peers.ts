/**
 * `deno task bench peers [--json] [--config tiny|larger] [--rounds N] [--peers jax,tfjs,torch]`:
 * abacus's training step against jax-js, TensorFlow.js (both on the default WebGPU adapter) and
 * PyTorch on the CPU (issue 9). For each configuration it writes one inputs file (same weights and
 * batch for everyone), then runs abacus and each peer alternately (A B A C A D, per round) in
 * separate processes, and prints steady-state ms/step medians, the ratios abacus/peer, warm-up
 * time, peak RSS and whether the first 10 losses agree with abacus's.
 *
 * The steps themselves live in `bench/peers/` (run from a checkout: that folder is not published)
 * and are spawned, never imported, so this module type-checks without the peers' npm packages.
 * @module
 */
import { parseArgs } from "node:util";
import { probeTorch } from "./_gpu_step.ts";

/** Shape of one benchmark configuration (the shared peer CLI's model and batch options). */
export interface PeersConfig {
  layers: number;
  hidden: number;
  heads: number;
  batch: number;
  seq: number;
}

/** The two configurations of issue 9. */
export const PEER_CONFIGS: Record<string, PeersConfig> = {
  tiny: { layers: 2, hidden: 128, heads: 4, batch: 64, seq: 19 },
  larger: { layers: 4, hidden: 256, heads: 8, batch: 64, seq: 64 },
};

/** The part of a peer's JSON report (see `bench/peers/README.md`) this driver reads. */
interface Report {
  losses: number[];
  warmup_ms: number | null;
  ms_per_step_median: number | null;
  ms_per_step_min: number | null;
  cpu_ms_per_step: number | null;
  peak_rss_mb: number | null;
  setup_ms: number | null;
  details: Record<string, unknown>;
}

const ALL_PEERS = ["jax", "tfjs", "torch"];

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function maxRelDiff(a: number[], b: number[]): number {
  return Math.max(0, ...a.slice(0, b.length).map((x, i) => Math.abs(x - b[i]) / Math.abs(b[i])));
}

function peersDir(): string {
  const url = new URL("../../bench/peers/", import.meta.url);
  if (url.protocol !== "file:") {
    throw new Error("bench peers runs from a checkout of abacus (bench/peers/ is not published)");
  }
  return decodeURIComponent(url.pathname);
}

const python = Deno.env.get("PEER_PYTHON") ?? "/usr/bin/python3";

/** Command line of each framework's step; the shared CLI is appended. */
function commands(dir: string): Record<string, string[]> {
  const deno = [Deno.execPath(), "run", "-A", "--config", dir + "deno.json"];
  // OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE slow OpenBLAS down: dropped for the torch command only.
  const env = ["env", "-u", "OPENBLAS_CORETYPE", "-u", "OPENBLAS_L2_SIZE"];
  return {
    abacus: [...deno, dir + "abacus_step.ts"],
    jax: [...deno, dir + "jax_step.ts"],
    tfjs: [...deno, dir + "tfjs_step.ts"],
    torch: [...env, python, dir + "torch_step.py"],
  };
}

function cliArgs(c: PeersConfig, steps: number, seed: number, weights: string): string[] {
  return Object.entries({ ...c, steps, seed, weights }).flatMap(([k, v]) => [`--${k}`, String(v)]);
}

async function spawn(cmd: string[]): Promise<string> {
  const out = await new Deno.Command(cmd[0], { args: cmd.slice(1) }).output(); // both piped
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join("\n");
    throw new Error(
      `${cmd.find((a) => /\.(ts|py)$/.test(a)) ?? cmd[0]} exited ${out.code}: ${err}`,
    );
  }
  return text;
}

async function runStep(cmd: string[]): Promise<Report> {
  const last = (await spawn(cmd)).split("\n").pop() ?? "";
  if (!last.startsWith("{")) throw new Error(`no JSON report from ${cmd.join(" ")}`);
  return JSON.parse(last) as Report;
}

/**
 * One framework on one configuration over its runs: medians over runs of the steady-state
 * median, CPU ms per step, warm-up (first 2 steps) and setup ms; the fastest step of any run; the
 * largest peak RSS (MiB); abacus's ms/step over this one's (1 for abacus); the largest relative
 * difference of the first 10 losses from abacus's (of the first run) and whether it is within
 * `tol`; each run's median in run order.
 */
function summarise(
  fw: string,
  runs: Report[],
  ref: { ms_per_step_median: number; losses: number[] } | null,
  tol: number,
) {
  const num = (x: number | null) => x ?? NaN;
  const med = median(runs.map((r) => num(r.ms_per_step_median)));
  const losses = runs[0].losses;
  const diff = ref ? maxRelDiff(losses, ref.losses) : 0;
  return {
    framework: fw,
    runs: runs.length,
    ms_per_step_median: med,
    ms_per_step_min: Math.min(...runs.map((r) => num(r.ms_per_step_min))),
    cpu_ms_per_step: median(runs.map((r) => num(r.cpu_ms_per_step))),
    warmup_ms: median(runs.map((r) => num(r.warmup_ms))),
    setup_ms: median(runs.map((r) => num(r.setup_ms))),
    peak_rss_mb: Math.max(...runs.map((r) => num(r.peak_rss_mb))),
    ratio_abacus_over: ref ? ref.ms_per_step_median / med : 1,
    loss_max_rel_diff: diff,
    losses_agree: diff <= tol && losses.length >= 10 && (ref?.losses.length ?? 10) >= 10,
    losses,
    run_medians: runs.map((r) => num(r.ms_per_step_median)),
    details: runs[0].details,
  };
}

/**
 * Runs the benchmark.
 *
 * @example
 * ```ts ignore
 * await run(["--config", "tiny", "--rounds", "1", "--json"]);
 * ```
 * @param args `--json`, `--config tiny|larger` (default both), `--rounds N` (2), `--steps N`
 *   (20), `--seed K` (1), `--tol X` (5e-3, relative, first 10 losses), `--peers jax,tfjs,torch`
 *   (default: those whose runtime is available)
 */
export async function run(args: string[]): Promise<void> {
  const { values: opt } = parseArgs({
    args,
    options: {
      json: { type: "boolean", default: false },
      config: { type: "string", default: "tiny,larger" },
      rounds: { type: "string", default: "2" },
      steps: { type: "string", default: "20" },
      seed: { type: "string", default: "1" },
      tol: { type: "string", default: "5e-3" },
      peers: { type: "string", default: "" },
    },
  });
  const names = opt.config === "all" || opt.config === "both"
    ? Object.keys(PEER_CONFIGS)
    : opt.config.split(",");
  const badConfig = names.find((n) => !(n in PEER_CONFIGS));
  if (badConfig) throw new Error(`Unknown config ${badConfig}: choose tiny or larger`);
  const rounds = Number(opt.rounds), steps = Number(opt.steps), seed = Number(opt.seed);
  const tol = Number(opt.tol);
  if (!(rounds >= 1) || !(steps >= 3)) throw new Error("need --rounds >= 1 and --steps >= 3");
  const notes: string[] = [];
  if (steps < 10) notes.push(`only ${steps} steps: loss agreement needs 10`);
  const hasTorch = (await probeTorch([python])).torch.available;
  let peers = opt.peers ? opt.peers.split(",") : [...ALL_PEERS];
  const badPeer = peers.find((p) => !ALL_PEERS.includes(p));
  if (badPeer) throw new Error(`Unknown peer ${badPeer}: choose from ${ALL_PEERS.join(", ")}`);
  if (peers.includes("torch") && !hasTorch) {
    const hint = opt.peers ? "" : " (apt-get install python3-torch)";
    notes.push(`torch skipped: ${python} cannot import torch${hint}`);
    peers = peers.filter((p) => p !== "torch");
  }
  const dir = peersDir();
  const cmds = commands(dir);
  const tmp = Deno.makeTempDirSync({ prefix: "abacus-bench-peers-" });
  const loadBefore = loadavg();
  const results = [];
  try {
    for (const name of names) {
      const c = PEER_CONFIGS[name];
      const path = `${tmp}/${name}-seed${seed}.bin`;
      await spawn([
        ...cmds.abacus.slice(0, -1),
        dir + "make_inputs.ts",
        ...cliArgs(c, 1, seed, path),
      ]);
      const reports: Record<string, Report[]> = { abacus: [] };
      const failures: Record<string, string> = {};
      for (let round = 0; round < rounds; round++) {
        for (const p of peers.length ? peers : ["abacus"]) {
          for (const fw of p === "abacus" ? ["abacus"] : ["abacus", p]) {
            if (failures[fw]) continue;
            if (!opt.json) console.error(`${name} round ${round + 1}: ${fw} ...`);
            try {
              (reports[fw] ??= []).push(
                await runStep([...cmds[fw], ...cliArgs(c, steps, seed, path)]),
              );
            } catch (e) {
              failures[fw] = (e as Error).message;
              if (!opt.json) console.error(`  ${fw} failed: ${failures[fw]}`);
            }
          }
        }
      }
      if (!reports.abacus.length) throw new Error(`abacus failed on ${name}: ${failures.abacus}`);
      const ref = summarise("abacus", reports.abacus, null, tol);
      const frameworks = [ref];
      for (const p of peers) {
        if (reports[p]?.length) frameworks.push(summarise(p, reports[p], ref, tol));
      }
      results.push({ config: name, shape: c, frameworks, failures });
    }
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
  const loadAfter = loadavg();
  if (opt.json) {
    console.log(JSON.stringify(
      {
        bench: "peers",
        rounds,
        steps,
        seed,
        tol,
        loadavg: { before: loadBefore, after: loadAfter },
        notes,
        results,
      },
      null,
      2,
    ));
    return;
  }
  console.log(
    `bench peers: ${rounds} round(s), ${steps} steps per run (first 2 = warm-up), seed ${seed}; ` +
      `load average ${loadBefore} before, ${loadAfter} after`,
  );
  for (const n of notes) console.log(`note: ${n}`);
  const f = (x: number, d: number) => Number.isFinite(x) ? x.toFixed(d) : "n/a";
  for (const r of results) {
    const s = r.shape;
    console.log(
      `\n${r.config}: ${s.layers} layers, d=${s.hidden}, ${s.heads} heads, B=${s.batch}, T=${s.seq}`,
    );
    console.log(
      "framework  ms/step     min  CPU ms  warm-up ms  setup ms  peak RSS MiB  abacus/peer  " +
        "loss diff  agree",
    );
    for (const x of r.frameworks) {
      console.log(
        `${x.framework.padEnd(9)} ${f(x.ms_per_step_median, 1).padStart(8)} ${
          f(x.ms_per_step_min, 1).padStart(7)
        } ${f(x.cpu_ms_per_step, 1).padStart(7)} ${f(x.warmup_ms, 0).padStart(11)} ${
          f(x.setup_ms, 0).padStart(9)
        } ${f(x.peak_rss_mb, 0).padStart(13)} ${f(x.ratio_abacus_over, 2).padStart(12)} ${
          (x.framework === "abacus" ? "-" : x.loss_max_rel_diff.toExponential(2)).padStart(10)
        }  ${x.framework === "abacus" ? "-" : x.losses_agree ? "yes" : "NO"}`,
      );
    }
    for (const [fw, msg] of Object.entries(r.failures)) console.log(`${fw} failed: ${msg}`);
  }
}

function loadavg(): string {
  return Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
}
