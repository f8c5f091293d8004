/**
 * Shared plumbing of the peer benchmarks (issue 9): the common CLI, the inputs file format written
 * by `make_inputs.ts`, the fixed parameter order, the step-timing loop and the one-line JSON report
 * (fields: `README.md`), so that every Deno peer and abacus's own step measure and print the same
 * way. `torch_step.py` re-implements the same format and report in Python; keep the two in step.
 * @module
 */

import { parseArgs as nodeParseArgs } from "node:util";

/** Vocabulary size of the "pad" tokenizer (digits 4..13, + - x = space). */
export const VOCAB = 19;
/** LayerNorm epsilon of the model (upstream section 2). */
export const LN_EPS = 1e-12;
/** Adam hyper-parameters shared by all peers. */
export const ADAM = { lr: 1e-3, beta1: 0.9, beta2: 0.98, eps: 1e-12, weightDecay: 0 } as const;
/** Magic bytes opening an inputs file. */
const MAGIC = "ABPEER01";

/** The shared CLI: model and batch shape (H = `hidden`, B = `batch`, T = `seq`), the steps to
 * run, of which the first `warmup` are excluded from the median, and the inputs file (`weights`)
 * with the seed it was made from (checked against its header). */
export interface PeerConfig {
  layers: number;
  hidden: number;
  heads: number;
  batch: number;
  seq: number;
  steps: number;
  seed: number;
  weights: string;
  warmup: number;
}

/** One named tensor: row-major shape; linear weights are [out, in] like PyTorch's
 * `Linear.weight`. */
interface TensorSpec {
  name: string;
  shape: number[];
}

/** Header of an inputs file (JSON): the model and batch shape it was made for, and the tensors
 * in file order with their byte offsets from the start of the data section. */
export interface InputsHeader {
  /** Always "abacus-peer-inputs", version 1. */
  format: string;
  version: number;
  config: Pick<PeerConfig, "layers" | "hidden" | "heads" | "batch" | "seq" | "seed"> & {
    vocab: number;
  };
  tensors: (TensorSpec & { offset: number })[];
}

/**
 * The fixed parameter order and shapes of the benchmark model.
 *
 * @returns parameter specs, embedding first, decoder last
 */
export function paramSpecs(layers: number, hidden: number, vocab = VOCAB): TensorSpec[] {
  const h = hidden;
  const specs: TensorSpec[] = [
    { name: "embed.weight", shape: [vocab, h] },
    { name: "embed_norm.weight", shape: [h] },
    { name: "embed_norm.bias", shape: [h] },
  ];
  for (let i = 0; i < layers; i++) {
    const p = `layers.${i}.`;
    specs.push(
      { name: p + "attn.qkv.weight", shape: [3 * h, h] },
      { name: p + "attn.out.weight", shape: [h, h] },
      { name: p + "norm1.weight", shape: [h] },
      { name: p + "norm1.bias", shape: [h] },
      { name: p + "ffn.in.weight", shape: [2 * h, h] },
      { name: p + "ffn.out.weight", shape: [h, h] },
      { name: p + "norm2.weight", shape: [h] },
      { name: p + "norm2.bias", shape: [h] },
    );
  }
  specs.push(
    { name: "final_norm.weight", shape: [h] },
    { name: "final_norm.bias", shape: [h] },
    { name: "decoder.weight", shape: [vocab, h] },
  );
  return specs;
}

const USAGE = "usage: --layers N --hidden H --heads h --batch B --seq T --steps S --seed K " +
  "--weights FILE [--warmup W]";

/**
 * Parses the shared peer CLI (`--name value` or `--name=value`).
 *
 * @throws Error on a missing, unknown or malformed option
 */
export function parseArgs(args: string[]): PeerConfig {
  const names = ["layers", "hidden", "heads", "batch", "seq", "steps", "seed", "warmup", "weights"];
  let values: Record<string, string | undefined>;
  try {
    const options = Object.fromEntries(names.map((k) => [k, { type: "string" as const }]));
    values = nodeParseArgs({ args, options }).values;
  } catch (e) {
    throw new Error(`${(e as Error).message.split("\n")[0]}\n${USAGE}`);
  }
  const int = (k: string, def?: number): number => {
    const v = values[k];
    if (v === undefined) {
      if (def === undefined) throw new Error(`missing --${k}\n${USAGE}`);
      return def;
    }
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${k} must be a non-negative integer`);
    return n;
  };
  const cfg: PeerConfig = {
    layers: int("layers"),
    hidden: int("hidden"),
    heads: int("heads"),
    batch: int("batch"),
    seq: int("seq"),
    steps: int("steps"),
    seed: int("seed"),
    warmup: int("warmup", 2),
    weights: values.weights ?? "",
  };
  if (!cfg.weights) throw new Error(`missing --weights\n${USAGE}`);
  if (cfg.heads < 1 || cfg.hidden % cfg.heads !== 0) {
    throw new Error(`--hidden ${cfg.hidden} must be a multiple of --heads ${cfg.heads}`);
  }
  if (cfg.seq < 2 || cfg.batch < 1 || cfg.steps < 1) {
    throw new Error("need --seq >= 2, --batch >= 1, --steps >= 1");
  }
  return cfg;
}

/**
 * Serialises parameters and tokens into the inputs format: 8 magic bytes `ABPEER01`, a u32 LE
 * header length n, n bytes of UTF-8 JSON (space-padded so the data starts 4-byte aligned), then the
 * data section: each tensor as little-endian f32 at its header `offset`, tokens last as f32 values.
 *
 * @param params parameter data in `paramSpecs` order
 * @param tokens (B, T) token ids
 */
export function encodeInputs(
  config: InputsHeader["config"],
  params: Float32Array[],
  tokens: Int32Array,
): Uint8Array {
  const specs = [...paramSpecs(config.layers, config.hidden, config.vocab), {
    name: "tokens",
    shape: [config.batch, config.seq],
  }];
  const blobs = [...params, Float32Array.from(tokens)];
  let offset = 0;
  const tensors = specs.map((s, i) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (blobs[i].length !== n) throw new Error(`${s.name}: ${blobs[i].length} values, want ${n}`);
    const t = { ...s, offset };
    offset += 4 * n;
    return t;
  });
  const header: InputsHeader = { format: "abacus-peer-inputs", version: 1, config, tensors };
  const text = JSON.stringify(header);
  const raw = new TextEncoder().encode(text);
  const json = new TextEncoder().encode(text + " ".repeat((4 - ((12 + raw.length) % 4)) % 4));
  const out = new Uint8Array(12 + json.length + offset);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, 12);
  const view = new DataView(out.buffer, 12 + json.length);
  tensors.forEach((t, i) => blobs[i].forEach((v, j) => view.setFloat32(t.offset + 4 * j, v, true)));
  return out;
}

/**
 * Reads an inputs file (`cfg.weights`) and checks it matches the CLI configuration.
 *
 * @returns parameters in `paramSpecs` order and the (B, T) token batch
 * @throws Error when the file is malformed or made for another shape or seed
 */
export function readInputs(
  cfg: PeerConfig,
): {
  params: { spec: TensorSpec; data: Float32Array<ArrayBuffer> }[];
  tokens: Int32Array<ArrayBuffer>;
} {
  const bytes = Deno.readFileSync(cfg.weights);
  if (new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    throw new Error(`${cfg.weights}: not an abacus peer inputs file`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + n))) as InputsHeader;
  const c = header.config;
  for (const k of ["layers", "hidden", "heads", "batch", "seq", "seed"] as const) {
    if (c[k] !== cfg[k]) {
      throw new Error(`${cfg.weights} was made for --${k} ${c[k]}, not ${cfg[k]}`);
    }
  }
  const read = (t: InputsHeader["tensors"][number]): Float32Array<ArrayBuffer> => {
    const len = t.shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(len);
    for (let j = 0; j < len; j++) out[j] = view.getFloat32(12 + n + t.offset + 4 * j, true);
    return out;
  };
  const specs = paramSpecs(c.layers, c.hidden, c.vocab);
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  const params = specs.map((spec) => {
    const t = byName.get(spec.name);
    if (!t || t.shape.join() !== spec.shape.join()) throw new Error(`bad tensor ${spec.name}`);
    return { spec, data: read(t) };
  });
  const tok = byName.get("tokens");
  if (!tok) throw new Error("no tokens in inputs file");
  return { params, tokens: Int32Array.from(read(tok)) };
}

/**
 * The (B*T, V) one-hot targets of a (B, T) token batch: position t's target is token t+1; the
 * last position of each row is ignored (an all-zero row).
 */
export function oneHotTargets(cfg: PeerConfig, tokens: Int32Array): Float32Array<ArrayBuffer> {
  const { batch: B, seq: T } = cfg;
  const out = new Float32Array(B * T * VOCAB);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) out[(b * T + t) * VOCAB + tokens[b * T + t + 1]] = 1;
  }
  return out;
}

/** Peak resident set size of this process so far (VmHWM), in MiB (NaN without /proc); on
 * llvmpipe GPU buffers live in process memory, so this covers them too. */
function peakRssMb(): number {
  try {
    const m = Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\s+(\d+)\s+kB/);
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** CPU time this process has used so far (all threads, user + system), in ms (NaN without
 * /proc; 10 ms resolution). On llvmpipe the GPU work runs on this process's threads. */
function processCpuMs(): number {
  try {
    const stat = Deno.readTextFileSync("/proc/self/stat");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10; // utime + stime, in 100 Hz clock ticks
  } catch {
    return NaN;
  }
}

function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Runs `cfg.steps` training steps and prints the JSON report line (fields: `README.md`). A step's
 * time runs from the previous loss reaching the host (or the start) until its own does. With
 * `overlap`, each step is started before the previous loss is awaited (and one unreported step
 * follows the last, so that it too overlaps its successor).
 *
 * @param setupStart when setup (building the model, uploading weights) began: `setup_ms` ends here
 * @param step one training step resolving to its loss
 * @param details version, backend and settings (read after the steps)
 */
export async function runSteps(
  framework: string,
  cfg: PeerConfig,
  setupStart: number,
  step: () => Promise<number>,
  details: () => Record<string, unknown>,
  overlap = false,
): Promise<void> {
  const setupMs = performance.now() - setupStart;
  const losses: number[] = [], stepMs: number[] = [], cpuMs: number[] = [];
  let last = performance.now(), lastCpu = processCpuMs();
  const arrived = (loss: number) => {
    const now = performance.now(), cpu = processCpuMs();
    losses.push(loss);
    stepMs.push(now - last);
    cpuMs.push(cpu - lastCpu);
    last = now;
    lastCpu = cpu;
  };
  let pending = overlap ? step() : null;
  for (let i = 0; i < cfg.steps; i++) {
    if (!pending) {
      arrived(await step());
      continue;
    }
    const next = step();
    arrived(await pending);
    pending = next;
  }
  await pending;
  const { weights: _w, ...config } = cfg;
  const w = Math.min(cfg.warmup, stepMs.length);
  const r1 = (x: number) => Math.round(x * 1000) / 1000;
  console.log(JSON.stringify({
    framework,
    details: details(),
    config,
    losses: losses.slice(0, 10),
    warmup_ms: r1(stepMs.slice(0, w).reduce((a, b) => a + b, 0)),
    ms_per_step_median: r1(median(stepMs.slice(w))),
    ms_per_step_min: r1(Math.min(...stepMs.slice(w))),
    cpu_ms_per_step: r1(cpuMs.slice(w).reduce((a, b) => a + b, 0) / (cpuMs.length - w)),
    peak_rss_mb: r1(peakRssMb()),
    setup_ms: r1(setupMs),
    step_ms: stepMs.map(r1),
    final_loss: losses[losses.length - 1],
  }));
}
