// The one config schema (cli/config_keys.ts): every shipped YAML group and preset validates
// against it, the model's own defaults match the YAML's, the values the model implements are
// accepted (arch.head=linear) and the ones it does not are refused everywhere with one line.

import { deepStrictEqual as equal, ok, rejects, throws } from "node:assert/strict";
import { loadConfig, parseArchConfig } from "../../cli/config.ts";
import { GROUP_OPTIONS, PRESET_NAMES, schemaFor } from "../../cli/config_keys.ts";
import { keyInfo } from "../../cli/config_schema.ts";
import { configTypes } from "../../cli/config_keys.ts";
import { resolveArch } from "../../core/nn/arch.ts";
import { ArithmeticModel } from "../../core/nn/model.ts";
import { paramList } from "../../core/nn/params.ts";
import { CPU } from "../../core/backend.ts";

const opts = { env: () => undefined, cwd: "/work/x", log: () => {} };
const load = (args: string[]) => loadConfig(args, "pretrain", opts);

Deno.test("every YAML group option and preset validates against the schema", async () => {
  const dir = new URL("../../cli/config/", import.meta.url);
  const files: string[] = [];
  for await (const g of Deno.readDir(dir)) {
    if (!g.isDirectory) continue;
    for await (const f of Deno.readDir(new URL(`${g.name}/`, dir))) {
      files.push(`${g.name}/${f.name}`);
    }
  }
  const covered = new Set<string>();
  for (const kind of ["pretrain", "eval"] as const) {
    for (const [group, options] of Object.entries(GROUP_OPTIONS[kind])) {
      for (const option of options) {
        await loadConfig([`${group}=${option}`], kind, opts);
        covered.add(`${group}/${option}.yaml`);
      }
    }
  }
  for (const preset of PRESET_NAMES) {
    const cfg = await load([`preset=${preset}`]);
    equal(cfg.preset, preset);
    covered.add(`presets/${preset}.yaml`);
  }
  equal(files.sort(), [...covered].sort());
});

Deno.test("ARCH_DEFAULTS of core/nn/arch.ts are the YAML defaults", async () => {
  const cfg = await load([]);
  equal(resolveArch(cfg.arch, 19), resolveArch({}, 19));
});

Deno.test("arch.head accepts every head the model builds, linear included", async () => {
  for (const head of ["ffn", "identity", "linear"] as const) {
    const cfg = await load(["preset=tiny-addition", `arch.head=${head}`]);
    equal(cfg.arch.head, head);
    equal(parseArchConfig(JSON.stringify(cfg.arch)).head, head);
    const arch = resolveArch(cfg.arch, 19);
    equal(arch.head, head);
    const names = paramList(arch).map((p) => p.name);
    equal(names.includes("encoder.head.weight"), head === "linear");
  }
  const arch = resolveArch({
    hidden_size: 8,
    intermed_size: 16,
    layers_in_recurrent_block: 1,
    maximal_recurrence: 1,
    head: "linear",
    attention: { num_attention_heads: 2 },
  }, 19);
  const model = ArithmeticModel.create(arch, { backend: CPU, seed: 1 });
  ok(model);
  await rejects(() => load(["arch.head=mlp"]), /arch\.head: expected one of ffn, identity, linear/);
});

Deno.test("arch.objective_layout accepts TBPTT only, in schema and docs", async () => {
  const info = keyInfo(schemaFor("pretrain").get("arch.objective_layout")!);
  equal([info.use, info.allowed], ["restricted", ["TBPTT"]]);
  equal((await load(["arch.objective_layout=TBPTT"])).arch.objective_layout, "TBPTT");
  await rejects(
    () => load(["arch.objective_layout=deepthinking"]),
    /^ConfigError: Unsupported value for arch.objective_layout: "deepthinking": .*TBPTT/,
  );
  const doc = await Deno.readTextFile(new URL("../../docs/config.md", import.meta.url));
  ok(/^\| `arch\.objective_layout` +\| only TBPTT +\|/m.test(doc));
});

Deno.test("parseArchConfig() refuses what the model lacks, naming the key", async () => {
  const arch = (await load(["preset=tiny-addition"])).arch;
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ norm: "RMSNorm" }, /Unsupported value for norm: "RMSNorm": abacus implements LayerNorm/],
    [{ state_init: "weird" }, /Invalid value for state_init: expected one of embed, zero/],
    [{ intermed_size: 7 }, /intermed_size \(7\) must be even/],
    [{ attention: { ...arch.attention, num_attention_heads: 3 } }, /divisible by/],
    [{ attention: { ...arch.attention, rotary_embedding: "fire" } }, /self-attention/],
    [
      { embedding: { ...arch.embedding, abacus_random_spacing: 1.5 } },
      /Invalid value for embedding.abacus_random_spacing: expected a number from 0 to 1, got 1.5/,
    ],
  ];
  for (const [change, re] of cases) {
    throws(() => parseArchConfig(JSON.stringify({ ...arch, ...change })), re);
  }
});

Deno.test("cli/config_types.ts is the schema's types written out", async () => {
  const text = await Deno.readTextFile(new URL("../../cli/config_types.ts", import.meta.url));
  equal(text, configTypes());
});
