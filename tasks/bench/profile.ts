/**
 * `deno task bench profile [--config tiny|larger] [--reps N] [--json]`: where a training step's
 * time goes. Builds a model of the peer benchmark's shape (`tiny`: 2 layers, d=128, 4 heads,
 * B=64, T=19; `larger`: 4 layers, d=256, 8 heads, B=64, T=64), runs a few steps, then records one
 * more step's dispatches and replays each one `reps` times in a submit of its own, timing it
 * against an empty submit. Prints per-kernel milliseconds (grouped by label), the host time spent
 * recording a step, and the step's wall time. Replayed kernels run with warm caches and without
 * their neighbours, so the sum is a guide to where time goes, not the step time itself.
 * @module
 */
import { initBackend } from "../../core/backend.ts";
import { scope } from "../../core/tensor.ts";
import type { DispatchSpec } from "../../kernels/context.ts";
import { Rng } from "../../kernels/rng.ts";
import { resolveArch } from "../../core/nn/arch.ts";
import { PEER_CONFIGS } from "./peers.ts";
import { trainSetup } from "./model.ts";

function parse(args: string[]): { config: string; reps: number; json: boolean } {
  const o = { config: "tiny", reps: 20, json: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--json") o.json = true;
    else if (a === "--config" && args[i + 1] in PEER_CONFIGS) o.config = args[++i];
    else if (a === "--reps" && Number(args[i + 1]) >= 1) o.reps = Math.floor(Number(args[++i]));
    else {
      throw new Error(
        `Unknown or incomplete option ${a}: use --config tiny|larger, --reps N (>= 1), --json`,
      );
    }
  }
  return o;
}

/**
 * Runs the profile.
 *
 * @example
 * ```ts ignore
 * await run(["--config", "tiny", "--json"]);
 * ```
 */
export async function run(args: string[]): Promise<void> {
  const o = parse(args);
  const c = PEER_CONFIGS[o.config];
  const dev = await initBackend();
  if (dev.kind !== "webgpu") throw new Error("bench profile needs a WebGPU adapter");
  const keys: Record<string, unknown> = {
    layers_in_recurrent_block: c.layers,
    maximal_recurrence: 1,
    hidden_size: c.hidden,
    intermed_size: c.hidden,
    attention: { num_attention_heads: c.heads },
    embedding: { pos_embedding: "None", max_seq_length: Math.max(256, c.seq) },
  };
  const { model, opt, record } = trainSetup(resolveArch(keys, 19), dev, c.batch, c.seq);
  const rng = new Rng(7);
  const ids = new Int32Array(c.batch * c.seq).map(() => rng.int(4, 18));
  let hostMs = 0;
  const step = () =>
    scope(() => {
      const t0 = performance.now();
      const loss = record(ids);
      hostMs += performance.now() - t0; // recording only: the readback below submits and waits
      return loss.toArray();
    });
  // Warm-up: compiles, fills the pool and the bind-group cache, and lets V8 optimise the host code.
  for (let i = 0; i < 10; i++) await step();
  hostMs = 0;
  const steps = 20, w0 = performance.now();
  for (let i = 0; i < steps; i++) await step();
  const wallMs = (performance.now() - w0) / steps;
  const hostRecordMs = hostMs / steps; // before the capture step below adds to hostMs
  const d0 = dev.stats.dispatches;

  const captured: DispatchSpec[] = [];
  const dispatch = dev.dispatch.bind(dev);
  dev.dispatch = (s: DispatchSpec) => {
    const p = s.params; // copied: the launcher's params array may be reused
    const params = p && new Uint8Array(p.buffer, p.byteOffset, p.byteLength).slice();
    captured.push({ ...s, params });
    dispatch(s);
  };
  await step();
  dev.dispatch = dispatch;
  const perStep = dev.stats.dispatches - d0;

  let empty = Infinity;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await dev.sync();
    empty = Math.min(empty, performance.now() - t);
  }
  // Each kernel label's share of the replayed step.
  const byLabel = new Map<string, { label: string; dispatches: number; ms: number }>();
  for (const s of captured) {
    let best = Infinity;
    for (let k = 0; k < 3; k++) {
      const t = performance.now();
      for (let i = 0; i < o.reps; i++) dispatch(s);
      await dev.sync();
      best = Math.min(best, (performance.now() - t - empty) / o.reps);
    }
    const label = s.label ?? "(unlabelled)";
    const row = byLabel.get(label) ?? { label, dispatches: 0, ms: 0 };
    row.dispatches++;
    row.ms += Math.max(0, best);
    byLabel.set(label, row);
  }
  const rows = [...byLabel.values()].sort((a, b) => b.ms - a.ms);
  const total = rows.reduce((s, r) => s + r.ms, 0);
  model.dispose();
  opt.dispose();
  const result = {
    bench: "profile",
    adapter: dev.adapterName,
    config: o.config,
    shape: c,
    reps: o.reps,
    wall_ms_per_step: wallMs,
    host_record_ms: hostRecordMs,
    dispatches_per_step: perStep,
    kernels_ms_total: total,
    kernels: rows,
  };
  if (o.json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  console.log(
    `bench profile: ${o.config} (${c.layers} layers, d=${c.hidden}, ${c.heads} heads, ` +
      `B=${c.batch}, T=${c.seq}) on ${dev.adapterName}`,
  );
  console.log(
    `wall ${wallMs.toFixed(1)} ms/step (loss awaited every step); host recording ` +
      `${hostRecordMs.toFixed(1)} ms; ${perStep} dispatches per step`,
  );
  console.log(`kernels replayed ${o.reps}x each, ms per step (sum ${total.toFixed(1)}):`);
  for (const r of rows) {
    console.log(
      `${r.ms.toFixed(2).padStart(8)}  ${(100 * r.ms / total).toFixed(1).padStart(5)}%  ` +
        `${String(r.dispatches).padStart(3)}x  ${r.label}`,
    );
  }
}
