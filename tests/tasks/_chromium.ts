// Headless Chromium for the serve tests, driven over the DevTools protocol (a WebSocket; no
// puppeteer): start it, open a page, evaluate expressions, wait for a condition, screenshot an
// element. Plus a small PNG decoder (zlib through DecompressionStream) to check pixel colours.

/** The Chromium binary, or null when none is installed. */
export function chromiumPath(): string | null {
  for (const name of ["chromium", "chromium-browser", "google-chrome"]) {
    for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
      try {
        if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
      } catch {
        // Not here.
      }
    }
  }
  return null;
}

/** A page of a running headless Chromium. */
export interface Browser {
  /** Sends a DevTools command to the page and returns its result. */
  send(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Evaluates an expression in the page (awaiting promises) and returns its value. */
  evaluate<T>(expression: string): Promise<T>;
  /** Navigates and waits for the load event. */
  open(url: string): Promise<void>;
  /** Polls `expression` until it is truthy; throws after `ms`. */
  waitFor(expression: string, ms: number): Promise<void>;
  /** PNG bytes of an element's box (CSS selector). */
  screenshot(selector?: string): Promise<Uint8Array>;
  /** Kills the browser and removes its profile. */
  close(): Promise<void>;
}

/**
 * Starts headless Chromium on a temporary profile and attaches to its first page.
 *
 * @param webgpu pass `--enable-unsafe-webgpu` (Chromium's WebGPU on Linux needs it)
 */
export async function launchChromium(webgpu: boolean): Promise<Browser> {
  const bin = chromiumPath();
  if (!bin) throw new Error("chromium is not installed");
  const profile = await Deno.makeTempDir({ prefix: "abacus-chromium-" });
  const args = [
    "--headless=new",
    "--no-sandbox",
    "--no-first-run",
    "--disable-gpu-sandbox",
    "--remote-debugging-port=0",
    `--user-data-dir=${profile}`,
    "--window-size=1280,1000",
    ...(webgpu ? ["--enable-unsafe-webgpu"] : []),
    "about:blank",
  ];
  const child = new Deno.Command(bin, { args, stdout: "null", stderr: "piped" }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "", wsUrl = "";
  const deadline = Date.now() + 60_000;
  while (!wsUrl) {
    if (Date.now() > deadline) throw new Error(`chromium did not start: ${seen.slice(-500)}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`chromium exited: ${seen.slice(-500)}`);
    seen += value;
    wsUrl = /DevTools listening on (ws:\/\/\S+)/.exec(seen)?.[1] ?? "";
  }
  // Keep draining stderr so the browser never blocks on a full pipe.
  (async () => {
    try {
      while (!(await reader.read()).done) { /* drain */ }
    } catch {
      // Closed.
    }
  })();
  const httpBase = wsUrl.replace(/^ws:/, "http:").replace(/\/devtools\/.*$/, "");
  const list = await (await fetch(`${httpBase}/json/list`)).json() as {
    type: string;
    webSocketDebuggerUrl: string;
  }[];
  const target = list.find((t) => t.type === "page");
  if (!target) throw new Error("chromium has no page");
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((ok, fail) => {
    ws.onopen = ok;
    ws.onerror = () => fail(new Error("cannot connect to chromium"));
  });
  let nextId = 1;
  const pending = new Map<number, { ok: (v: unknown) => void; fail: (e: Error) => void }>();
  const waiters: { method: string; ok: () => void }[] = [];
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.id !== undefined) {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) p?.fail(new Error(`${msg.error.message} ${msg.error.data ?? ""}`));
      else p?.ok(msg.result);
    } else {
      for (const [k, w] of waiters.entries()) {
        if (w.method === msg.method) {
          waiters.splice(k, 1);
          w.ok();
          break;
        }
      }
    }
  };
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((ok, fail) => {
      const id = nextId++;
      pending.set(id, { ok: ok as (v: unknown) => void, fail });
      ws.send(JSON.stringify({ id, method, params }));
    });
  await send("Page.enable");
  const evaluate = async <T>(expression: string): Promise<T> => {
    const r = await send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    });
    if (r.exceptionDetails) throw new Error(`page: ${JSON.stringify(r.exceptionDetails)}`);
    return (r.result as { value: T }).value;
  };
  return {
    send,
    evaluate,
    open: async (url) => {
      const loaded = new Promise<void>((ok) => waiters.push({ method: "Page.loadEventFired", ok }));
      await send("Page.navigate", { url });
      await loaded;
    },
    waitFor: async (expression, ms) => {
      const end = Date.now() + ms;
      while (!(await evaluate<boolean>(`!!(${expression})`))) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${expression}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    screenshot: async (selector) => {
      const params: Record<string, unknown> = { format: "png", captureBeyondViewport: true };
      if (selector) {
        const box = await evaluate<{ x: number; y: number; width: number; height: number }>(
          `(() => { const r = document.querySelector(${JSON.stringify(selector)})` +
            `.getBoundingClientRect(); return { x: r.x + scrollX, y: r.y + scrollY, ` +
            `width: r.width, height: r.height }; })()`,
        );
        params.clip = { ...box, scale: 1 };
      }
      const r = await send("Page.captureScreenshot", params);
      return Uint8Array.from(atob(r.data as string), (c) => c.charCodeAt(0));
    },
    close: async () => {
      try {
        ws.close();
      } catch {
        // Gone.
      }
      // SIGTERM lets the browser stop its helper processes, which write into the profile.
      const killer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // Exited.
        }
      }, 5000);
      try {
        child.kill("SIGTERM");
      } catch {
        // Exited.
      }
      await child.status;
      clearTimeout(killer);
      for (let k = 0; k < 20; k++) {
        try {
          await Deno.remove(profile, { recursive: true });
          break;
        } catch (e) {
          if (e instanceof Deno.errors.NotFound) break;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    },
  };
}

/** A decoded 8-bit RGB or RGBA PNG. */
export interface Image {
  width: number;
  height: number;
  /** RGBA, row by row. */
  rgba: Uint8Array;
}

/** Decodes a non-interlaced 8-bit RGB/RGBA PNG (what Chromium writes). */
export async function decodePng(png: Uint8Array): Promise<Image> {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let pos = 8, width = 0, height = 0, channels = 0;
  const idat: Uint8Array[] = [];
  while (pos < png.length) {
    const len = view.getUint32(pos);
    const type = new TextDecoder().decode(png.subarray(pos + 4, pos + 8));
    const data = png.subarray(pos + 8, pos + 8 + len);
    if (type === "IHDR") {
      width = view.getUint32(pos + 8);
      height = view.getUint32(pos + 12);
      const depth = data[8], colour = data[9], interlace = data[12];
      if (depth !== 8 || (colour !== 2 && colour !== 6) || interlace !== 0) {
        throw new Error(`unsupported PNG (depth ${depth}, colour ${colour})`);
      }
      channels = colour === 6 ? 4 : 3;
    } else if (type === "IDAT") idat.push(data);
    pos += 12 + len;
  }
  const raw = new Uint8Array(
    await new Response(
      new Blob(idat.map((d) => d.slice())).stream().pipeThrough(new DecompressionStream("deflate")),
    )
      .arrayBuffer(),
  );
  const stride = width * channels, out = new Uint8Array(width * height * 4);
  let prev = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const line = raw.slice(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? line[x - channels] : 0, b = prev[x];
      const c = x >= channels ? prev[x - channels] : 0;
      let v = line[x];
      if (f === 1) v += a;
      else if (f === 2) v += b;
      else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      line[x] = v & 255;
    }
    for (let x = 0; x < width; x++) {
      for (let k = 0; k < 3; k++) out[(y * width + x) * 4 + k] = line[x * channels + k];
      out[(y * width + x) * 4 + 3] = channels === 4 ? line[x * channels + 3] : 255;
    }
    prev = line;
  }
  return { width, height, rgba: out };
}

/** Pixels within `tol` (per channel) of a `#rrggbb` colour. */
export function countColour(img: Image, hex: string, tol = 24): number {
  const c = [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
  let n = 0;
  for (let p = 0; p < img.rgba.length; p += 4) {
    if (
      Math.abs(img.rgba[p] - c[0]) <= tol && Math.abs(img.rgba[p + 1] - c[1]) <= tol &&
      Math.abs(img.rgba[p + 2] - c[2]) <= tol
    ) n++;
  }
  return n;
}
