// `deno task serve` end to end: a tiny-addition run is trained once (the preset, ~1-2 min on
// lavapipe, 99% exact match) and evaluated on a 4x4 grid; the server runs as a subprocess on a
// free loopback port over it. Headless Chromium (Debian's `chromium`, installed by .ci/run)
// opens the playground and the run page through the DevTools protocol. Tests that need Chromium
// are skipped, saying so, when it is not installed.

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { childEnv, REPO, runTrain } from "./_train_helpers.ts";
import { type Browser, chromiumPath, countColour, decodePng, launchChromium } from "./_chromium.ts";

const CHROMIUM = chromiumPath();
if (!CHROMIUM) {
  console.log(
    "serve_test: chromium is not installed (apt-get install chromium); " +
      "the browser tests are skipped",
  );
}

/** A trained and evaluated run `t` under a temporary base folder, made once. */
let fixture: Promise<string> | null = null;
function trainedBase(): Promise<string> {
  fixture ??= (async () => {
    const base = await Deno.makeTempDir({ prefix: "abacus-serve-" });
    const ran = await runTrain(["preset=tiny-addition", "name=t", `base_dir=${base}`]);
    if (ran.code !== 0) throw new Error(`training failed: ${ran.stderr}`);
    const ev = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--config",
        join(REPO, "deno.json"),
        join(REPO, "tasks/eval.ts"),
        "name=t",
        `base_dir=${base}`,
        "eval.grid=1..4x1..4",
      ],
      env: childEnv(),
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!ev.success) throw new Error(`eval failed: ${new TextDecoder().decode(ev.stderr)}`);
    globalThis.addEventListener("unload", () => Deno.removeSync(base, { recursive: true }));
    return base;
  })();
  return fixture;
}

/** Copies a folder's files (recursively) into an existing folder. */
async function copyTree(from: string, to: string): Promise<void> {
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) {
      await Deno.mkdir(join(to, e.name));
      await copyTree(join(from, e.name), join(to, e.name));
    } else await Deno.copyFile(join(from, e.name), join(to, e.name));
  }
}

/** `deno task serve` as a subprocess on a free loopback port (SIGTERM, which the task runner
 * forwards, stops it). */
interface Served {
  url: string;
  port: number;
  stop(): Promise<string>;
}

async function serve(base: string, extra: string[] = []): Promise<Served> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "task",
      "--quiet",
      "--config",
      join(REPO, "deno.json"),
      "serve",
      `base_dir=${base}`,
      "--port",
      "0",
      ...extra,
    ],
    env: childEnv(),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  let url = "";
  while (!url) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`serve exited: ${seen}`);
    seen += value;
    url = / at (http:\/\/127\.0\.0\.1:\d+)\//.exec(seen)?.[1] ?? "";
  }
  const drain = (async () => {
    while (!(await reader.read()).done) { /* keep reading */ }
  })();
  const errText = new Response(child.stderr).text();
  return {
    url,
    port: Number(new URL(url).port),
    stop: async () => {
      child.kill("SIGTERM");
      const status = await child.status;
      await drain;
      const err = await errText;
      if (!status.success && status.signal === null) throw new Error(`serve failed: ${err}`);
      return err;
    },
  };
}

/** One raw HTTP/1.1 request (no URL normalisation on the way): status line code and body. */
async function raw(port: number, request: string): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(request));
  let text = "";
  const dec = new TextDecoder();
  const buf = new Uint8Array(65536);
  while (true) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) break;
    text += dec.decode(buf.subarray(0, n), { stream: true });
  }
  conn.close();
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), body: text };
}

function get(port: number, target: string, host = "127.0.0.1"): ReturnType<typeof raw> {
  return raw(port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
}

/** A test on the trained run's server opened in Chromium (with or without WebGPU); skipped without Chromium. */
function browserTest(
  name: string,
  webgpu: boolean,
  fn: (s: Awaited<ReturnType<typeof serve>>, browser: Browser) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: !CHROMIUM,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const s = await serve(await trainedBase());
      const browser = await launchChromium(webgpu);
      try {
        await fn(s, browser);
      } finally {
        await browser.close();
        await s.stop();
      }
    },
  });
}

Deno.test({
  name: "serve: runs list, run page, curves and heatmap means of a trained run",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const base = await trainedBase();
    const s = await serve(base);
    try {
      const runs = await (await fetch(`${s.url}/api/runs`)).json();
      deepStrictEqual(
        runs.map((r: { name: string; status: string; steps: number }) => [
          r.name,
          r.status,
          r.steps,
        ]),
        [["t", "finished", 1200]],
      );
      const list = await (await fetch(`${s.url}/`)).text();
      ok(list.includes(`href="/run?name=t"`) && list.includes("tiny-addition"));
      const page = await (await fetch(`${s.url}/run?name=t`)).text();
      ok(page.includes('class="curve" data-panel="loss"'), "loss curve drawn");
      const summary = JSON.parse(
        await Deno.readTextFile(join(base, "t/downstream/addition_1-4x1-4/summary.json")),
      );
      const id = `${(100 * summary.in_distribution).toFixed(1)}%`;
      const ood = `${(100 * summary.out_of_distribution).toFixed(1)}%`;
      ok(page.includes(`<b class="id">${id}</b>`) && page.includes(`<b class="ood">${ood}</b>`));
      strictEqual((page.match(/<svg /g) ?? []).length, 2, "curves + one heatmap");
      const model = await (await fetch(`${s.url}/api/model?run=t`)).json();
      strictEqual(model.config.hidden_size, 64);
      const weights = await fetch(`${s.url}${model.weights}`);
      strictEqual(weights.status, 200);
      strictEqual((await weights.arrayBuffer()).byteLength, model.bytes);
      // Two runs side by side: one curves figure with a legend, one heatmap figure, two panels.
      await Deno.mkdir(join(base, "t2/pretrain"), { recursive: true });
      await Deno.mkdir(join(base, "t2/downstream"), { recursive: true });
      await copyTree(join(base, "t/pretrain"), join(base, "t2/pretrain"));
      await copyTree(join(base, "t/downstream"), join(base, "t2/downstream"));
      const both = await (await fetch(`${s.url}/run?name=t&name=t2`)).text();
      await Deno.remove(join(base, "t2"), { recursive: true });
      strictEqual((both.match(/<svg /g) ?? []).length, 2, "one curves and one heatmap figure");
      strictEqual((both.match(/class="curve" data-panel="loss"/g) ?? []).length, 2);
      ok(both.includes('data-run="t2"') && both.includes(`<b class="id">${id}</b>`));
      strictEqual((both.match(/<b class="ood">/g) ?? []).length, 2);
      strictEqual((await fetch(`${s.url}/run?name=nope`)).status, 404);
      strictEqual((await fetch(`${s.url}/run?name=..`)).status, 400);
    } finally {
      await s.stop();
    }
  },
});

browserTest(
  "serve: playground in headless Chromium adds 123 + 456 = 579 on the WebGPU adapter",
  true,
  async (s, browser) => {
    await browser.open(`${s.url}/play?run=t&a=123&b=456`);
    await browser.waitFor(`["done", "error"].includes(document.body.dataset.state)`, 180_000);
    const out = await browser.evaluate<Record<string, string>>(
      `Object.fromEntries(["answer", "backend", "error", "tokens", "probs"].map((id) =>
        [id, document.getElementById(id).textContent]))`,
    );
    strictEqual(out.error, "");
    strictEqual(out.answer, "579");
    ok(out.backend.startsWith("webgpu on "), `decoded on ${out.backend}`);
    // The prompt as the model sees it: reversed operands, Abacus indices 1,2,3 per number.
    ok(out.tokens.startsWith("token321+654=975"), out.tokens);
    ok(out.tokens.includes("abacus index1230123012"), out.tokens);
    ok(/^(\d: \d+\.\d\d%){3}\[EOS\]: \d+\.\d\d%$/.test(out.probs), out.probs);
  },
);

browserTest(
  "serve: without WebGPU the playground falls back to the CPU backend and still answers",
  false,
  async (s, browser) => {
    // No --enable-unsafe-webgpu: no adapter.
    for (const extra of ["", "&backend=cpu"]) {
      await browser.open(`${s.url}/play?run=t&a=123&b=456${extra}`);
      await browser.waitFor(`["done", "error"].includes(document.body.dataset.state)`, 120_000);
      const [answer, backend] = await browser.evaluate<string[]>(
        `["answer", "backend"].map((id) => document.getElementById(id).textContent)`,
      );
      strictEqual(answer, "579");
      ok(backend.startsWith("cpu"), backend);
    }
  },
);

browserTest(
  "serve: a screenshot of the run page shows the loss curve and the heatmap",
  false,
  async (s, browser) => {
    await browser.open(`${s.url}/run?name=t`);
    const curves = await decodePng(await browser.screenshot("#curves"));
    const heat = await decodePng(await browser.screenshot(".heatmap"));
    const nav = await decodePng(await browser.screenshot("nav"));
    ok(curves.width > 300 && heat.width > 100);
    // The first run's line colour (tasks/plot/curves.ts) fills a curve's worth of pixels...
    ok(countColour(curves, "#1f77b4") > 2000, `${countColour(curves, "#1f77b4")} curve pixels`);
    // ...and the heatmap's 99-100% cells are YlGnBu's darkest blue, its red box is drawn.
    ok(countColour(heat, "#081d58") > 2000, `${countColour(heat, "#081d58")} dark cells`);
    ok(countColour(heat, "#ff0000", 40) + countColour(heat, "#d62728", 40) > 100, "box");
    // A part of the page with neither has none of those colours.
    strictEqual(countColour(nav, "#081d58") + countColour(nav, "#1f77b4", 8), 0);
  },
);

Deno.test({
  name: "serve: the run page in Chromium redraws status and curves live as a run logs steps",
  ignore: !CHROMIUM,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const base = await Deno.makeTempDir({ prefix: "abacus-serve-live-" });
    await Deno.mkdir(join(base, "live/pretrain/d/t"), { recursive: true });
    const metrics = join(base, "live/pretrain/d/t/metrics.jsonl");
    await Deno.writeTextFile(metrics, '{"step":1,"loss":2,"lr":0.001}\n');
    const s = await serve(base);
    const browser = await launchChromium(false);
    try {
      await browser.open(`${s.url}/run?name=live`);
      const lossPath =
        `document.querySelector('#curves polyline[data-panel="loss"]')?.getAttribute("points")`;
      strictEqual(await browser.evaluate(`document.querySelector(".run .step").textContent`), "1");
      strictEqual(
        await browser.evaluate(`document.querySelector(".run .status").textContent`),
        "training",
      );
      const before = await browser.evaluate<string | null>(lossPath);
      const rows = [2, 3, 4].map((k) => `{"step":${k},"loss":${2 / k},"lr":0.001}\n`).join("");
      await Deno.writeTextFile(metrics, rows, { append: true });
      await browser.waitFor(`document.querySelector(".run .step").textContent === "4"`, 20_000);
      await browser.waitFor(`${lossPath} !== ${JSON.stringify(before)}`, 20_000);
      await Deno.writeTextFile(metrics, '{"event":"checkpoint","kind":"final","step":4}\n', {
        append: true,
      });
      await browser.waitFor(
        `document.querySelector(".run .status").textContent === "finished"`,
        20_000,
      );
    } finally {
      await browser.close();
      await s.stop();
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test({
  name: "serve: path traversal spellings get 403/404 and no file outside the base folder",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "abacus-serve-trav-" });
    const base = join(root, "base");
    const secret = "TOP-SECRET-" + crypto.randomUUID();
    await Deno.mkdir(join(base, "r/pretrain/d/t"), { recursive: true });
    await Deno.writeTextFile(join(base, "r/pretrain/d/t/metrics.jsonl"), '{"step":1,"loss":1}\n');
    await Deno.writeTextFile(join(root, "secret.txt"), secret);
    await Deno.mkdir(join(root, "outside"));
    await Deno.writeTextFile(join(root, "outside/secret.txt"), secret);
    await Deno.symlink(join(root, "secret.txt"), join(base, "r/leak.txt"));
    await Deno.symlink(join(root, "outside"), join(base, "r/out"));
    await Deno.writeTextFile(join(base, "r/.hidden"), secret);
    const s = await serve(base);
    try {
      const ok200 = await get(s.port, "/files/r/pretrain/d/t/metrics.jsonl");
      strictEqual(ok200.status, 200, "a file inside the folder is served");
      ok(ok200.body.includes('{"step":1,"loss":1}'));
      const spellings = [
        "/files/../secret.txt",
        "/files/r/../../secret.txt",
        "/files/%2e%2e/secret.txt",
        "/files/%2E%2E%2Fsecret.txt",
        "/files/r/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/files/%252e%252e/%252e%252e/secret.txt",
        "/files/..%5csecret.txt",
        "/files/r/..%5c..%5csecret.txt",
        "/files/%2fetc%2fpasswd",
        "/files//etc/passwd",
        "/files/" + encodeURIComponent(join(root, "secret.txt")),
        "/files/r/leak.txt",
        "/files/r/out/secret.txt",
        "/files/r/.hidden",
        "/files/r%00/../../secret.txt",
        "/files/..%00/secret.txt",
        "/files/%c0%ae%c0%ae/secret.txt",
        "/files/.%2e/secret.txt",
        "/files/C:%5cWindows%5cwin.ini",
        "/../secret.txt",
        "/files/r/pretrain/d/t/metrics.jsonl/../../../../../../secret.txt",
      ];
      for (const target of spellings) {
        const r = await get(s.port, target);
        ok(r.status === 403 || r.status === 404, `${target}: HTTP ${r.status}`);
        ok(!r.body.includes(secret) && !r.body.includes("root:x:0"), `${target} leaked`);
      }
    } finally {
      await s.stop();
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "serve: refuses writes, foreign Host headers, and survives 100 concurrent clients " +
    "and event streams cut mid-stream",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const base = await Deno.makeTempDir({ prefix: "abacus-serve-load-" });
    await Deno.mkdir(join(base, "r/pretrain/d/t"), { recursive: true });
    const metrics = join(base, "r/pretrain/d/t/metrics.jsonl");
    await Deno.writeTextFile(metrics, '{"step":1,"loss":2,"lr":0.001}\n');
    const s = await serve(base);
    try {
      for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
        const r = await fetch(`${s.url}/files/r/new.txt`, { method, body: "x" });
        strictEqual(r.status, 405, method);
        await r.body?.cancel();
      }
      await Deno.stat(join(base, "r/new.txt")).then(
        () => ok(false, "a write went through"),
        () => {},
      );
      const head = await fetch(`${s.url}/files/r/pretrain/d/t/metrics.jsonl`, { method: "HEAD" });
      strictEqual(head.status, 200);
      strictEqual(head.headers.get("content-length"), String((await Deno.stat(metrics)).size));
      strictEqual((await get(s.port, "/", "evil.example")).status, 403);
      const paths = [
        "/",
        "/run?name=r",
        "/curves?name=r",
        "/api/runs",
        "/files/r/pretrain/d/t/metrics.jsonl",
      ];
      const answers = await Promise.all(
        Array.from({ length: 100 }, async (_, k) => {
          const r = await fetch(`${s.url}${paths[k % paths.length]}`);
          await r.arrayBuffer();
          return r.status;
        }),
      );
      deepStrictEqual(answers.filter((c) => c === 200).length, 100);
      // Event streams: readers that go away mid-stream, abruptly (socket closed) or politely.
      for (let k = 0; k < 20; k++) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
        await conn.write(new TextEncoder().encode(
          "GET /events?name=r HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        ));
        await conn.read(new Uint8Array(1024));
        conn.close();
      }
      const live = await fetch(`${s.url}/events?name=r`);
      const reader = live.body!.pipeThrough(new TextDecoderStream()).getReader();
      let got = "";
      while (!got.includes('"step":1,')) got += (await reader.read()).value ?? "";
      await Deno.writeTextFile(metrics, '{"step":2,"loss":1.5,"lr":0.001}\n', { append: true });
      while (!got.includes('"step":2,')) got += (await reader.read()).value ?? "";
      await reader.cancel();
      const after = await fetch(`${s.url}/api/runs`);
      deepStrictEqual((await after.json())[0].steps, 2);
    } finally {
      const err = await s.stop();
      ok(!/panic|Uncaught/.test(err), err);
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test("serve: bad arguments and a missing folder are one-line errors", async () => {
  for (const args of [["--port", "x"], ["--bogus"], ["base_dir=/nonexistent/abacus-serve"]]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--config",
        join(REPO, "deno.json"),
        join(REPO, "tasks/serve.ts"),
        ...args,
      ],
      env: childEnv(),
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    strictEqual(out.code, 1, args.join(" "));
    const lines = new TextDecoder().decode(out.stderr).trim().split("\n");
    strictEqual(lines.length, 1, lines.join("\n"));
  }
});
