// Repository hygiene: the product's lockfile holds only what the product imports (deno.json's
// `imports`; the peer benchmarks' packages, TF.js and jax-js, live in bench/peers/deno.lock, so a
// user's first task never downloads them), and the docs link only to files in the repository.

import { deepEqual, ok } from "node:assert/strict";

const root = new URL("../", import.meta.url);
const readJson = async (path: string) => JSON.parse(await Deno.readTextFile(new URL(path, root)));

Deno.test("deno.lock pins exactly deno.json's imports; the peers' packages are in bench/peers", async () => {
  const config = await readJson("deno.json");
  const lock = await readJson("deno.lock");
  const imported = Object.values(config.imports as Record<string, string>).sort();
  deepEqual(Object.keys(lock.specifiers ?? {}).sort(), imported);
  const peers = await readJson("bench/peers/deno.lock");
  ok(Object.keys(peers.specifiers).some((s) => s.startsWith("npm:@tensorflow/tfjs@")));
  ok(Object.keys(peers.specifiers).some((s) => s.startsWith("npm:@jax-js/jax@")));
});

async function* markdownFiles(dir: URL): AsyncGenerator<URL> {
  for await (const e of Deno.readDir(dir)) {
    if (e.name.startsWith(".") || e.name === "abacus-data" || e.name === "results") continue;
    const url = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) yield* markdownFiles(url);
    else if (e.name.endsWith(".md")) yield url;
  }
}

Deno.test("docs link only to files in the repository", async () => {
  const bad: string[] = [];
  for await (const file of markdownFiles(root)) {
    const text = await Deno.readTextFile(file);
    const name = file.pathname.slice(root.pathname.length);
    // DEVELOPERS.md alone may name the workplace's staging scripts (how to reach its GPU machine).
    if (/\.\.\/shared\//.test(text) && name !== "DEVELOPERS.md") {
      bad.push(`${name}: mentions ../shared/`);
    }
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target) || target.startsWith("#")) continue;
      const path = new URL(target.split("#")[0], file);
      if (!path.pathname.startsWith(root.pathname)) {
        bad.push(`${name}: ${target} leaves the repository`);
      } else {
        try {
          await Deno.stat(path);
        } catch {
          bad.push(`${name}: ${target} does not exist`);
        }
      }
    }
  }
  deepEqual(bad, []);
});
