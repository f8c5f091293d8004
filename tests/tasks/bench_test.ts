import { rejects, strictEqual } from "node:assert/strict";
import { BENCHES, main } from "../../tasks/bench.ts";
import { run as profile } from "../../tasks/bench/profile.ts";

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
