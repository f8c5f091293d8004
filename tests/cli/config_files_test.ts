// The files around a resolved config: the YAML written to the run folder and read back,
// model_config.json, the config hash, the --help text, and loading from another folder.

import { deepStrictEqual as equal, notDeepStrictEqual, ok, throws } from "node:assert/strict";
import { parse } from "npm:yaml@^2.6.0";
import {
  configHash,
  configToYaml,
  loadConfig,
  parseArchConfig,
  parseConfigYaml,
  presetSummaries,
} from "../../cli/config.ts";
import { configDoc, helpText } from "../../cli/config_help.ts";
import { schemaFor } from "../../cli/config_keys.ts";
import { keyInfo } from "../../cli/config_schema.ts";

const opts = { env: () => undefined, cwd: "/work/x" };
const load = (args: string[]) => loadConfig(args, "pretrain", { ...opts, log: () => {} });

Deno.test("the resolved config is frozen and round-trips through YAML", async () => {
  for (
    const [kind, args] of [["pretrain", ["preset=demo", "seed=3"]], ["eval", [
      "shard=1/2",
    ]]] as const
  ) {
    const cfg = await loadConfig([...args], kind, opts);
    ok(Object.isFrozen(cfg) && Object.isFrozen((cfg as { impl: object }).impl));
    const text = configToYaml(cfg);
    equal(parse(text), JSON.parse(JSON.stringify(cfg)));
    equal(parseConfigYaml(text, kind), cfg);
  }
  const cfg = await load([]);
  throws(() => (cfg.arch as { hidden_size: number }).hidden_size = 1);
  const tampered = configToYaml(cfg).replace("hidden_size: 768", "hiden_size: 768");
  throws(
    () => parseConfigYaml(tampered, "pretrain", "run/config.yaml"),
    /Unknown config key "arch.hiden_size".*\(in run\/config.yaml\)/,
  );
  throws(() => parseConfigYaml("a: [", "pretrain"), /Cannot parse the config file/);
});

Deno.test("parseArchConfig() reads model_config.json and rejects a bad one", async () => {
  const cfg = await load(["preset=tiny-addition"]);
  equal(parseArchConfig(JSON.stringify(cfg.arch)), cfg.arch);
  const bad = { ...cfg.arch, hidden_size: "x" };
  throws(
    () => parseArchConfig(JSON.stringify(bad)),
    /Invalid value for hidden_size: .* \(in model_config.json\)/,
  );
  throws(() => parseArchConfig("{"), /Cannot parse model_config.json/);
});

Deno.test("configHash() is stable under key order and sees every value", async () => {
  const a = await load(["preset=tiny-addition"]);
  const reordered = Object.fromEntries(Object.entries(a).reverse());
  equal(await configHash(reordered), await configHash(a));
  notDeepStrictEqual(
    await configHash(a),
    await configHash(await load(["preset=tiny-addition", "seed=1"])),
  );
  equal((await configHash(a)).length, 64);
});

Deno.test("helpText() lists groups, presets and main keys within 100 columns", async () => {
  const presets = await presetSummaries();
  const text = helpText("pretrain", presets);
  for (
    const s of [
      "wandb=default|none",
      "tiny-addition",
      "demo",
      "arch.hidden_size",
      "train.budget_steps",
    ]
  ) {
    ok(text.includes(s), s);
  }
  // Each preset's line is the first line of its file, and the file's settings agree with it.
  for (const [name, line] of presets) {
    const file = new URL(`../../cli/config/presets/${name}.yaml`, import.meta.url);
    equal(Deno.readTextFileSync(file).split("\n")[0], `# ${line}`, name);
    ok(text.includes(line), name);
    const cfg = await load([`preset=${name}`]);
    const a = cfg.arch;
    const shape = a.maximal_recurrence === 1
      ? `${a.layers_in_recurrent_block} x 1`
      : `${a.layers_in_recurrent_block} x ${a.maximal_recurrence}`;
    ok(line.includes(shape) || line.includes(`${a.layers_in_recurrent_block} layers x`), name);
    if (name.startsWith("tiny-") || name === "demo") {
      ok(line.includes(`width ${a.hidden_size}`), name);
      ok(line.includes(`${cfg.train.budget_steps} steps`), name);
    }
  }
  for (const l of text.split("\n")) ok(l.length <= 100, `over 100 columns: ${l}`);
  ok(helpText("eval").includes("--shard k/N") && !helpText("eval").includes("Presets"));
});

Deno.test("the defaults load when the working folder is elsewhere", async () => {
  const root = new URL("../../", import.meta.url).pathname;
  const code = `import { loadConfig } from "${root}cli/config.ts";
    const c = await loadConfig(["preset=tiny-addition"], "pretrain");
    console.log(c.arch.hidden_size, c.base_dir);`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--config", `${root}deno.json`, code],
    cwd: "/tmp",
    env: { cramming_base_dir: "" },
  }).output();
  equal(new TextDecoder().decode(out.stdout).trim(), "64 /tmp/abacus-data");
});

Deno.test("docs/config.md is current: its key tables are generated from the schema", async () => {
  const doc = await Deno.readTextFile(new URL("../../docs/config.md", import.meta.url));
  equal(doc, configDoc(doc), "run deno task docs");
  for (const kind of ["pretrain", "eval"] as const) {
    for (const [k, spec] of schemaFor(kind)) {
      const row = new RegExp(`^\\| \`${k.replaceAll(".", "\\.")}\` +\\|`, "m");
      if (keyInfo(spec).use !== "supported") {
        ok(row.test(doc), `${k} is missing from docs/config.md`);
      }
    }
  }
});
