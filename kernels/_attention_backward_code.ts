/**
 * WGSL generators of the attention backward kernels (`attention_backward.ts`): the query-side
 * kernel (dq, and D = dO.O), the key-side kernel (dk, dv) and the bias-gradient reduction.
 * @module
 */
import { rotateChunksCode } from "./_attention_rotary.ts";
import { type AttentionShape, AttnCode, f32, ROTARY_BASE } from "./_attention_code.ts";
import { declareBindings, rowSources } from "./_attention_rows.ts";

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

const HEADER = (
  a: AttentionShape,
  nblk: number,
  wg: number,
  qb: number,
  nb = a.batch,
) => /* wgsl */ `
const SCALE = ${f32(Math.LOG2E / Math.sqrt(a.headDim))};
const LOG2E = ${f32(Math.LOG2E)};
const INV_SQRT = ${f32(1 / Math.sqrt(a.headDim))};
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u) {
  let w = wid.x + wid.y * nwg.x;
  if (w >= ${nb * a.heads * nblk}u) { return; }
  let lane = lid.x;
  let bh = w / ${nblk}u;
  let h = bh % ${a.heads}u;
  let b = bh / ${a.heads}u${nb < a.batch ? " + prm.bBase" : ""};
  if (b >= ${a.batch}u) { return; }
  let r0 = (w % ${nblk}u) * ${qb}u;
`;

/**
 * Query-side kernel: per query row i (a lane's slot) it recomputes p_ij = exp(s_ij - lse_i)
 * over the keys, ds_ij = p_ij (dO_i.v_j - D_i) with D_i = dO_i.O_i, and accumulates
 * dq_i = sum_j ds_ij k_j / sqrt(hd) (un-rotated at the end). Writes D for the key kernel and,
 * when the bias needs a gradient, ds per batch for the reduction.
 *
 * @example
 * ```ts ignore
 * const code = queryCode(args, 8, 3, args.batch, new Set(["qkv", "o", "dout"]));
 * ```
 * @param a sizes, layout and which optional buffers are present
 * @param wg lanes per workgroup
 * @param slots rows per lane
 * @param nb batch rows per dispatch (fewer than the batch when ds is reduced in chunks)
 * @param tex arrays bound as flat textures
 * @returns the WGSL module
 */
export function queryCode(
  a: AttentionBackwardArgs<unknown>,
  wg: number,
  slots: number,
  nb: number,
  tex: ReadonlySet<string>,
): string {
  const { seq, heads, headDim: hd } = a;
  const g = new AttnCode(hd, tex);
  const src = rowSources(a);
  const qb = wg * slots, nblk = Math.ceil(seq / qb);
  const hasBias = !!a.bias, wantDb = !!a.dbias;
  const binds: [string, string, boolean][] = [["qkv", g.type("qkv"), false]];
  if (a.rotary) binds.push(["qk", g.type("qk"), false]);
  binds.push(["o", g.type("o"), false], ["dout", g.type("dout"), false]);
  binds.push(["lse", "array<f32>", false]);
  if (hasBias) binds.push(["bias", "array<f32>", false]);
  binds.push(["dqkv", `array<${g.elem}>`, true], ["dd", "array<f32>", true]);
  if (wantDb) binds.push(["ds", "array<f32>", true]);

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
      const bl = nb < a.batch ? "(b - prm.bBase)" : "b";
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
  const prm = a.rotary || nb < a.batch;
  return `${prm ? "struct P { offset: u32, bBase: u32 }\n" : ""}${declareBindings(binds)}
${prm ? `@group(0) @binding(${binds.length}) var<uniform> prm: P;\n` : ""}${
    HEADER(a, nblk, wg, qb, nb)
  }${a.rotary ? "let OFFSET = prm.offset;\n" : ""}${init}${loops}${fin}}`;
}

/**
 * Key-side kernel: per key row j (a lane's slot) it walks the queries i >= j, recomputes p_ij
 * and ds_ij, and accumulates dv_j = sum_i p_ij dO_i and dk_j = sum_i ds_ij q_i / sqrt(hd)
 * (un-rotated at the end). Needs D from the query kernel.
 *
 * @example
 * ```ts ignore
 * const code = keyCode(args, 8, 3, new Set(["qkv", "dout"]));
 * ```
 * @param a sizes, layout and which optional buffers are present
 * @param wg lanes per workgroup
 * @param slots rows per lane
 * @param tex arrays bound as flat textures
 * @returns the WGSL module
 */
export function keyCode(
  a: AttentionBackwardArgs<unknown>,
  wg: number,
  slots: number,
  tex: ReadonlySet<string>,
): string {
  const { seq, heads, headDim: hd } = a;
  const g = new AttnCode(hd, tex);
  const src = rowSources(a);
  const kb = wg * slots, nblk = Math.ceil(seq / kb);
  const hasBias = !!a.bias;
  const binds: [string, string, boolean][] = [["qkv", g.type("qkv"), false]];
  if (a.rotary) binds.push(["qk", g.type("qk"), false]);
  binds.push(["dout", g.type("dout"), false], ["lse", "array<f32>", false]);
  binds.push(["dd", "array<f32>", false]);
  if (hasBias) binds.push(["bias", "array<f32>", false]);
  binds.push(["dqkv", `array<${g.elem}>`, true]);

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
  return `${a.rotary ? "struct P { offset: u32, bBase: u32 }\n" : ""}${declareBindings(binds)}
${a.rotary ? `@group(0) @binding(${binds.length}) var<uniform> prm: P;\n` : ""}${
    HEADER(a, nblk, wg, kb)
  }${a.rotary ? "let OFFSET = prm.offset;\n" : ""}${init}${loops}${fin}}`;
}

/**
 * Sums ds (nb, heads, T, T) over its batch rows in order into dbias (zero above the diagonal);
 * `accumulate` adds to what earlier batch chunks left there.
 *
 * @example
 * ```ts ignore
 * const code = biasReduceCode(shape, 16, false);
 * ```
 * @param a sizes
 * @param nb batch rows in the ds scratch
 * @param accumulate add to dbias instead of overwriting it
 * @returns the WGSL module
 */
export function biasReduceCode(a: AttentionShape, nb: number, accumulate: boolean): string {
  const { seq, heads } = a;
  const n = heads * seq * seq;
  return /* wgsl */ `
struct P { rows: u32 }
@group(0) @binding(0) var<storage, read> ds: array<f32>;
@group(0) @binding(1) var<storage, read_write> dbias: array<f32>;
@group(0) @binding(2) var<uniform> prm: P;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let e = gid.x + gid.y * nw.x * 64u;
  if (e >= ${n}u) { return; }
  let j = e % ${seq}u;
  let i = (e / ${seq}u) % ${seq}u;
  var acc = 0.0;
  if (j <= i) {
    for (var b = 0u; b < min(prm.rows, ${nb}u); b++) { acc += ds[b * ${n}u + e]; }
  }
  dbias[e] = ${accumulate ? "dbias[e] + acc" : "acc"};
}`;
}
