// Tests of `deno task data` as users run it: a subprocess started from another working
// directory (the task must not read files relative to it), exit codes and one-line errors,
// and no partial dataset left behind by a failed run.

import assert from "node:assert/strict";
import { main } from "../../tasks/data.ts";

const TASK = new URL("../../tasks/data.ts", import.meta.url).href;

async function runTask(
  args: string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...Deno.env.toObject() };
  delete env.cramming_base_dir;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TASK, ...args],
    cwd,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function listTree(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    names.push(e.name);
    if (e.isDirectory) {
      names.push(...(await listTree(`${dir}/${e.name}`)).map((n) => `${e.name}/${n}`));
    }
  }
  return names.sort();
}

Deno.test("data task runs from another working directory into ./abacus-data", async () => {
  const cwd = await Deno.makeTempDir();
  const r = await runTask(["--preset", "tiny-addition", "--quiet"], cwd);
  assert.equal(r.code, 0, r.stderr);
  const dir = `${cwd}/abacus-data/data/+_bucket_method_n_3_m_3_20000_p_00_reverse_all`;
  const meta = JSON.parse(await Deno.readTextFile(`${dir}/meta.json`));
  assert.deepEqual(meta.counts, { train: 19800, test: 200 });
  assert.match(r.stdout, /Wrote .*20000 samples/);
  const bad = await runTask(["--op", "sort", "--m", "120"], cwd);
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr, "Cannot generate sorting data: 120 numbers but only 102 labels\n");
  await Deno.remove(cwd, { recursive: true });
});

Deno.test("data task: bad input returns 1 with one line on stderr and leaves nothing", async () => {
  const root = await Deno.makeTempDir();
  await Deno.writeTextFile(`${root}/file`, "x");
  await Deno.mkdir(`${root}/full`);
  await Deno.writeTextFile(`${root}/full/keep`, "x");
  const errors: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => errors.push(args.join(" "));
  try {
    const cases: [string[], RegExp][] = [
      [["--op", "/", "--limit", "10"], /^Cannot generate data: unknown op/],
      [["--n", "0"], /n must be an integer of at least 1/],
      [["--op", "sort", "--n", "2", "--m", "103"], /103 numbers but only 102 labels/],
      [["--out", `${root}/full`, "--limit", "10"], /folder exists and is not empty/],
      [["--out", `${root}/file/sub`, "--limit", "10"], /^Cannot write dataset to/],
      [["--bogus"], /unknown flag --bogus/],
    ];
    for (const [argv, re] of cases) {
      errors.length = 0;
      assert.equal(await main([...argv, "--quiet", "--base-dir", root]), 1, argv.join(" "));
      assert.equal(errors.length, 1);
      assert.match(errors[0], re);
      assert(!errors[0].includes("\n"));
    }
  } finally {
    console.error = original;
  }
  assert.deepEqual(await listTree(root), ["file", "full", "full/keep"]);
  await Deno.remove(root, { recursive: true });
});
