/// <reference lib="dom" />
/**
 * The playground's browser code (bundled by `deno task serve` with `deno bundle --platform
 * browser`; no Deno API is touched): fetches a run's newest checkpoint over HTTP, parses it with
 * the project's safetensors reader, builds the model with the project's own modules on the
 * browser's WebGPU adapter (the same WGSL kernels) or, without an adapter or with
 * `backend=cpu`, on the plain-TypeScript CPU backend, and decodes `a + b` greedily. It shows the
 * answer in normal digit order (`#answer`), which backend decoded it (`#backend`), the prompt's
 * tokens as the model sees them (reversed operands, Abacus index per token) and, for small inputs,
 * each generated token's probability. Query parameters `run`, `a`, `b`, `backend` fill the form;
 * with `a` and `b` it runs at once. `document.body.dataset.state` ends as `done` or `error`.
 * @module
 */
import { type Backend, CPU } from "../../core/backend.ts";
import { Device } from "../../core/device.ts";
import { abacusIndices } from "../../core/nn/abacus.ts";
import type { Arch } from "../../core/nn/arch.ts";
import { greedyDecode } from "../../core/nn/decode.ts";
import type { ArithmeticModel } from "../../core/nn/model.ts";
import { softmax } from "../../core/ops/softmax.ts";
import { decodeSafetensors } from "../../core/safetensors.ts";
import { noGrad, scope } from "../../core/tensor.ts";
import { EOS, getTokenizer } from "../../data/tokenizer.ts";
import { checkpointModel } from "../eval/weights.ts";
import type { PlayModel } from "./runs.ts";

const TOK = getTokenizer("pad");
/** Longest prompt + answer for which per-token probabilities are shown. */
const PROB_TOKENS = 64;

const $ = (id: string): HTMLElement => document.getElementById(id)!;

function setText(id: string, text: string): void {
  $(id).textContent = text;
}

/** A model loaded on one backend, kept between questions. */
interface Loaded {
  key: string;
  info: PlayModel;
  model: ArithmeticModel;
  backendLabel: string;
}

let loaded: Loaded | null = null;
let gpu: Promise<Device | string> | null = null;

/** The shared WebGPU device, or the reason there is none. */
function openDevice(): Promise<Device | string> {
  return gpu ??= ("gpu" in navigator)
    ? Device.create().catch((e: Error) => `no WebGPU adapter (${e.message.split(":")[0]})`)
    : Promise.resolve("this browser has no WebGPU");
}

async function load(run: string, want: string): Promise<Loaded> {
  const key = `${run}|${want}`;
  if (loaded?.key === key) return loaded;
  loaded?.model.dispose();
  loaded = null;
  setText("status", `loading ${run}…`);
  const res = await fetch(`/api/model?run=${encodeURIComponent(run)}`);
  if (!res.ok) throw new Error(await res.text());
  const info = await res.json() as PlayModel;
  const wres = await fetch(info.weights);
  if (!wres.ok) throw new Error(`Cannot fetch ${info.weights}: HTTP ${wres.status}`);
  const file = decodeSafetensors(new Uint8Array(await wres.arrayBuffer()));
  let backend: Backend = CPU, backendLabel = "cpu (plain TypeScript)";
  if (want !== "cpu") {
    const dev = await openDevice();
    if (typeof dev === "string") backendLabel = `cpu (plain TypeScript; ${dev})`;
    else {
      backend = dev;
      backendLabel = `webgpu on ${dev.adapterName}`;
    }
  }
  const model = checkpointModel(info.config, file, backend, info.checkpoint);
  loaded = { key, info, model, backendLabel };
  return loaded;
}

/** Digits of a non-negative integer operand; throws a message naming it otherwise. */
function digitsOf(s: string, what: string): string {
  const t = s.trim();
  if (!/^\d{1,200}$/.test(t)) throw new Error(`${what} must be a whole number of 1..200 digits`);
  return t;
}

function cell(tag: string, text: string, cls?: string): HTMLElement {
  const el = document.createElement(tag);
  el.textContent = text;
  if (cls) el.className = cls;
  return el;
}

/** Fills the token table: one column per token with its text, id and Abacus index. */
function showTokens(ids: number[], promptLength: number, arch: Arch): void {
  const abacus = arch.posEmbedding === "abacus" ? abacusIndices(ids, ids.length) : null;
  const table = $("tokens");
  table.replaceChildren();
  const rows: [string, (k: number) => string][] = [
    ["token", (k) => TOK.tokens[ids[k]] ?? "?"],
    ["id", (k) => String(ids[k])],
    [abacus ? "abacus index" : "position", (k) => String(abacus ? abacus[k] : k)],
  ];
  for (const [label, f] of rows) {
    const tr = document.createElement("tr");
    tr.append(cell("th", label));
    ids.forEach((_, k) => tr.append(cell("td", f(k), k >= promptLength ? "gen" : "")));
    table.append(tr);
  }
}

/** Each generated token's probability under a full forward pass over prompt + answer. */
async function probabilities(model: ArithmeticModel, ids: number[], P: number): Promise<number[]> {
  const L = ids.length, V = model.arch.vocabSize;
  const options = { training: false, kGrad: 0, stateSeed: 0 };
  const probs = await scope(() =>
    noGrad(() => softmax(model.forward(Int32Array.from(ids), 1, L, options)).toArray())
  ); // (1, L, V)
  return ids.slice(P).map((id, k) => probs[(P + k - 1) * V + id]); // token t is read at t - 1
}

async function solve(run: string, aText: string, bText: string, want: string): Promise<void> {
  document.body.dataset.state = "running";
  setText("answer", "");
  setText("error", "");
  $("probs").replaceChildren();
  const a = digitsOf(aText, "a"), b = digitsOf(bText, "b");
  const { info, model, backendLabel } = await load(run, want);
  setText("backend", backendLabel);
  const step = info.step === null ? "" : ` (step ${info.step})`;
  setText("checkpoint", `${info.run}/checkpoints/${info.checkpoint}${step}`);
  setText("status", "decoding…");
  const rev = (s: string) => [...s].reverse().join("");
  const text = `${info.reverseOperands ? rev(a) : a}+${info.reverseOperands ? rev(b) : b}=`;
  const prompt = TOK.encode(text);
  const t0 = performance.now();
  const maxNewTokens = Math.max(a.length, b.length) + 2;
  const [gen] = await greedyDecode(model, [Int32Array.from(prompt)], { maxNewTokens, seed: 0 });
  const ms = performance.now() - t0;
  const eos = gen.indexOf(EOS);
  const answer = [...(eos < 0 ? gen : gen.subarray(0, eos))];
  const written = TOK.decode(answer);
  const shown = info.reverseAnswer ? rev(written) : written;
  setText("answer", shown);
  const expected = (BigInt(a) + BigInt(b)).toString();
  setText("verdict", shown === expected ? "correct" : `wrong: ${a} + ${b} = ${expected}`);
  const ids = [...prompt, ...answer, ...(eos < 0 ? [] : [EOS])];
  showTokens(ids, prompt.length, model.arch);
  setText(
    "status",
    `decoded ${ids.length - prompt.length} tokens in ${ms.toFixed(0)} ms` +
      (info.reverseAnswer ? "; the model writes the answer least-significant digit first" : ""),
  );
  if (ids.length <= PROB_TOKENS) {
    const probs = await probabilities(model, ids, prompt.length);
    const list = $("probs");
    probs.forEach((p, k) => {
      const id = ids[prompt.length + k];
      list.append(cell("li", `${TOK.tokens[id]}: ${(100 * p).toFixed(2)}%`));
    });
  }
  document.body.dataset.state = "done";
}

function main(): void {
  const q = new URLSearchParams(location.search);
  const form = $("play") as HTMLFormElement;
  const field = (n: string) => form.elements.namedItem(n) as HTMLInputElement;
  for (const n of ["run", "a", "b", "backend"]) field(n).value = q.get(n) ?? field(n).value;
  const go = () =>
    solve(field("run").value, field("a").value, field("b").value, field("backend").value)
      .catch((e: Error) => {
        setText("error", e.message);
        setText("status", "failed");
        document.body.dataset.state = "error";
      });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const u = new URL(location.href);
    for (const n of ["run", "a", "b", "backend"]) u.searchParams.set(n, field(n).value);
    history.replaceState(null, "", u);
    go();
  });
  if (q.get("a") && q.get("b")) go();
  else document.body.dataset.state = "ready";
}

main();
