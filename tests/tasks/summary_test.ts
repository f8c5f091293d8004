import { ok, strictEqual } from "node:assert/strict";
import { main, summarize } from "../../tasks/summary.ts";

Deno.test("summarize() counts upstream's looped 1x16 NoPE model as 11,581,440 parameters", async () => {
  const s = await summarize(["preset=addition-1x16", "arch.embedding.pos_embedding=None"]);
  strictEqual(s.total, 11_581_440);
  strictEqual(s.depth, "1x16");
  strictEqual(s.embedding + s.blocks + s.head + s.output, s.total);
});

Deno.test("summary task runs from another folder and rejects a misspelt key with one line", async () => {
  const url = new URL("../../tasks/summary.ts", import.meta.url).href;
  const cwd = await Deno.makeTempDir();
  const good = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", url, "--json", "preset=tiny-addition"],
    cwd,
  }).output();
  strictEqual(good.code, 0, new TextDecoder().decode(good.stderr));
  ok(JSON.parse(new TextDecoder().decode(good.stdout)).total > 0);
  const bad = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", url, "arch.hiden_size=3"],
    cwd,
  })
    .output();
  strictEqual(bad.code, 1);
  const err = new TextDecoder().decode(bad.stderr).trim();
  strictEqual(err.split("\n").length, 1);
  ok(err.includes("arch.hidden_size"));
  strictEqual(await main(["--help"]), 0);
});
