/**
 * Private WGSL templates shared by the elementwise, unary, reduction, softmax and cross-entropy
 * kernels: a "map" shader (one invocation per element, vec4 when sizes allow, operands that
 * broadcast by index modulo their size) and a "row" shader (one invocation per short row, or one
 * workgroup per long row with a fixed-order tree reduction, so results are deterministic).
 * @module
 */
import { type Buf, type KernelContext, subgroupsWanted } from "./context.ts";
import { type Key, type Launch, program, type ProgramSpec, type Scalar } from "./program.ts";

/** Largest finite f32, used as "minus infinity" for running maxima (WGSL has no inf literal). */
export const NEG_BIG = "-3.4028234663852886e38";

/**
 * A map kernel: `body` runs once per element (or per 4 elements as `vec4f` when `n` and every
 * broadcast input size are multiples of 4), with `T` (f32 or vec4f), `i`, each input's value
 * `<name>_v` (read at `i`, at `i % size` for a divisor size, or at 0 for size 1) and `p`.
 */
export interface MapDecl<K extends Key, I extends string, O extends string, F extends string>
  extends Pick<ProgramSpec<K, I, O, never>, "label"> {
  /** Inputs, bound first in this order. */
  inputs: readonly I[];
  /** Outputs, each an array of `n` elements. */
  outputs: readonly O[];
  /** Extra f32 uniforms (`p.<name>`), e.g. scale factors. */
  floats?: readonly F[];
  /** Whether outputs are also read (`<name>_v` loaded). */
  inPlace?: boolean;
  /** WGSL functions used by `body` (written over the alias `T`), per key. */
  helpers?: (k: K) => string;
  /** Statements run per element, per key. */
  body: (k: K) => string;
}

/** One launch of a map kernel. */
export interface MapLaunch<K extends Key, I extends string, O extends string, F extends string>
  extends Pick<Launch<K, I, O, never>, "key"> {
  /** Buffers; an `undefined` input is left out (the body must not read it for this key). */
  bind: Record<I | O, Buf | undefined>;
  /** Element count. */
  n: number;
  /** Element counts of broadcast inputs (default `n`). */
  sizes?: Partial<Record<I, number>>;
  /** Values of the `floats` uniforms. */
  floats?: Record<F, number>;
}

/** A declared map kernel. */
export interface MapProgram<K extends Key, I extends string, O extends string, F extends string> {
  /** Records one dispatch (none when `n` is 0). */
  run(ctx: KernelContext, l: MapLaunch<K, I, O, F>): void;
  /** The WGSL text of a key for inputs of these modes (f: full, m: modulo, s: scalar, -: none). */
  code(key: K, modes: string, vec: boolean): string;
}

/** Workgroup size of map shaders. */
export const MAP_WG = 256;

const MODE_LOAD: Record<string, (x: string) => string> = {
  f: (x) => `let ${x}_v = ${x}[i];`,
  s: (x) => `let ${x}_v = T(${x}[0]);`,
  m: (x) => `let ${x}_v = ${x}[i % p.n_${x}];`,
  "-": () => "",
};

/**
 * Declares a map kernel on the program layer (see `MapDecl`).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { mapProgram } from "./_map_rows.ts";
 * const neg = mapProgram({
 *   label: "neg", inputs: ["a"], outputs: ["out"], body: () => "out[i] = -a_v;",
 * });
 * assert(neg.code({}, "f", true).includes("alias T = vec4f"));
 * ```
 */
export function mapProgram<
  K extends Key,
  I extends string,
  O extends string,
  F extends string = never,
>(d: MapDecl<K, I, O, F>): MapProgram<K, I, O, F> {
  type MK = K & { vec: boolean; modes: string };
  const uniforms: Record<string, Scalar> = {};
  for (const x of d.inputs) uniforms[`n_${x}`] = "u32";
  for (const f of d.floats ?? []) uniforms[f] = "f32";
  const inputs = Object.fromEntries(d.inputs.map((x) => [x, `T_${x}`])) as Record<I, string>;
  const outputs = Object.fromEntries(d.outputs.map((o) => [o, "T"])) as Record<O, string>;
  const prog = program<MK, I, O, string>({
    label: d.label,
    inputs,
    outputs,
    uniforms,
    workgroup: MAP_WG,
    head: (k) =>
      `alias T = ${k.vec ? "vec4f" : "f32"};\n` +
      d.inputs.map((x, j) => `alias T_${x} = ${k.modes[j] === "s" ? "f32" : "T"};`).join("\n") +
      `\n${d.helpers?.(k) ?? ""}`,
    body: (k) =>
      [
        ...d.inputs.map((x, j) => MODE_LOAD[k.modes[j]](x)),
        ...(d.inPlace ? d.outputs.map((o) => `let ${o}_v = ${o}[i];`) : []),
        d.body(k),
      ].join("\n  "),
  });
  const params: Record<string, number> = { ...uniforms } as Record<string, never>;
  return {
    code: (key, modes, vec) => prog.code({ ...key, modes, vec }),
    run(ctx, l) {
      const { n } = l;
      if (n === 0) return;
      let modes = "";
      let vec = n % 4 === 0;
      for (const x of d.inputs) {
        const size = l.sizes?.[x] ?? n;
        const m = l.bind[x] === undefined ? "-" : size === n ? "f" : size === 1 ? "s" : "m";
        if (m === "m" && (size === 0 || n % size !== 0)) {
          throw new Error(`Map input ${x} of ${size} elements does not divide ${n}`);
        }
        if (m === "m" && size % 4 !== 0) vec = false;
        modes += m;
      }
      const w = vec ? 4 : 1;
      for (const x of d.inputs) params[`n_${x}`] = (l.sizes?.[x] ?? n) / w;
      for (const f of d.floats ?? []) params[f] = l.floats![f];
      prog.run(ctx, { key: { ...l.key, modes, vec }, bind: l.bind, params, count: n / w });
    },
  };
}

/** Reduction state of a row kernel. */
export interface RowState {
  /** Fields of `struct S`. */
  fields: string;
  /** Initial value of `var st`. */
  init: string;
  /** Per-element update of `st` (uses `i` and `base`). */
  accum: string;
  /** Body of `fn combine(a: S, b: S) -> S` (`a` holds the earlier elements). */
  combine: string;
}

/**
 * A row kernel: per-row state reduced over the row, then per-row and per-element statements.
 * Inside the statements `row`, `base = row * N`, `N` (the row length, baked in) and `p` exist.
 */
export interface RowDecl<K extends Key, I extends string, O extends string, U extends string>
  extends Pick<ProgramSpec<K, I, O, U>, "label" | "inputs" | "outputs" | "uniforms"> {
  /** WGSL helper functions. */
  helpers?: (k: K) => string;
  /** Reduction state (none: no reduction). */
  state?: (k: K) => RowState | undefined;
  /** Statements all invocations of a row run once `st` is final. */
  prelude?: (k: K) => string;
  /** Statements run once per row (per-row outputs). */
  once?: (k: K) => string;
  /** Statements run per element `i` of the row. */
  each?: (k: K) => string;
}

/** One launch of a row kernel. */
export interface RowLaunch<K extends Key, I extends string, O extends string, U extends string>
  extends Pick<Launch<K, I, O, U>, "key" | "params"> {
  /** Buffers (`undefined` leaves a binding out). */
  bind: Record<I | O, Buf | undefined>;
  rows: number;
  /** Row length. */
  n: number;
}

/** A declared row kernel. */
export interface RowProgram<K extends Key, I extends string, O extends string, U extends string> {
  /** Records one dispatch (none when `rows` is 0). */
  run(ctx: KernelContext, l: RowLaunch<K, I, O, U>): void;
  /** The WGSL text for a key, row length and layout. */
  code(key: K, n: number, layout: RowLayout): string;
}

/**
 * How a row kernel runs: one invocation per row, or a workgroup of `wg` per row whose partial
 * states combine through workgroup memory, first within each subgroup by shuffles when `sg`.
 */
export interface RowLayout {
  /** One invocation per row. */
  perRow: boolean;
  /** Invocations per row in the workgroup layout. */
  wg: number;
  /** Subgroup shuffles before the workgroup-memory step (the device has `subgroups`). */
  sg?: boolean;
}

/** Rows at most this long always run one invocation per row. */
const PER_ROW_MAX = 256;

/**
 * Chooses the row layout. Short rows: one invocation per row. Long rows on real GPUs: a
 * workgroup of 64 (256 beyond 8192) per row, for coalesced loads. On CPU adapters (llvmpipe)
 * a workgroup barrier is a coroutine switch, so long rows get a workgroup of 8 (one SIMD batch,
 * consecutive lanes reading consecutive elements), except many rows of moderate length, which
 * stay one invocation per row. Measured on llvmpipe, softmax: 4096x257 per-row 14 ms vs 64-wide
 * workgroups 64 ms; 1024x2048 per-row 30 ms, 8-wide 24 ms, 64-wide 38 ms.
 * `ctx.tuning.get("rows")` = `row`, `wg8`, `wg64` or `wg256` forces a layout (tests use it to
 * cover every layout on any adapter). Workgroup layouts reduce by subgroup shuffles first where
 * the device has the `subgroups` feature (`subgroupsWanted`), else through workgroup memory only.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { rowLayout } from "./_map_rows.ts";
 * assert(rowLayout({ isCpuAdapter: false }, 4096, 100).perRow);
 * assert(rowLayout({ isCpuAdapter: false }, 4096, 1000).wg === 64);
 * assert(rowLayout({ isCpuAdapter: true }, 4, 1000).wg === 8);
 * ```
 * @returns `perRow` and the workgroup size for the workgroup-per-row layout
 */
export function rowLayout(
  ctx: Parameters<typeof subgroupsWanted>[0],
  rows: number,
  n: number,
): RowLayout {
  const sg = subgroupsWanted(ctx);
  const forced = ctx.tuning?.get("rows");
  if (forced === "row") return { perRow: true, wg: 64 };
  if (forced?.startsWith("wg")) return { perRow: false, wg: Number(forced.slice(2)), sg };
  if (n <= PER_ROW_MAX) return { perRow: true, wg: 64 };
  if (!ctx.isCpuAdapter) return { perRow: false, wg: n >= 8192 ? 256 : 64, sg };
  const perRow = rows >= 1024 && n <= 1024;
  return { perRow, wg: 8, sg: sg && !perRow };
}

/**
 * Declares a row kernel on the program layer: short rows (or `perRow`) run one invocation each
 * (64 rows per workgroup); long rows run one workgroup each whose invocations stride the row and
 * combine their states in a fixed-order tree (deterministic).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { rowProgram } from "./_map_rows.ts";
 * const sum = rowProgram({
 *   label: "sum",
 *   inputs: { x: "f32" },
 *   outputs: { out: "f32" },
 *   state: () => ({ fields: "s: f32", init: "S(0.0)", accum: "st.s += x[base + i];",
 *            combine: "return S(a.s + b.s);" }),
 *   once: () => "out[row] = st.s;",
 * });
 * assert(sum.code({}, 1000, { perRow: false, wg: 64 }).includes("workgroupBarrier"));
 * // With subgroups (devices with the `subgroups` feature): shuffles, then workgroup memory.
 * const sg = sum.code({}, 1000, { perRow: false, wg: 64, sg: true });
 * assert(sg.startsWith("enable subgroups;") && sg.includes("subgroupShuffleXor(st.s, o)"));
 * ```
 */
export function rowProgram<
  K extends Key,
  I extends string = never,
  O extends string = never,
  U extends string = never,
>(d: RowDecl<K, I, O, U>): RowProgram<K, I, O, U> {
  type RK = K & { N: number; perRow: boolean; wg: number; sg: boolean };
  const prog = program<RK, I, O, U>({
    label: d.label,
    inputs: d.inputs,
    outputs: d.outputs,
    uniforms: d.uniforms,
    workgroup: (k) => k.perRow ? 64 : k.wg,
    subgroups: (k) => k.sg && !k.perRow && d.state?.(k) !== undefined,
    per: (k) => k.perRow ? "invocation" : "workgroup",
    index: "row",
    head: (k) => {
      const st = d.state?.(k);
      return `const N: u32 = ${k.N}u;
${st ? `struct S { ${st.fields} }\nfn combine(a: S, b: S) -> S { ${st.combine} }` : ""}
${d.helpers?.(k) ?? ""}
${st && !k.perRow ? `var<workgroup> sh: array<S, ${k.wg}>;` : ""}`;
    },
    body: (k) => {
      const st = d.state?.(k);
      const [once, each, prelude] = [d.once?.(k), d.each?.(k), d.prelude?.(k) ?? ""];
      if (k.perRow) {
        return `let base = row * N;
  ${st ? `var st = ${st.init};\n  for (var i = 0u; i < N; i++) { ${st.accum} }` : ""}
  ${prelude}
  ${once ?? ""}
  ${each ? `for (var i = 0u; i < N; i++) { ${each} }` : ""}`;
      }
      const shuffled = (f: string) => `t.${f} = subgroupShuffleXor(st.${f}, o);`;
      const names = st?.fields.split(",").map((f) => f.split(":")[0].trim()) ?? [];
      // Butterfly within each subgroup (offsets fixed, so the shuffles stay in uniform control
      // flow; partners past the subgroup size are ignored), the lower lane's state first; then
      // one state per subgroup in workgroup memory, combined in order by lane 0. Assumes
      // subgroups are consecutive local indices, as on every GPU we know of.
      const reduce = st && k.sg
        ? `var st = ${st.init};
  for (var i = lid; i < N; i += ${k.wg}u) { ${st.accum} }
  for (var o = 1u; o < ${k.wg}u; o <<= 1u) {
    var t: S;
    ${names.map(shuffled).join("\n    ")}
    if (o < sgs) {
      if ((sgi & o) == 0u) { st = combine(st, t); } else { st = combine(t, st); }
    }
  }
  if (sgi == 0u) { sh[lid / sgs] = st; }
  workgroupBarrier();
  if (lid == 0u) {
    for (var j = 1u; j < (${k.wg}u + sgs - 1u) / sgs; j++) { st = combine(st, sh[j]); }
    sh[0] = st;
  }
  workgroupBarrier();
  st = sh[0];`
        : st
        ? `var st = ${st.init};
  for (var i = lid; i < N; i += ${k.wg}u) { ${st.accum} }
  sh[lid] = st;
  workgroupBarrier();
  for (var k_ = ${k.wg / 2}u; k_ > 0u; k_ >>= 1u) {
    if (lid < k_) { sh[lid] = combine(sh[lid], sh[lid + k_]); }
    workgroupBarrier();
  }
  st = sh[0];`
        : "";
      return `let base = row * N;
  ${reduce}
  ${prelude}
  ${once ? `if (lid == 0u) { ${once} }` : ""}
  ${each ? `for (var i = lid; i < N; i += ${k.wg}u) { ${each} }` : ""}`;
    },
  });
  return {
    code: (key, n, layout) => prog.code({ ...key, N: n, ...layout, sg: !!layout.sg }),
    run(ctx, l) {
      if (l.rows === 0) return;
      const { perRow, wg, sg } = rowLayout(ctx, l.rows, l.n);
      const key = { ...l.key, N: l.n, perRow, wg, sg: !!sg };
      prog.run(ctx, { key, bind: l.bind, params: l.params, count: l.rows });
    },
  };
}
