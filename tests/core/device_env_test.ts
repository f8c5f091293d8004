// Opening the device sets Mesa's `LP_NUM_THREADS` (llvmpipe's compute threads) to twice the cores
// before the driver loads, unless the environment already has it (then it is left alone).

import { strictEqual } from "node:assert/strict";
import { childEnv, REPO } from "../tasks/_train_helpers.ts";

const SCRIPT = `import { initBackend } from "${
  new URL("../../core/backend.ts", import.meta.url).href
}";
await initBackend("webgpu").catch(() => null);
console.log(Deno.env.get("LP_NUM_THREADS") ?? "unset");`;

async function threadsSeen(value: string | undefined): Promise<string> {
  const env = childEnv();
  delete env.LP_NUM_THREADS;
  if (value !== undefined) env.LP_NUM_THREADS = value;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--config", `${REPO}deno.json`, SCRIPT],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
}

Deno.test({
  name: "the device sets LP_NUM_THREADS to twice the cores on Linux unless it is set already",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    strictEqual(await threadsSeen(undefined), String(2 * navigator.hardwareConcurrency));
    strictEqual(await threadsSeen("3"), "3");
  },
});
