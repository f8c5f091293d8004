/**
 * Shared plumbing of the peer benchmarks (issue 9): the common CLI, the inputs file format written
 * by `make_inputs.ts`, the fixed parameter order, the step-timing loop and the one-line JSON report,
 * so that every Deno peer (and abacus's own step, later) measures and prints the same way.
 * `torch_step.py` re-implements the same format and report in Python; keep the two in step.
 * @module
 */

/** Vocabulary size of the "pad" tokenizer (digits 4..13, + - x = space). */
export const VOCAB = 19;
/** LayerNorm epsilon of the model (upstream section 2). */
export const LN_EPS = 1e-12;
/** Adam hyper-parameters shared by all peers. */
export const ADAM = { lr: 1e-3, beta1: 0.9, beta2: 0.98, eps: 1e-12, weightDecay: 0 } as const;
/** Magic bytes opening an inputs file. */
export const MAGIC = "ABPEER01";

/** Command-line configuration shared by every peer. */
export interface PeerConfig {
  /** Number of transformer layers. */
  layers: number;
  /** Hidden width H. */
  hidden: number;
  /** Attention heads (H must divide by it). */
  heads: number;
  /** Batch size B. */
  batch: number;
  /** Sequence length T. */
  seq: number;
  /** Training steps to run. */
  steps: number;
  /** Seed the inputs file was generated from (checked against its header). */
  seed: number;
  /** Path of the inputs file. */
  weights: string;
  /** Leading steps counted as warm-up (excluded from the median). */
  warmup: number;
}

/** One named tensor of an inputs file. */
export interface TensorSpec {
  /** Parameter name, e.g. `layers.0.attn.qkv.weight`. */
  name: string;
  /** Shape, row-major; linear weights are [out, in] like PyTorch's `Linear.weight`. */
  shape: number[];
}

/** Header of an inputs file (JSON). */
export interface InputsHeader {
  /** Always "abacus-peer-inputs". */
  format: string;
  /** Format version (1). */
  version: number;
  /** Model and batch shape the file was made for. */
  config: {
    layers: number;
    hidden: number;
    heads: number;
    batch: number;
    seq: number;
    vocab: number;
    seed: number;
  };
  /** Tensors in file order with their byte offsets from the start of the data section. */
  tensors: (TensorSpec & { offset: number })[];
}

/** A parsed inputs file: parameters in the fixed order plus the token batch. */
export interface Inputs {
  /** The JSON header. */
  header: InputsHeader;
  /** Parameters in `paramSpecs` order. */
  params: { spec: TensorSpec; data: Float32Array<ArrayBuffer> }[];
  /** Tokens (B, T) as integers. */
  tokens: Int32Array<ArrayBuffer>;
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
  const raw = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}\n${USAGE}`);
    const eq = a.indexOf("=");
    if (eq > 0) raw.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < args.length) raw.set(a.slice(2), args[++i]);
    else throw new Error(`missing value for ${a}\n${USAGE}`);
  }
  const int = (k: string, def?: number): number => {
    const v = raw.get(k);
    raw.delete(k);
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
    weights: raw.get("weights") ?? "",
  };
  raw.delete("weights");
  if (!cfg.weights) throw new Error(`missing --weights\n${USAGE}`);
  if (raw.size) throw new Error(`unknown option --${[...raw.keys()][0]}\n${USAGE}`);
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
 * Reads an inputs file and checks it matches the CLI configuration.
 *
 * @param cfg the peer configuration (its `weights` is the path)
 * @returns parameters in the fixed order and the token batch
 * @throws Error when the file is malformed or made for another shape or seed
 */
export function readInputs(cfg: PeerConfig): Inputs {
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
  return { header, params, tokens: Int32Array.from(read(tok)) };
}

/**
 * Peak resident set size of this process so far (VmHWM), in MiB; on llvmpipe GPU buffers live in
 * process memory, so this covers them too.
 *
 * @returns peak RSS in MiB, or NaN where /proc is unavailable
 */
export function peakRssMb(): number {
  try {
    const m = Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\s+(\d+)\s+kB/);
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * CPU time this process has used so far (all threads, user + system), in ms, from /proc/self/stat
 * (10 ms resolution). On llvmpipe the GPU work runs on this process's threads, so it is counted.
 *
 * @returns CPU ms, or NaN where /proc is unavailable
 */
export function processCpuMs(): number {
  try {
    const stat = Deno.readTextFileSync("/proc/self/stat");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10; // utime + stime, in 100 Hz clock ticks
  } catch {
    return NaN;
  }
}

/**
 * Median of a list of numbers.
 *
 * @param xs values (not modified)
 * @returns the median, NaN for an empty list
 */
export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Result of `timeSteps`. */
export interface StepTimes {
  /** Loss of every step. */
  losses: number[];
  /** Wall time of every step, ms (each ends when its loss is on the host). */
  stepMs: number[];
  /** Process CPU time of every step, ms (10 ms resolution). */
  cpuMs: number[];
}

/**
 * Runs `steps` training steps, timing each from its start until its loss is read back.
 *
 * @param step one training step resolving to its loss
 */
export async function timeSteps(steps: number, step: () => Promise<number>): Promise<StepTimes> {
  const losses: number[] = [], stepMs: number[] = [], cpuMs: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now(), c0 = processCpuMs();
    losses.push(await step());
    stepMs.push(performance.now() - t0);
    cpuMs.push(processCpuMs() - c0);
  }
  return { losses, stepMs, cpuMs };
}

/** The JSON line every peer prints. */
export interface PeerReport {
  /** Framework name, e.g. "jax-js". */
  framework: string;
  /** Version, backend and settings. */
  details: Record<string, unknown>;
  /** The CLI configuration (without the path). */
  config: Omit<PeerConfig, "weights">;
  /** Losses of the first 10 steps. */
  losses: number[];
  /** Time of the first `warmup` steps together (compilation included), ms. */
  warmup_ms: number;
  /** Median time of the steps after the warm-up, ms. */
  ms_per_step_median: number;
  /** Fastest step after the warm-up, ms (robust on a shared machine). */
  ms_per_step_min: number;
  /** Mean process CPU time per step after the warm-up, ms (steadier than wall time when the
   * machine is shared). */
  cpu_ms_per_step: number;
  /** Peak RSS, MiB. */
  peak_rss_mb: number;
  /** Time to build the model and upload weights before step 1, ms. */
  setup_ms: number;
  /** Every step's time, ms. */
  step_ms: number[];
  /** Loss after the last step. */
  final_loss: number;
}

/**
 * Builds the report line from the timings.
 *
 * @param setupMs setup time before step 1
 */
export function makeReport(
  framework: string,
  details: Record<string, unknown>,
  cfg: PeerConfig,
  setupMs: number,
  t: StepTimes,
): PeerReport {
  const { weights: _w, ...config } = cfg;
  const w = Math.min(cfg.warmup, t.stepMs.length);
  const r1 = (x: number) => Math.round(x * 1000) / 1000;
  return {
    framework,
    details,
    config,
    losses: t.losses.slice(0, 10),
    warmup_ms: r1(t.stepMs.slice(0, w).reduce((a, b) => a + b, 0)),
    ms_per_step_median: r1(median(t.stepMs.slice(w))),
    ms_per_step_min: r1(Math.min(...t.stepMs.slice(w))),
    cpu_ms_per_step: r1(t.cpuMs.slice(w).reduce((a, b) => a + b, 0) / (t.cpuMs.length - w)),
    peak_rss_mb: r1(peakRssMb()),
    setup_ms: r1(setupMs),
    step_ms: t.stepMs.map(r1),
    final_loss: t.losses[t.losses.length - 1],
  };
}
