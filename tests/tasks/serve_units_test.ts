// Unit tests of the serve task's pieces that need no server: path segment checks, confinement
// to the base folder through symbolic links, and reading a run while it trains.

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { resolveInBase, safeSegments } from "../../tasks/serve/server.ts";
import { runPage, runsPage } from "../../tasks/serve/pages.ts";
import { readRun, type RunInfo } from "../../tasks/serve/runs.ts";

Deno.test("safeSegments keeps plain names and refuses every escaping spelling", () => {
  deepStrictEqual(safeSegments("a/b%20c/FINAL_0.0469/model.safetensors"), [
    "a",
    "b c",
    "FINAL_0.0469",
    "model.safetensors",
  ]);
  const refused = [
    "",
    "..",
    "a/..",
    "a/../b",
    "%2e%2e/x",
    "%2E%2e/x",
    ".%2e/x",
    "a%2f..%2fb",
    "%252e%252e/x",
    "..%5cx",
    "a\\..\\b",
    "/etc/passwd",
    "a//b",
    "a/%00",
    "a%00.txt",
    "%c0%ae%c0%ae/x",
    "C:%5cx",
    "a/.hidden",
    "a/./b",
    "%",
    "a/%zz",
  ];
  for (const r of refused) strictEqual(safeSegments(r), null, JSON.stringify(r));
});

Deno.test("resolveInBase follows symbolic links only while they stay inside the base", async () => {
  const root = await Deno.realPath(await Deno.makeTempDir());
  const base = join(root, "base");
  await Deno.mkdir(join(base, "in"), { recursive: true });
  await Deno.writeTextFile(join(base, "in/a.txt"), "a");
  await Deno.writeTextFile(join(root, "out.txt"), "secret");
  await Deno.symlink(join(base, "in/a.txt"), join(base, "inner-link.txt"));
  await Deno.symlink(join(root, "out.txt"), join(base, "outer-link.txt"));
  await Deno.symlink(root, join(base, "up"));
  await Deno.mkdir(join(root, "base-evil"));
  await Deno.writeTextFile(join(root, "base-evil/x.txt"), "secret");
  await Deno.symlink(join(root, "base-evil"), join(base, "sibling"));
  try {
    strictEqual(await resolveInBase(base, ["in", "a.txt"]), join(base, "in/a.txt"));
    strictEqual(await resolveInBase(base, ["inner-link.txt"]), join(base, "in/a.txt"));
    strictEqual(await resolveInBase(base, ["outer-link.txt"]), null);
    strictEqual(await resolveInBase(base, ["up", "out.txt"]), null);
    strictEqual(await resolveInBase(base, ["sibling", "x.txt"]), null); // prefix, not inside
    strictEqual(await resolveInBase(base, ["in"]), null); // a folder
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("readRun reads a run while it trains: half-written lines, resumed segments", async () => {
  const base = await Deno.makeTempDir();
  const seg1 = join(base, "r/pretrain/2024-01-01/10-00-00");
  const seg2 = join(base, "r/pretrain/2024-01-01/11-00-00");
  await Deno.mkdir(seg1, { recursive: true });
  await Deno.mkdir(seg2, { recursive: true });
  await Deno.writeTextFile(
    join(seg1, "metrics.jsonl"),
    '{"step":1,"loss":3,"lr":0}\n{"step":2,"loss":2.5,"lr":0.1}\n' +
      '{"event":"checkpoint","kind":"last","step":2}\n',
  );
  await Deno.writeTextFile(
    join(seg2, "metrics.jsonl"),
    '{"step":2,"loss":2,"lr":0.1}\n{"step":3,"loss":1,"lr":0.2}\n{"step":4,"lo',
  );
  await Deno.writeTextFile(join(seg2, "config.yaml"), "name: r\narch:\n  hidden_size: 8\n");
  try {
    const run = await readRun(base, "r");
    deepStrictEqual(run.points.map((p) => [p.step, p.loss]), [[1, 3], [2, 2], [3, 1]]);
    strictEqual(run.status, "training");
    strictEqual(run.configPath, "pretrain/2024-01-01/11-00-00/config.yaml");
    const old = new Date(Date.now() - 3600_000);
    await Deno.utime(join(seg2, "metrics.jsonl"), old, old);
    await Deno.utime(join(seg1, "metrics.jsonl"), old, old);
    strictEqual((await readRun(base, "r")).status, "stopped");
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("runsPage and runPage show each run's config in one line and its checkpoints", () => {
  const run: RunInfo = {
    name: "r<1>",
    configPath: "pretrain/d/t/config.yaml",
    config: {
      preset: "tiny-addition",
      train: { budget_steps: 300 },
      arch: {
        layers_in_recurrent_block: 2,
        maximal_recurrence: 1,
        hidden_size: 64,
        embedding: { pos_embedding: "abacus" },
      },
    },
    status: "finished",
    points: [{ step: 300, loss: 0.01234, lr: 0 }],
    testExactMatch: 0.5,
    checkpoints: [
      { name: "FINAL_0.0123", path: "", savedAt: null, step: 300, loss: 0.0123 },
      { name: "upstream", path: "", savedAt: null, step: null, loss: null },
    ],
  };
  const summary = "tiny-addition · 2x1 layers, width 64, abacus, 300 steps";
  const list = runsPage("/b", [run]);
  ok(list.includes(`<td>${summary}</td>`), list);
  ok(list.includes('<a href="/run?name=r%3C1%3E">r&lt;1&gt;</a>'));
  ok(list.includes('<td class="num">300</td><td class="num">0.0123</td>'));
  ok(list.includes('<a href="/play?run=r%3C1%3E">play</a>'));
  const page = runPage([run], [[]]);
  ok(page.includes(`<p>${summary} · <a href="/files/r%3C1%3E/pretrain/d/t/config.yaml">`), page);
  ok(page.includes("<li>FINAL_0.0123 (step 300, loss 0.0123)</li><li>upstream</li>"), page);
  ok(page.includes("test exact match 50.0% · <a"));
  ok(page.includes("<p>no evaluations yet (deno task eval)</p>"));
});
