// Golden resume tests of `deno task train` under a step budget: a run stopped by train.steps and
// rerun, and runs SIGKILLed in the middle of checkpoint writes (at each step of the folder swap,
// and at a random moment), continue with exactly the uninterrupted run's losses, bit for bit.

import { deepEqual, ok } from "node:assert/strict";
import { join } from "node:path";
import { checkpointNames, FAST, loggedLosses, runTrain, spawnTrain } from "./_train_helpers.ts";

const STEPS = 12;
const BUDGET = [...FAST, `train.budget_steps=${STEPS}`];

const base = await Deno.makeTempDir();
let reference: [number, number][] | null = null;

/** The uninterrupted run's losses, computed once. */
async function uninterrupted(): Promise<[number, number][]> {
  if (!reference) {
    const r = await runTrain([...BUDGET, "name=ref", `base_dir=${base}`]);
    deepEqual(r.code, 0, r.stderr);
    reference = await loggedLosses(base, "ref");
    deepEqual(reference.map(([s]) => s), Array.from({ length: STEPS }, (_, i) => i + 1));
  }
  return reference;
}

Deno.test("a run stopped by train.steps and rerun has the uninterrupted run's losses", async () => {
  const ref = await uninterrupted();
  const args = [...BUDGET, "name=stop", `base_dir=${base}`];
  const first = await runTrain([...args, "train.steps=5"]);
  deepEqual(first.code, 0, first.stderr);
  const second = await runTrain(args);
  deepEqual(second.code, 0, second.stderr);
  ok(/resuming from .*FINAL_\d\.\d{4} at step 5/.test(second.stdout), second.stdout);
  deepEqual(await loggedLosses(base, "stop"), ref);
  const again = await runTrain(args);
  deepEqual(again.code, 0, again.stderr);
  ok(/is complete at step 12/.test(again.stdout), again.stdout);
  const longer = await runTrain([
    ...FAST,
    "train.budget_steps=14",
    "name=stop",
    `base_dir=${base}`,
  ]);
  deepEqual(longer.code, 0, longer.stderr);
  deepEqual((await loggedLosses(base, "stop")).length, 14);
});

for (const point of ["written", "moved-old", "moved-new"]) {
  Deno.test(`SIGKILL after "${point}" of a checkpoint save: the rerun loads a whole checkpoint`, async () => {
    const ref = await uninterrupted();
    const name = `kill-${point}`;
    const args = [
      ...BUDGET,
      `name=${name}`,
      `base_dir=${base}`,
      "impl.save_every_nth_step=2",
    ];
    const killed = await runTrain(args, { env: { ABACUS_TRAIN_CRASH: `${point}@3` } });
    deepEqual(killed.signal, "SIGKILL", killed.stderr);
    const left = await checkpointNames(base, name);
    ok(left.some((n) => n.includes(".tmp-") || n.endsWith(".old")), `leftovers: ${left}`);
    const resumed = await runTrain(args);
    deepEqual(resumed.code, 0, resumed.stderr);
    const from = point === "moved-new" ? 6 : 4; // the third save holds step 6
    ok(resumed.stdout.includes(`at step ${from}`), resumed.stdout);
    deepEqual(await loggedLosses(base, name), ref);
    const after = await checkpointNames(base, name);
    deepEqual(after.filter((n) => !n.startsWith("FINAL_")), ["last"]);
  });
}

Deno.test("SIGKILL at a random moment while saving every step: the rerun continues exactly", async () => {
  const ref = await uninterrupted();
  const args = [...BUDGET, "name=random", `base_dir=${base}`, "impl.save_every_nth_step=1"];
  const child = spawnTrain(args);
  const state = join(base, "random", "checkpoints", "last", "state.json");
  for (let i = 0; i < 600; i++) {
    try {
      await Deno.stat(state);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 200)));
  child.kill("SIGKILL");
  const killed = await child.output();
  deepEqual(killed.signal, "SIGKILL", "killed before it finished");
  const resumed = await runTrain(args);
  deepEqual(resumed.code, 0, resumed.stderr);
  deepEqual(await loggedLosses(base, "random"), ref);
});

Deno.test("cleanup of the resume tests' folder", async () => {
  await Deno.remove(base, { recursive: true });
});
