/**
 * WGSL generators of the attention backward kernels (`attention_backward.ts`): the query-side
 * kernel (dq, and D = dO.O), the key-side kernel (dk, dv) and the bias-gradient reduction.
 * @module
 */
import { rotateChunksCode } from "./_attention_rotary.ts";
import { type AttentionShape, AttnCode, f32, ROTARY_BASE } from "./_attention_code.ts";
import { rowSources, type ShapeKey, shapeOf } from "./_attention_rows.ts";
import { program } from "./program.ts";

/** Arguments of `attentionBackward`: `B` is `Buf` for the launcher, a float array for the reference. */
export interface AttentionBackwardArgs<B> extends AttentionShape {
  /** The forward's fused projection, (batch, seq, 3 * heads * headDim). */
  qkv: B;
  /** The forward's output, (batch, seq, heads * headDim). */
  out: B;
  /** The forward's saved row log-sum-exp, (batch, heads, seq). */
  lse: B;
  /** Gradient of the output, (batch, seq, heads * headDim). */
  dout: B;
  /** Gradient of `qkv` (written, same layout), (batch, seq, 3 * heads * headDim). */
  dqkv: B;
  /** The forward's bias, (heads, seq, seq), when it had one. */
  bias?: B;
  /** Gradient of the bias (written, summed over the batch), (heads, seq, seq). */
  dbias?: B;
}

/** WGSL offset of head h's row t of a (batch, seq, heads * hd) tensor. */
function headRow(a: AttentionShape, t: string): string {
  return `(b * ${a.seq}u + ${t}) * ${a.heads * a.headDim}u + h * ${a.headDim}u`;
}

/** WGSL offset of head h's q/k/v row t inside `qkv`-shaped storage. */
function qkvRow(a: AttentionShape, which: number, t: string): string {
  const col = a.layout === "pytorch"
    ? `${which * a.heads * a.headDim}u + h * ${a.headDim}u`
    : `h * ${3 * a.headDim}u + ${which * a.headDim}u`;
  return `(b * ${a.seq}u + ${t}) * ${3 * a.heads * a.headDim}u + ${col}`;
}

/** What the backward programs' text depends on. */
export type BackwardKey = ShapeKey & {
  /** Whether there is a bias (and, for the query pass, a bias gradient `ds` to write). */
  bias: boolean;
  /** Query pass only: whether it writes ds for the bias gradient. */
  ds: boolean;
  /** Invocations per workgroup. */
  wg: number;
  /** Rows per invocation. */
  slots: number;
  /** Batch rows per dispatch (the query pass with a bias gradient runs in chunks). */
  nb: number;
};

const HEAD = (k: BackwardKey) =>
  /* wgsl */ `alias ROW = ${k.headDim % 4 === 0 ? "vec4f" : "f32"};
const SCALE = ${f32(Math.LOG2E / Math.sqrt(k.headDim))};
const LOG2E = ${f32(Math.LOG2E)};
const INV_SQRT = ${f32(1 / Math.sqrt(k.headDim))};`;

const START = (a: AttentionShape, nblk: number, qb: number, nb: number) => /* wgsl */ `
  let lane = lid;
  let bh = w / ${nblk}u;
  let h = bh % ${a.heads}u;
  let b = bh / ${a.heads}u${nb < a.batch ? " + p.bBase" : ""};
  if (b >= ${a.batch}u) { return; }
  let r0 = (w % ${nblk}u) * ${qb}u;
${a.rotary ? "let OFFSET = p.offset;\n" : ""}`;

function queryBody(k: BackwardKey): string {
  const a = shapeOf(k), { wg, slots, nb } = k;
  const { seq, heads, headDim: hd } = a;
  const g = new AttnCode(hd, "load");
  const src = rowSources(a);
  const qb = wg * slots, nblk = Math.ceil(seq / qb);
  const hasBias = k.bias, wantDb = k.ds;

  let init = "";
  for (let r = 0; r < slots; r++) {
    const [qa, qo] = src.q(`iq${r}`);
    init += `let i${r} = r0 + ${r * wg}u + lane;\nlet iq${r} = min(i${r}, ${seq - 1}u);\n`;
    init += g.load(`q${r}`, qa, qo, "SCALE");
    init += g.load(`g${r}`, "dout", headRow(a, `iq${r}`));
    init += g.load(`o${r}`, "o", headRow(a, `iq${r}`));
    init += `let d${r} = ${g.dot(`g${r}`, `o${r}`)};\n`;
    init += `let ls${r} = lse[(b * ${heads}u + h) * ${seq}u + iq${r}] * LOG2E;\n`;
    init += g.zeros(`dq${r}`);
    if (hasBias) init += `let br${r} = (h * ${seq}u + iq${r}) * ${seq}u;\n`;
    if (wantDb) {
      const bl = nb < a.batch ? "(b - p.bBase)" : "b";
      init += `let dsr${r} = ((${bl} * ${heads}u + h) * ${seq}u + iq${r}) * ${seq}u;\n`;
    }
  }
  // One loop over keys; slot r only sees keys below its rows' end (a branch every lane takes
  // the same way, skipped by llvmpipe when false).
  const [ka, ko] = src.k("j"), [va, vo] = src.v("j");
  let body = g.load("k", ka, ko) + g.load("v", va, vo);
  for (let r = 0; r < slots; r++) {
    body += `if (j < r0 + ${(r + 1) * wg}u) {
  let s = ${g.dot(`q${r}`, "k")}${hasBias ? ` + bias[br${r} + j] * LOG2E` : ""};
  let pr = select(exp2(s - ls${r}), 0.0, j > i${r});
  let dsv = pr * (${g.dot(`g${r}`, "v")} - d${r});
  ${g.axpy(`dq${r}`, "", "dsv", "k")}${
      wantDb ? `  if (i${r} < ${seq}u) { ds[dsr${r} + j] = dsv; }\n` : ""
    }}\n`;
  }
  const loops = `for (var j = 0u; j < min(r0 + ${qb}u, ${seq}u); j++) {\n${body}}\n`;
  let fin = "";
  for (let r = 0; r < slots; r++) {
    fin += `if (i${r} < ${seq}u) {\n`;
    if (a.rotary) {
      fin += rotateChunksCode(
        g.hd,
        `dq${r}`,
        `f32(i${r} + OFFSET)`,
        a.rotary.base ?? ROTARY_BASE,
        true,
      );
    }
    fin += g.store(`dq${r}`, "dqkv", qkvRow(a, 0, `i${r}`), "INV_SQRT");
    fin += `dd[(b * ${heads}u + h) * ${seq}u + i${r}] = d${r};\n}\n`;
  }
  return `${START(a, nblk, qb, nb)}${init}${loops}${fin}`;
}

function keyBody(k: BackwardKey): string {
  const a = shapeOf(k), { wg, slots } = k;
  const { seq, heads, headDim: hd } = a;
  const g = new AttnCode(hd, "load");
  const src = rowSources(a);
  const kb = wg * slots, nblk = Math.ceil(seq / kb);
  const hasBias = k.bias;

  let init = "";
  for (let r = 0; r < slots; r++) {
    const [ka, ko] = src.k(`jq${r}`), [va, vo] = src.v(`jq${r}`);
    init += `let j${r} = r0 + ${r * wg}u + lane;\nlet jq${r} = min(j${r}, ${seq - 1}u);\n`;
    init += g.load(`k${r}`, ka, ko) + g.load(`v${r}`, va, vo);
    init += g.zeros(`dk${r}`) + g.zeros(`dv${r}`);
  }
  // One loop over queries r0..T-1; slot r only sees queries from its first key on.
  const [qa, qo] = src.q("i");
  let body = g.load("q", qa, qo, "SCALE") + g.load("g", "dout", headRow(a, "i"));
  body += `let ls = lse[(b * ${heads}u + h) * ${seq}u + i] * LOG2E;\n`;
  body += `let di = dd[(b * ${heads}u + h) * ${seq}u + i];\n`;
  if (hasBias) body += `let bi = (h * ${seq}u + i) * ${seq}u;\n`;
  for (let r = 0; r < slots; r++) {
    body += `if (i >= r0 + ${r * wg}u) {
  let s = ${g.dot("q", `k${r}`)}${hasBias ? ` + bias[bi + jq${r}] * LOG2E` : ""};
  let pr = select(exp2(s - ls), 0.0, j${r} > i);
  let dsv = pr * (${g.dot("g", `v${r}`)} - di);
  ${g.axpy(`dv${r}`, "", "pr", "g")}${g.axpy(`dk${r}`, "", "dsv", "q")}}\n`;
  }
  const loops = `for (var i = r0; i < ${seq}u; i++) {\n${body}}\n`;
  let fin = "";
  for (let r = 0; r < slots; r++) {
    fin += `if (j${r} < ${seq}u) {\n`;
    if (a.rotary) {
      fin += rotateChunksCode(
        g.hd,
        `dk${r}`,
        `f32(j${r} + OFFSET)`,
        a.rotary.base ?? ROTARY_BASE,
        true,
      );
    }
    // q rows carried the factor log2(e)/sqrt(hd); dk needs 1/sqrt(hd).
    fin += g.store(`dk${r}`, "dqkv", qkvRow(a, 1, `j${r}`), f32(Math.LN2));
    fin += g.store(`dv${r}`, "dqkv", qkvRow(a, 2, `j${r}`));
    fin += "}\n";
  }
  return `${START(a, nblk, kb, a.batch)}${init}${loops}${fin}`;
}

/**
 * The query pass: per query row, dq (and the row's dO.O, and ds for the bias gradient), one
 * workgroup per block of query rows of one (batch row, head).
 */
export const QUERY = program({
  label: "attention.backward.query",
  inputs: { qkv: "ROW", qk: "ROW", o: "ROW", dout: "ROW", lse: "f32", bias: "f32" },
  outputs: { dqkv: "ROW", dd: "f32", ds: "f32" },
  uniforms: { offset: "u32", bBase: "u32" },
  workgroup: (k: BackwardKey) => k.wg,
  per: "workgroup",
  index: "w",
  flat: (k) =>
    k.headDim % 4 === 0 ? (k.base ? ["qkv", "qk", "o", "dout"] : ["qkv", "o", "dout"]) : [],
  head: HEAD,
  body: queryBody,
});

/** The key pass: per key row, dk and dv, one workgroup per block of key rows. */
export const KEY = program({
  label: "attention.backward.key",
  inputs: { qkv: "ROW", qk: "ROW", dout: "ROW", lse: "f32", dd: "f32", bias: "f32" },
  outputs: { dqkv: "ROW" },
  uniforms: { offset: "u32" },
  workgroup: (k: BackwardKey) => k.wg,
  per: "workgroup",
  index: "w",
  flat: (k) => k.headDim % 4 === 0 ? (k.base ? ["qkv", "qk", "dout"] : ["qkv", "dout"]) : [],
  head: HEAD,
  body: keyBody,
});

/**
 * The bias gradient: sums ds over a chunk of `nb` batch rows (`p.rows` of them valid) into
 * dbias, or adds to it (`acc`); one invocation per (head, query, key) entry.
 */
export const BIAS_REDUCE = program({
  label: "attention.backward.bias",
  inputs: { ds: "f32" },
  outputs: { dbias: "f32" },
  uniforms: { rows: "u32" },
  workgroup: 64,
  index: "e",
  body: (k: { seq: number; nb: number; acc: boolean }) =>
    `let j = e % ${k.seq}u;
  let i = (e / ${k.seq}u) % ${k.seq}u;
  var acc = 0.0;
  if (j <= i) {
    for (var b = 0u; b < min(p.rows, ${k.nb}u); b++) { acc += ds[b * p.n + e]; }
  }
  dbias[e] = ${k.acc ? "dbias[e] + acc" : "acc"};`,
});
