/**
 * Private WGSL templates shared by the elementwise, unary, reduction, softmax and cross-entropy
 * kernels: a "map" shader (one invocation per element, vec4 when sizes allow, operands that
 * broadcast by index modulo their size) and a "row" shader (one invocation per short row, or one
 * workgroup per long row with a fixed-order tree reduction, so results are deterministic).
 * @module
 */

/** Largest finite f32, used as "minus infinity" for running maxima (WGSL has no inf literal). */
export const NEG_BIG = "-3.4028234663852886e38";

/** How a map input is indexed: per element, modulo its size (broadcast rows), or element 0. */
export type MapMode = "full" | "mod" | "scalar";

/** One input of a map shader: its WGSL name and element count. */
export interface MapInput {
  /** WGSL identifier; the loaded value is `<name>_v` in the body. */
  name: string;
  /** Element count: the map size `n`, a divisor of it (broadcast), or 1 (scalar). */
  size: number;
}

/** A map shader as the launchers describe it. */
export interface MapSpec {
  /** Inputs, bound first and loaded as `<name>_v` before `body` runs. */
  inputs: MapInput[];
  /** Output names, bound after the inputs (each an array of `n` elements). */
  outputs: string[];
  /** Element count. */
  n: number;
  /** Statements run per element, with `T` (f32 or vec4f), `i`, the loaded values and `p`. */
  body: string;
  /** WGSL functions used by `body` (written over the alias `T`). */
  helpers?: string;
  /** Names of extra f32 uniform fields (`p.<name>`), e.g. scale factors. */
  floats?: string[];
  /** Whether an output is also read (then it is bound read_write and `<name>_v` is loaded). */
  inPlace?: boolean;
}

/** A compiled-by-text map shader: WGSL, params and workgroup count. */
export interface MapPlan {
  /** WGSL text. */
  code: string;
  /** Uniform data matching `struct P`. */
  params: Uint32Array;
  /** Invocations needed (elements, or vec4 groups). */
  count: number;
}

/** Workgroup size of map shaders. */
export const MAP_WG = 256;

function modeOf(size: number, n: number): MapMode {
  return size === n ? "full" : size === 1 ? "scalar" : "mod";
}

/**
 * Builds a map shader: `body` runs once per element (or per 4 elements as `vec4f` when `n` and
 * every broadcast input size are multiples of 4).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { mapShader } from "./_map_rows.ts";
 * const plan = mapShader({
 *   inputs: [{ name: "a", size: 8 }],
 *   outputs: ["out"],
 *   n: 8,
 *   body: "out[i] = -a_v;",
 * });
 * assert(plan.count === 2 && plan.code.includes("vec4f"));
 * ```
 * @param s inputs, outputs, size and per-element body
 * @param floatValues values of `s.floats`, in order
 * @returns the WGSL text, its params and the invocation count
 */
export function mapShader(s: MapSpec, floatValues: number[] = []): MapPlan {
  const modes = s.inputs.map((x) => modeOf(x.size, s.n));
  s.inputs.forEach((x, k) => {
    if (modes[k] === "mod" && (x.size === 0 || s.n % x.size !== 0)) {
      throw new Error(`Map input ${x.name} of ${x.size} elements does not divide ${s.n}`);
    }
  });
  const vec = s.n % 4 === 0 && s.inputs.every((x, k) => modes[k] !== "mod" || x.size % 4 === 0);
  const w = vec ? 4 : 1;
  const decls: string[] = [];
  const loads: string[] = [];
  const fields = ["n: u32,"];
  const values = [s.n / w];
  let bi = 0;
  s.inputs.forEach((x, k) => {
    const m = modes[k];
    const elem = m === "scalar" ? "f32" : "T";
    decls.push(`@group(0) @binding(${bi++}) var<storage, read> ${x.name}: array<${elem}>;`);
    if (m === "full") loads.push(`let ${x.name}_v = ${x.name}[i];`);
    else if (m === "scalar") loads.push(`let ${x.name}_v = T(${x.name}[0]);`);
    else {
      fields.push(`n_${x.name}: u32,`);
      values.push(x.size / w);
      loads.push(`let ${x.name}_v = ${x.name}[i % p.n_${x.name}];`);
    }
  });
  for (const o of s.outputs) {
    decls.push(`@group(0) @binding(${bi++}) var<storage, read_write> ${o}: array<T>;`);
    if (s.inPlace) loads.push(`let ${o}_v = ${o}[i];`);
  }
  const floats = s.floats ?? [];
  for (const f of floats) fields.push(`${f}: f32,`);
  const params = new Uint32Array(values.length + floats.length);
  params.set(values);
  new Float32Array(params.buffer).set(floatValues.map(Math.fround), values.length);
  const code = /* wgsl */ `
alias T = ${vec ? "vec4f" : "f32"};
struct P { ${fields.join(" ")} }
${decls.join("\n")}
@group(0) @binding(${bi}) var<uniform> p: P;
${s.helpers ?? ""}
@compute @workgroup_size(${MAP_WG})
fn main(@builtin(global_invocation_id) gid_: vec3u, @builtin(num_workgroups) nwg_: vec3u) {
  let i = gid_.x + gid_.y * nwg_.x * ${MAP_WG}u;
  if (i >= p.n) { return; }
  ${loads.join("\n  ")}
  ${s.body}
}`;
  return { code, params, count: s.n / w };
}

/** A row shader: per-row state reduced over the row, then per-row and per-element outputs. */
export interface RowSpec {
  /** Storage buffers `[name, access, element type]`, bound in order. */
  buffers: [string, "read" | "read_write", string][];
  /** Extra uniform fields after `rows: u32`, e.g. `"ign: i32, nan: u32,"`. */
  params?: string;
  /** Row length (baked into the shader as `N`). */
  n: number;
  /** WGSL helper functions. */
  helpers?: string;
  /**
   * Reduction state: struct fields, initial value, per-element update of `var st` (uses `i`
   * and `base`), and the body of `fn combine(a: S, b: S) -> S` (a holds the earlier elements).
   */
  state?: { fields: string; init: string; accum: string; combine: string };
  /** Statements all invocations of a row run once `st` is final. */
  prelude?: string;
  /** Statements run once per row (per-row outputs). */
  once?: string;
  /** Statements run per element `i` of the row. */
  each?: string;
  /** One invocation per row (true) or a workgroup per row (false); see `rowLayout`. */
  perRow?: boolean;
  /** Workgroup size of the workgroup-per-row layout (a power of two; default by row length). */
  wg?: number;
}

/** A row shader plan. */
export interface RowPlan {
  /** WGSL text. */
  code: string;
  /** True when one invocation handles a whole row. */
  perRow: boolean;
  /** Workgroups needed for `rows` rows (before splitting into a grid). */
  groups(rows: number): number;
}

/** Rows at most this long always run one invocation per row. */
export const PER_ROW_MAX = 256;

/**
 * Chooses the row layout. Short rows: one invocation per row. Long rows on real GPUs: a
 * workgroup of 64 (256 beyond 8192) per row, for coalesced loads. On CPU adapters (llvmpipe)
 * a workgroup barrier is a coroutine switch, so long rows get a workgroup of 8 (one SIMD batch,
 * consecutive lanes reading consecutive elements), except many rows of moderate length, which
 * stay one invocation per row. Measured on llvmpipe, softmax: 4096x257 per-row 14 ms vs 64-wide
 * workgroups 64 ms; 1024x2048 per-row 30 ms, 8-wide 24 ms, 64-wide 38 ms.
 * `ctx.tuning.get("rows")` = `row`, `wg8`, `wg64` or `wg256` forces a layout (tests use it to
 * cover every layout on any adapter).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { rowLayout } from "./_map_rows.ts";
 * assert(rowLayout({ isCpuAdapter: false }, 4096, 100).perRow);
 * assert(rowLayout({ isCpuAdapter: false }, 4096, 1000).wg === 64);
 * assert(rowLayout({ isCpuAdapter: true }, 4, 1000).wg === 8);
 * ```
 * @param ctx the adapter kind
 * @param rows number of rows
 * @param n row length
 * @returns `perRow` and the workgroup size for the workgroup-per-row layout
 */
export function rowLayout(
  ctx: { isCpuAdapter: boolean; tuning?: Map<string, string> },
  rows: number,
  n: number,
): { perRow: boolean; wg: number } {
  const forced = ctx.tuning?.get("rows");
  if (forced === "row") return { perRow: true, wg: 64 };
  if (forced?.startsWith("wg")) return { perRow: false, wg: Number(forced.slice(2)) };
  if (n <= PER_ROW_MAX) return { perRow: true, wg: 64 };
  if (!ctx.isCpuAdapter) return { perRow: false, wg: n >= 8192 ? 256 : 64 };
  return { perRow: rows >= 1024 && n <= 1024, wg: 8 };
}

/**
 * Builds a row shader: short rows (or `perRow: true`) run one invocation each (64 rows per
 * workgroup); long rows run one workgroup each whose invocations stride the row and combine their states in a
 * fixed-order tree (deterministic). Inside the statements `row`, `base = row * N` and `N` exist.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { rowShader } from "./_map_rows.ts";
 * const plan = rowShader({
 *   buffers: [["x", "read", "f32"], ["out", "read_write", "f32"]],
 *   n: 1000,
 *   state: { fields: "s: f32", init: "S(0.0)", accum: "st.s += x[base + i];",
 *            combine: "return S(a.s + b.s);" },
 *   once: "out[row] = st.s;",
 * });
 * assert(!plan.perRow && plan.groups(3) === 3);
 * ```
 * @param s buffers, row length and the reduction/output statements
 * @returns the WGSL text and how to size the dispatch
 */
export function rowShader(s: RowSpec): RowPlan {
  const perRow = s.perRow ?? s.n <= PER_ROW_MAX;
  const wg = perRow ? 64 : s.wg ?? (s.n >= 8192 ? 256 : 64);
  const decls = s.buffers.map(([name, access, type], k) =>
    `@group(0) @binding(${k}) var<storage, ${access}> ${name}: array<${type}>;`
  );
  const st = s.state;
  const head = /* wgsl */ `
const N: u32 = ${s.n}u;
struct P { rows: u32, ${s.params ?? ""} }
${decls.join("\n")}
@group(0) @binding(${s.buffers.length}) var<uniform> p: P;
${st ? `struct S { ${st.fields} }\nfn combine(a: S, b: S) -> S { ${st.combine} }` : ""}
${s.helpers ?? ""}`;
  let code: string;
  if (perRow) {
    code = head + /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid_: vec3u, @builtin(num_workgroups) nwg_: vec3u) {
  let row = gid_.x + gid_.y * nwg_.x * 64u;
  if (row >= p.rows) { return; }
  let base = row * N;
  ${st ? `var st = ${st.init};\n  for (var i = 0u; i < N; i++) { ${st.accum} }` : ""}
  ${s.prelude ?? ""}
  ${s.once ?? ""}
  ${s.each ? `for (var i = 0u; i < N; i++) { ${s.each} }` : ""}
}`;
  } else {
    const reduce = st
      ? /* wgsl */ `var st = ${st.init};
  for (var i = lid; i < N; i += ${wg}u) { ${st.accum} }
  sh[lid] = st;
  workgroupBarrier();
  for (var k_ = ${wg / 2}u; k_ > 0u; k_ >>= 1u) {
    if (lid < k_) { sh[lid] = combine(sh[lid], sh[lid + k_]); }
    workgroupBarrier();
  }
  st = sh[0];`
      : "";
    code = head + /* wgsl */ `
${st ? `var<workgroup> sh: array<S, ${wg}>;` : ""}
@compute @workgroup_size(${wg})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid_: vec3u,
        @builtin(num_workgroups) nwg_: vec3u) {
  let row = wid_.x + wid_.y * nwg_.x;
  if (row >= p.rows) { return; }
  let base = row * N;
  ${reduce}
  ${s.prelude ?? ""}
  ${s.once ? `if (lid == 0u) { ${s.once} }` : ""}
  ${s.each ? `for (var i = lid; i < N; i += ${wg}u) { ${s.each} }` : ""}
}`;
  }
  return { code, perRow, groups: (rows) => (perRow ? Math.ceil(rows / 64) : rows) };
}
