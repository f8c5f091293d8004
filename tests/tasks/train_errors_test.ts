// Bad input to `deno task train` stops it with exit code 1 and one clear line on stderr, and
// leaves every file under the base folder as it was: unknown keys, wrong types, a dataset path
// that does not exist, and corrupted or truncated checkpoints (nothing is deleted or rewritten).

import { deepEqual, match } from "node:assert/strict";
import { join } from "node:path";
import {
  errorLines,
  FAST,
  parseSafetensorsIndependently,
  runTrain,
  snapshot,
} from "./_train_helpers.ts";

const base = await Deno.makeTempDir();
const RUN = [...FAST, "train.budget_steps=4", `base_dir=${base}`];

/** Runs, expects exit 1 with one matching line; every file before is still there, unchanged
 * (`strict`: and nothing was added, not even a run folder). */
async function failsCleanly(args: string[], pattern: RegExp, strict = true): Promise<void> {
  const before = await snapshot(base);
  const r = await runTrain(args);
  deepEqual(r.code, 1, `exit code; stderr: ${r.stderr}`);
  const lines = errorLines(r.stderr);
  deepEqual(lines.length, 1, `one line, got: ${lines.join(" | ")}`);
  match(lines[0], pattern);
  const after = await snapshot(base);
  if (strict) deepEqual(after, before);
  else for (const [k, v] of Object.entries(before)) deepEqual(after[k], v, k);
}

Deno.test("unknown keys and wrong types exit 1 with one line naming the key", async () => {
  await failsCleanly(
    [...RUN, "name=e", "arch.hiden_size=32"],
    /^Unknown config key "arch\.hiden_size": did you mean arch\.hidden_size/,
  );
  await failsCleanly(
    [...RUN, "name=e", "arch.hidden_size=big"],
    /^Invalid value for arch\.hidden_size: expected an integer/,
  );
  await failsCleanly(
    [...RUN, "name=e", "train.budget_steps=1.5"],
    /^Invalid value for train\.budget_steps/,
  );
});

Deno.test("a dataset path that does not exist exits 1 with one line naming the path", async () => {
  await failsCleanly(
    [
      ...RUN,
      "name=e",
      "data.sources.arithmetic.tokenized_dataset_path=arithmetic_data/nope/hf_tokenized_dataset",
    ],
    /^Cannot find dataset .*arithmetic_data\/nope\/hf_tokenized_dataset \(data\.sources\.arithmetic\.tokenized_dataset_path\)/,
  );
  await failsCleanly(
    [...RUN, "name=e", "data.dataset=no-such-set"],
    /^Cannot find dataset "no-such-set"/,
  );
});

Deno.test("a damaged checkpoint or a NaN loss exits 1 with one line; nothing is lost", async () => {
  const ok = await runTrain([...RUN, "name=c"]);
  deepEqual(ok.code, 0, ok.stderr);
  const ck = join(base, "c", "checkpoints");
  const final = [...Deno.readDirSync(ck)].find((e) => e.name.startsWith("FINAL_"))!.name;
  const dir = join(ck, final);
  const model = join(dir, "model.safetensors");
  const bytes = await Deno.readFile(model);
  const longer = [...RUN, "name=c", "train.budget_steps=6"];

  await Deno.writeFile(model, bytes.subarray(0, bytes.length - 100));
  await failsCleanly(
    longer,
    /^Cannot resume from .*FINAL_\d\.\d{4}: model\.safetensors: truncated/,
  );

  await Deno.writeFile(model, bytes.subarray(0, 5));
  await failsCleanly(
    longer,
    /^Cannot resume from .*: model\.safetensors: truncated or not a safetensors file/,
  );

  const broken = bytes.slice();
  broken.set(new TextEncoder().encode("xx"), 8);
  await Deno.writeFile(model, broken);
  await failsCleanly(longer, /^Cannot resume from .*: model\.safetensors: corrupted header/);

  await Deno.writeFile(model, bytes);
  const state = join(dir, "state.json");
  const text = await Deno.readTextFile(state);
  await Deno.writeTextFile(state, text.slice(0, 40));
  await failsCleanly(longer, /^Cannot resume from .*: state\.json is corrupted/);

  await Deno.writeTextFile(state, text);
  await failsCleanly(
    [...longer, "arch.hidden_size=32"],
    /^Cannot resume from .*: it was trained with another config \(arch\.hidden_size 64 -> 32/,
  );

  const nan = bytes.slice();
  const { tensors, dataStart } = parseSafetensorsIndependently(bytes);
  const at = dataStart + offsetOf(bytes, "decoder.weight");
  new DataView(nan.buffer).setFloat32(at, NaN, true);
  deepEqual(Object.keys(tensors).includes("decoder.weight"), true);
  await Deno.writeFile(model, nan);
  await failsCleanly(
    longer,
    /^Training loss is NaN at step 5: stopped without saving; no checkpoint was saved in this/,
    false,
  );

  await Deno.writeFile(model, bytes);
  const resumed = await runTrain(longer); // the repaired checkpoint still resumes
  deepEqual(resumed.code, 0, resumed.stderr);
});

Deno.test("cleanup of the error tests' folder", async () => {
  await Deno.remove(base, { recursive: true });
});

/** Data offset of a tensor, from the file's JSON header. */
function offsetOf(bytes: Uint8Array, name: string): number {
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)))[name].data_offsets[0];
}
