import { rejects, strictEqual } from "node:assert/strict";
import { BENCHES, main } from "../../tasks/bench.ts";
import { run as profile } from "../../tasks/bench/profile.ts";
import { HAS_GPU } from "../kernels/_harness.ts";

Deno.test("bench names an unknown benchmark and lists the known ones", async () => {
  const errors: string[] = [];
  const orig = console.error;
  console.error = (m: string) => errors.push(m);
  try {
    strictEqual(await main(["nope"]), 1);
  } finally {
    console.error = orig;
  }
  strictEqual(errors.length, 1);
  for (const name of Object.keys(BENCHES)) strictEqual(errors[0].includes(name), true);
});

Deno.test("bench NAME --help prints that benchmark's flags; a bad flag is one line, exit 1", async () => {
  const out: string[] = [], errors: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = (m: string) => out.push(m);
  console.error = (m: string) => errors.push(m);
  try {
    for (const name of Object.keys(BENCHES)) strictEqual(await main([name, "--help"]), 0);
    strictEqual(await main(["profile", "--reps", "0"]), 1);
  } finally {
    [console.log, console.error] = [log, error];
  }
  strictEqual(out.length, Object.keys(BENCHES).length);
  strictEqual(
    out[7].startsWith("Usage: deno task bench profile [--json] [--config tiny|larger]"),
    true,
  );
  strictEqual(errors.length, 1);
  strictEqual(errors[0].split("\n").length, 1);
  strictEqual(
    errors[0].startsWith("error: bench profile: Unknown or incomplete option --reps"),
    true,
  );
});

Deno.test("bench profile rejects an unknown option or configuration in one line", async () => {
  await rejects(() => profile(["--config", "huge"]), /Unknown or incomplete option --config/);
  await rejects(() => profile(["--reps", "0"]), /--reps N \(>= 1\)/);
});

Deno.test("bench eval rejects a bad model, sample count or digit list in one line", async () => {
  const { run } = await import("../../tasks/bench/eval.ts");
  await rejects(() => run(["--model", "2x2"]), /Unknown --model "2x2"/);
  await rejects(() => run(["--samples", "0"]), /--samples must be a positive integer/);
  await rejects(() => run(["--digits", "20,x"]), /--digits must be positive integers/);
});

Deno.test({
  name: "bench profile replays every dispatch of a training step and reports them by kernel",
  ignore: !HAS_GPU,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lines: string[] = [];
    const log = console.log;
    console.log = (m: string) => lines.push(m);
    try {
      await profile(["--config", "tiny", "--reps", "1", "--json"]);
    } finally {
      console.log = log;
    }
    const r = JSON.parse(lines.join("\n"));
    const kernels = r.kernels as { label: string; dispatches: number; ms: number }[];
    // Every dispatch of the step is replayed once and counted under its label.
    strictEqual(kernels.reduce((n, k) => n + k.dispatches, 0), r.dispatches_per_step);
    for (const label of ["matmul.pack", "attention.forward", "adamw", "cross_entropy"]) {
      strictEqual(kernels.some((k) => k.label === label || k.label.startsWith(label)), true, label);
    }
    strictEqual(r.kernels_ms_total > 0 && r.wall_ms_per_step > 0 && r.host_record_ms > 0, true);
  },
});

Deno.test("bench gpu rejects an unknown flag or a bad round or step count in one line", async () => {
  const { run } = await import("../../tasks/bench/gpu.ts");
  await rejects(() => run(["--fast"]), /unknown flag "--fast"/);
  await rejects(() => run(["--rounds", "0"]), /--rounds must be a positive integer, got 0/);
  await rejects(() => run(["--quick", "--steps", "x"]), /--steps must be a positive integer/);
});
