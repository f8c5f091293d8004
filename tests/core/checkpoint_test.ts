// Checkpoint folders: atomic replacement survives a crash between any two steps (simulated
// with leftover tmp/old folders, and for real by SIGKILL-ing a writer), the listing orders by
// the stored timestamp, state.json errors are one line, and upstream's key spelling.

import { deepStrictEqual as equal, ok, rejects } from "node:assert/strict";
import {
  listCheckpoints,
  readCheckpointState,
  recoverCheckpointDir,
  saveCheckpointDir,
  writeFileAtomic,
} from "../../core/checkpoint.ts";
import { normalizeKey } from "../../core/state_keys.ts";
import { writeSafetensors } from "../../core/safetensors_write.ts";
import { readSafetensors } from "../../core/safetensors.ts";

function state(step: number, savedAt: string): string {
  return JSON.stringify({
    format: "abacus-checkpoint",
    version: 1,
    saved_at: savedAt,
    kind: "intermediate",
    step,
    optimizer_steps: step,
    tokens: step * 64,
    elapsed_seconds: step,
    schedule: { progress: 0, lr: 0, batch_size: 1 },
    data: { dataset: "d", position: step, epoch: 0 },
    rng: {},
    loss: 1 / step,
    config_hash: "h",
  });
}

const at = (minute: number) => `2024-05-01T10:${String(minute).padStart(2, "0")}:00.000Z`;

function files(step: number, minute = step) {
  return {
    "model.safetensors": (p: string) =>
      writeSafetensors(p, {
        w: { dtype: "F32", shape: [4], data: new Float32Array(4).fill(step) },
      }),
    "model_config.json": '{"hidden_size": 4}',
    "state.json": state(step, at(minute)),
  };
}

async function stepOf(dir: string): Promise<number> {
  const w = (await readSafetensors(`${dir}/model.safetensors`)).tensors.w.data as Float32Array;
  const s = (await readCheckpointState(dir)).step;
  ok(w.every((v) => v === s), "weights and state belong to the same save");
  return s;
}

const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("saveCheckpointDir() writes bytes, text and writer functions, replacing the old folder", async () => {
  const run = await Deno.makeTempDir();
  const dir = `${run}/checkpoints/last`;
  await saveCheckpointDir(dir, { ...files(1), "raw.bin": new Uint8Array([1, 2]) });
  await saveCheckpointDir(dir, files(2));
  equal(names(dir), ["model.safetensors", "model_config.json", "state.json"]);
  equal(names(`${run}/checkpoints`), ["last"]);
  equal(await stepOf(dir), 2);
  await rejects(
    () => saveCheckpointDir(dir, { "../x": "a" }),
    /Cannot save checkpoint file "..\/x": expected a plain file name/,
  );
  await Deno.remove(run, { recursive: true });
});

for (const crash of ["written", "moved-old", "moved-new"] as const) {
  Deno.test(`a save interrupted after "${crash}" leaves a whole checkpoint that the next save repairs`, async () => {
    const run = await Deno.makeTempDir();
    const dir = `${run}/checkpoints/last`;
    await saveCheckpointDir(dir, files(1));
    await saveCheckpointDir(dir, files(2), { crashAfter: crash });
    const leftovers = names(`${run}/checkpoints`);
    const [found] = await listCheckpoints(run);
    equal(found.name, "last");
    const expectStep = crash === "moved-new" ? 2 : 1;
    equal(await stepOf(found.path), expectStep, `listing after ${crash} (${leftovers})`);
    if (crash === "moved-old") {
      equal(leftovers, ["last.old", `last.tmp-${Deno.pid}`]);
      equal(found.path, `${dir}.old`);
    }
    equal(await recoverCheckpointDir(dir), crash === "moved-old" ? "restored" : "intact");
    equal(names(`${run}/checkpoints`), ["last"]);
    equal(await stepOf(dir), expectStep);
    await saveCheckpointDir(dir, files(3));
    equal([names(`${run}/checkpoints`), await stepOf(dir)], [["last"], 3]);
    await Deno.remove(run, { recursive: true });
  });
}

Deno.test("a writer killed with SIGKILL at random moments always leaves a whole checkpoint", async () => {
  const run = await Deno.makeTempDir();
  const root = new URL("../../core/", import.meta.url).href;
  const code = `
    import { saveCheckpointDir } from "${root}checkpoint.ts";
    import { writeSafetensors } from "${root}safetensors_write.ts";
    for (let step = Number(Deno.args[1]); ; step++) {
      const w = new Float32Array(1 << 19).fill(step);
      await saveCheckpointDir(Deno.args[0], {
        "model.safetensors": (p) => writeSafetensors(p, { w: { dtype: "F32", shape: [w.length], data: w } }),
        "state.json": JSON.stringify({ format: "abacus-checkpoint", version: 1, saved_at: new Date().toISOString(),
          step, optimizer_steps: step, tokens: step, elapsed_seconds: step, loss: 1, config_hash: "h" }),
      });
    }`;
  let last = 0;
  for (const delay of [900, 1150, 1400, 1650]) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", code, "--", `${run}/checkpoints/last`, String(last + 1)],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    await new Promise((r) => setTimeout(r, delay + Math.random() * 200));
    child.kill("SIGKILL");
    await child.output();
    const [found] = await listCheckpoints(run);
    ok(found, `a checkpoint exists after a kill at ${delay} ms`);
    const step = await stepOf(found.path);
    ok(step >= last, "never older than before");
    last = step;
  }
  ok(last > 0, "the writer saved at least once");
  await Deno.remove(run, { recursive: true });
});

Deno.test("listCheckpoints() orders by the stored saved_at, not by file times", async () => {
  const run = await Deno.makeTempDir();
  const ck = `${run}/checkpoints`;
  await saveCheckpointDir(`${ck}/FINAL_0.1000`, files(9, 30));
  await saveCheckpointDir(`${ck}/last`, files(5, 10));
  await saveCheckpointDir(`${ck}/older`, files(2, 5));
  await Deno.utime(`${ck}/older`, new Date(), new Date(Date.now() + 1e6));
  await Deno.mkdir(`${ck}/upstream_copy`);
  await Deno.mkdir(`${ck}/x.tmp-123`);
  await Deno.writeTextFile(`${ck}/notes.txt`, "not a folder");
  const list = await listCheckpoints(run);
  equal(list.map((c) => c.name), ["FINAL_0.1000", "last", "older", "upstream_copy"]);
  equal([list[0].savedAt, list[0].step, list[0].loss], [at(30), 9, 1 / 9]);
  equal([list[3].savedAt, list[3].step], [null, null]);
  equal(await listCheckpoints(`${run}/missing`), []);
  await Deno.remove(run, { recursive: true });
});

Deno.test("readCheckpointState() explains a missing or corrupted state.json in one line", async () => {
  const dir = await Deno.makeTempDir();
  await rejects(
    () => readCheckpointState(dir),
    /Cannot read checkpoint state .*state.json: no such file/,
  );
  const bad: [string, RegExp][] = [
    ['{"format":', /is corrupted: /],
    ["[]", /is corrupted: not a JSON object/],
    ["{}", /is corrupted: format is undefined, expected "abacus-checkpoint"/],
    [state(1, "yesterday"), /saved_at is "yesterday", expected an ISO 8601 time/],
    [state(1, at(1)).replace('"step":1', '"step":-1'), /step is -1/],
    [state(1, at(1)).replace('"config_hash":"h"', '"config_hash":1'), /config_hash is 1/],
  ];
  for (const [text, re] of bad) {
    await Deno.writeTextFile(`${dir}/state.json`, text);
    await rejects(() => readCheckpointState(dir), (e: Error) => {
      ok(
        e.name === "CheckpointError" && re.test(e.message) && !e.message.includes("\n"),
        e.message,
      );
      return true;
    });
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("writeFileAtomic() leaves the previous file and no temporary when the writer fails", async () => {
  const dir = await Deno.makeTempDir();
  await writeFileAtomic(`${dir}/a.json`, "old");
  await rejects(
    () =>
      writeFileAtomic(
        `${dir}/a.json`,
        (function* () {
          yield new TextEncoder().encode("partial");
          throw new Error("disk full");
        })(),
      ),
    /disk full/,
  );
  equal([await Deno.readTextFile(`${dir}/a.json`), names(dir)], ["old", ["a.json"]]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("normalizeKey() writes upstream's _orig_mod. keys and accepts keys without it", () => {
  const cases: [string, string][] = [
    [
      "encoder.recurrent_block.layers.0.attn.attn.in_proj_weight",
      "encoder.recurrent_block._orig_mod.layers.0.attn.attn.in_proj_weight",
    ],
    [
      "encoder.recurrent_block._orig_mod.layers.1.ffn.dense_out.weight",
      "encoder.recurrent_block._orig_mod.layers.1.ffn.dense_out.weight",
    ],
    [
      "encoder.recurrent_blocks.3.layers.0.residual1.norm.bias",
      "encoder.recurrent_blocks.3._orig_mod.layers.0.residual1.norm.bias",
    ],
    [
      "encoder.recurrent_blocks.12._orig_mod.layers.0.attn.norm_factor",
      "encoder.recurrent_blocks.12._orig_mod.layers.0.attn.norm_factor",
    ],
    [
      "module._orig_mod.encoder.recurrent_block.layers.0.x",
      "encoder.recurrent_block._orig_mod.layers.0.x",
    ],
    ["encoder.embedding.word_embedding.weight", "encoder.embedding.word_embedding.weight"],
    ["adapter.weight", "adapter.weight"],
  ];
  for (const [input, want] of cases) {
    equal(normalizeKey(input), want);
    equal(normalizeKey(want), want, "idempotent");
  }
});
