// `deno task info` from another folder, in an environment without XDG_RUNTIME_DIR: it names the
// adapter and nothing on stderr mentions the variable (Mesa's drivers print "error:
// XDG_RUNTIME_DIR is invalid or not set" twice unless abacus sets it first).

import { ok } from "node:assert/strict";
import { childEnv, REPO } from "./_train_helpers.ts";

Deno.test("deno task info names the adapter and prints no XDG_RUNTIME_DIR line when it is unset", async () => {
  const env = childEnv();
  delete env.XDG_RUNTIME_DIR;
  const cwd = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--config",
        `${REPO}deno.json`,
        new URL("../../tasks/info.ts", import.meta.url).href,
      ],
      cwd,
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    ok(!/XDG_RUNTIME_DIR/.test(stdout + stderr), stderr);
    if (out.code === 0) ok(/^adapter: \S/.test(stdout), stdout);
    else ok(/No WebGPU adapter found/.test(stderr), stderr);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
