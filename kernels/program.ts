/**
 * The program layer: a kernel declares its storage bindings, uniforms, workgroup size and WGSL
 * body once, and the layer writes everything around the body (binding declarations, the uniform
 * struct and its bytes, the flat-index guard), caches the text per key, and decides in one place
 * whether read-only vec4 inputs are read through flat textures (CPU adapters) or storage buffers.
 * `Kernel` pairs a launcher with its CPU reference so that an op states its arguments once
 * (`core/ops/_run.ts`). Two shapes of kernel are declared on top of `program`: a "map" (one
 * invocation per element, vec4 when sizes allow, operands that broadcast by index modulo their
 * size: elementwise, unary) and a "row" (one invocation per short row, or one workgroup per long
 * row with a fixed-order tree reduction, so results are deterministic: softmax, cross-entropy,
 * reductions).
 *
 * Flat textures: a storage buffer's floats copied into an `rgba32float` 2D-array texture, texel t
 * holding floats 4t..4t+3, so a kernel can read vec4s through `textureLoad` instead of storage
 * buffer loads. On llvmpipe a read-only storage texture load costs ~5.5 ns per 8 lanes against
 * ~24 ns for a storage buffer `vec4f` (bench/NOTES.md), and the copy runs as a memcpy (~35 GB/s),
 * so memory-bound kernels that read their rows several times gain most. Real GPUs read buffers
 * as fast as textures, so launchers use this on CPU adapters only.
 * @module
 */
import {
  type Binding,
  type Buf,
  bufParts,
  grid1d,
  type KernelContext,
  subgroupsWanted,
} from "./context.ts";

/** log2 of texels per texture row. */
const XS = 10;
/** log2 of rows per array layer. */
const YS = 12;

/** WGSL type of a flat texture binding (read-only storage texture). */
export const FLAT_TEXTURE_TYPE = "texture_storage_2d_array<rgba32float, read>";

/**
 * WGSL expression loading texel `t` (a u32 expression, evaluated several times: pass a name)
 * of the flat texture `name` as a `vec4f`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { flatFetch } from "./program.ts";
 * assert(flatFetch("x", "t").startsWith("textureLoad(x, vec2u(t & 1023u"));
 * ```
 * @returns a WGSL `vec4f` expression
 */
export function flatFetch(name: string, t: string): string {
  return `textureLoad(${name}, vec2u(${t} & ${(1 << XS) - 1}u, (${t} >> ${XS}u) & ${
    (1 << YS) - 1
  }u), ${t} >> ${XS + YS}u)`;
}

/**
 * Texture extents `[width, height, layers]` holding `texels` texels in the flat layout. Heights
 * are powers of two, so the device's recycled scratch textures come in a few sizes whatever the
 * tensor shapes (evaluation meets many prompt lengths).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { flatExtents } from "./program.ts";
 * assert(flatExtents(1500).join() === "1024,2,1");
 * assert(flatExtents(3000).join() === "1024,4,1");
 * assert(flatExtents(5000 * 1024).join() === "1024,4096,2");
 * ```
 * @param texels texel count (at least 1)
 */
export function flatExtents(texels: number): [number, number, number] {
  const rows = Math.ceil(texels / (1 << XS));
  const layers = Math.ceil(rows / (1 << YS));
  return [1 << XS, layers > 1 ? 1 << YS : 2 ** Math.ceil(Math.log2(rows)), layers];
}

// Whether flat textures pay off here: a CPU adapter with buffer-to-texture copies, unless the
// `textures` tuning value is "0".
function flatTexturesWanted(ctx: KernelContext): boolean {
  return ctx.isCpuAdapter && typeof ctx.copyBufferToTexture === "function" &&
    ctx.tuning.get("textures") !== "0";
}

/**
 * Copies the first `floats` floats of `src` into a scratch flat texture (recycled after the
 * current submission) and returns a view to bind, or null when that is not possible here: not a
 * CPU adapter, no copy, an offset that is not a multiple of 16 bytes, or a buffer too short to
 * copy whole texels.
 *
 * @example
 * ```ts ignore
 * const view = flatTexture(ctx, qkv, batch * seq * 3 * hidden);
 * ```
 */
export function flatTexture(ctx: KernelContext, src: Buf, floats: number): GPUTextureView | null {
  if (!flatTexturesWanted(ctx) || floats < 1) return null;
  const [buffer, offset] = bufParts(src);
  const avail = "buffer" in src && src.size !== undefined ? src.size : buffer.size - offset;
  const texels = Math.ceil(floats / 4);
  if (offset % 16 !== 0 || texels * 16 > avail) return null;
  const [w, h, layers] = flatExtents(texels);
  const make = (): GPUTexture | null => {
    const tex = ctx.scratchTexture(w, h, layers);
    if ((tex.usage & GPUTextureUsage.COPY_DST) === 0) return null;
    const full = Math.floor(texels / (w * h)), rest = texels - full * w * h;
    const rows = Math.floor(rest / w), tail = rest - rows * w;
    // Whole layers, then whole rows of the last layer, then its partial row: [size, origin].
    const pieces: [number, number, number][][] = [
      [[w, h, full], [0, 0, 0]],
      [[w, rows, 1], [0, 0, full]],
      [[tail, 1, 1], [0, rows, full]],
    ];
    let at = offset;
    for (const [size, origin] of pieces) {
      const n = size[0] * size[1] * size[2];
      if (n === 0) continue;
      const layout = { bytesPerRow: w * 16, rowsPerImage: size[1] };
      ctx.copyBufferToTexture!({ buffer, offset: at }, layout, tex, size, origin);
      at += n * 16;
    }
    return tex;
  };
  const tex = ctx.textureFrom ? ctx.textureFrom(src, `flat:${offset}:${texels}`, make) : make();
  return tex && arrayView(tex);
}

const views = new WeakMap<GPUTexture, GPUTextureView>();

/**
 * The `2d-array` view of a texture, made once per texture: recycled scratch textures then bind
 * through the same view object every step, which lets the device reuse bind groups.
 *
 * @example
 * ```ts ignore
 * const view = arrayView(ctx.scratchTexture(64, 64, 1));
 * ```
 */
export function arrayView(tex: GPUTexture): GPUTextureView {
  let v = views.get(tex);
  if (!v) views.set(tex, v = tex.createView({ dimension: "2d-array" }));
  return v;
}

/** WGSL scalar types a uniform may have (4 bytes each, so fields pack in declaration order). */
export type Scalar = "u32" | "i32" | "f32";

/** Values the generated text depends on (the cache key); shapes baked in, variant flags. */
export type Key = Record<string, string | number | boolean>;

/** A workgroup size: x, or x and y (then `per` must be `none`). */
export type Size = number | readonly [number, number];

/** How invocations map to the work: the layer writes the index and its guard against `p.n`. */
export type Per = "invocation" | "workgroup" | "none";

/**
 * A kernel as declared once. Inputs are bound first (`var<storage, read>`), then outputs
 * (`read_write`), then the uniform struct `p`; a launch may leave bindings out (the rest bind
 * in order). With `per` other than `none` the struct starts
 * with `n: u32` (the invocation or workgroup count passed to `run`) and `body` starts after
 * `let <index> = ...; if (<index> >= p.n) { return; }`. The builtins `gid`, `lid` (local index),
 * `lxy` (local id), `wid` and `nwg` are in scope. A binding whose type starts with `texture_`
 * is declared as that texture. Every input `x` also gets `fn load_x(k: u32) -> <type>`, which
 * reads a flat texture instead when the layer binds one (inputs named by `flat`); programs with
 * `flat` also see `const FLAT_TEX: bool`, for a body that reads differently from textures.
 */
export interface ProgramSpec<K extends Key, I extends string, O extends string, U extends string> {
  /** Name for profiling and error messages, fixed or per key. */
  label: string | ((k: K) => string);
  /** Read-only inputs and their WGSL element types (aliases from `head` allowed). */
  inputs?: Record<I, string>;
  /** Outputs (read_write) and their element types. */
  outputs?: Record<O, string>;
  /** Uniform fields and their types, in struct order. */
  uniforms?: Record<U, Scalar>;
  /** Invocations per workgroup (x, or x and y), fixed or per key. */
  workgroup: Size | ((k: K) => Size);
  /** Index mode (default `invocation`), fixed or per key (then never `none`). */
  per?: Per | ((k: K) => "invocation" | "workgroup");
  /** Name of the index variable (default `i`). */
  index?: string;
  /** Inputs this key reads as `vec4f` through `load_<name>`, which may become flat textures. */
  flat?: (k: K) => readonly NoInfer<I>[];
  /** Module-scope WGSL before the bindings (aliases, constants, helpers), per key. */
  head?: (k: K) => string;
  /** Statements of `main` after the index guard, per key. */
  body: (k: K) => string;
  /**
   * Whether this key's text uses subgroup operations (per key; the launcher checks the device's
   * `subgroups` feature with `subgroupsWanted`): the text then starts with `enable subgroups;`
   * and `main` also gets `sgi` (subgroup invocation id) and `sgs` (subgroup size).
   */
  subgroups?: (k: K) => boolean;
}

/** One launch of a program. */
export interface Launch<K extends Key, I extends string, O extends string, U extends string> {
  /** The values the text depends on. */
  key: K;
  /**
   * Every input and output's buffer (or texture view, for a `texture_*` type); `undefined`
   * leaves the binding out of this variant.
   */
  bind: Record<I | O, Binding | undefined>;
  /** Uniform values (f32 fields are rounded to float32, i32 to integers). */
  params?: Record<U, number>;
  /** Float counts of the `flat` inputs (needed to copy them into flat textures). */
  floats?: Partial<Record<I, number>>;
  /** Invocations (or workgroups with `per: "workgroup"`); 0 launches nothing. */
  count?: number;
  /** Explicit workgroup counts (`per: "none"`). */
  workgroups?: [number, number?, number?];
}

/**
 * A declared kernel: `run` binds, packs and dispatches; `code` is the (cached) WGSL text.
 *
 * @example
 * ```ts ignore
 * NEG.run(ctx, { key: {}, bind: { a, out }, count: n });
 * ```
 */
export interface Program<K extends Key, I extends string, O extends string, U extends string> {
  /**
   * Generated WGSL for a key (cached): `tex` reads the `flat` inputs from textures, bit j of
   * `absent` leaves out binding j (inputs, then outputs).
   */
  code(key: K, tex?: boolean, absent?: number): string;
  /** Records one dispatch. */
  run(ctx: KernelContext, l: Launch<K, I, O, U>): void;
}

/**
 * A launcher and its CPU reference, the unit `core/ops/_run.ts` dispatches on: `G` holds GPU
 * buffers, `C` the same fields with typed arrays; `R` is what the launcher reports (matmul: the
 * variant that ran).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import type { Kernel } from "./program.ts";
 * const k: Kernel<{ n: number }, { n: number }> = { gpu: () => {}, cpu: (a) => assert(a.n === 1) };
 * k.cpu({ n: 1 });
 * ```
 */
export interface Kernel<G, C, R = void> {
  /** Runs on the GPU. */
  readonly gpu: (ctx: KernelContext, a: G) => R;
  /** Runs on the CPU, in the arrays' precision. */
  readonly cpu: (a: C) => void;
}

/**
 * Declares a kernel (see `ProgramSpec`); nothing is generated until its first `run`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { program } from "./program.ts";
 * const scale = program({
 *   label: "scale",
 *   inputs: { a: "f32" },
 *   outputs: { out: "f32" },
 *   uniforms: { s: "f32" },
 *   workgroup: 64,
 *   body: () => "out[i] = p.s * load_a(i);",
 * });
 * const code = scale.code({});
 * assert(code.includes("struct P { n: u32, s: f32 }") && code.includes("if (i >= p.n)"));
 * ```
 */
export function program<
  K extends Key,
  I extends string = never,
  O extends string = never,
  U extends string = never,
>(spec: ProgramSpec<K, I, O, U>): Program<K, I, O, U> {
  const perOf = (k: K): Per =>
    typeof spec.per === "function" ? spec.per(k) : spec.per ?? "invocation";
  const per = typeof spec.per === "function" ? "invocation" : spec.per ?? "invocation";
  const ins = Object.entries(spec.inputs ?? {}) as [I, string][];
  const outs = Object.entries(spec.outputs ?? {}) as [O, string][];
  const names = [...ins.map(([n]) => n), ...outs.map(([n]) => n)];
  const fields = Object.entries(spec.uniforms ?? {}) as [U, Scalar][];
  const words = (per === "none" ? 0 : 1) + fields.length;
  // Scalars pack at 4-byte offsets in declaration order; the struct's size rounds up to 16
  // (WGSL uniform layout). One buffer per program: the device copies it at dispatch.
  const bytes = new ArrayBuffer(Math.max(16, Math.ceil(words / 4) * 16));
  const views = {
    u32: new Uint32Array(bytes),
    i32: new Int32Array(bytes),
    f32: new Float32Array(bytes),
  };
  const packed = new Uint8Array(bytes);
  const cache = new Map<string, string>();
  const wgOf = (k: K): Size =>
    typeof spec.workgroup === "function" ? spec.workgroup(k) : spec.workgroup;

  function generate(k: K, tex: boolean, absent: number): string {
    const wg = wgOf(k);
    const flat = new Set<string>(tex && spec.flat ? spec.flat(k) : []);
    const decls: string[] = [];
    // Every binding is used, so the pipeline's layout holds them all whatever the body reads.
    const uses: string[] = [];
    let b = 0;
    const texture = (n: string, t: string) => {
      uses.push(`_ = ${n};`);
      decls.push(`@group(0) @binding(${b++}) var ${n}: ${t};`);
    };
    ins.forEach(([n, t], j) => {
      if (absent & (1 << j)) return;
      if (t.startsWith("texture_")) return texture(n, t);
      uses.push(flat.has(n) ? `_ = ${n};` : `_ = &${n};`);
      decls.push(
        flat.has(n)
          ? `@group(0) @binding(${b++}) var ${n}: ${FLAT_TEXTURE_TYPE};\n` +
            `fn load_${n}(k: u32) -> vec4f { return ${flatFetch(n, "k")}; }`
          : `@group(0) @binding(${b++}) var<storage, read> ${n}: array<${t}>;\n` +
            `fn load_${n}(k: u32) -> ${t} { return ${n}[k]; }`,
      );
    });
    outs.forEach(([n, t], j) => {
      if (absent & (1 << (ins.length + j))) return;
      if (t.startsWith("texture_")) return texture(n, t);
      uses.push(`_ = &${n};`);
      decls.push(`@group(0) @binding(${b++}) var<storage, read_write> ${n}: array<${t}>;`);
    });
    const struct = [...(per === "none" ? [] : ["n: u32"]), ...fields.map(([n, t]) => `${n}: ${t}`)];
    if (struct.length) {
      decls.push(`struct P { ${struct.join(", ")} }`);
      decls.push(`@group(0) @binding(${b}) var<uniform> p: P;`);
      uses.push("_ = &p;");
    }
    const ix = spec.index ?? "i";
    const mode = perOf(k);
    const guard = mode === "invocation"
      ? `let ${ix} = gid.x + gid.y * nwg.x * ${wg}u;\n  if (${ix} >= p.n) { return; }`
      : mode === "workgroup"
      ? `let ${ix} = wid.x + wid.y * nwg.x;\n  if (${ix} >= p.n) { return; }`
      : "";
    const sg = spec.subgroups?.(k) ?? false;
    return `${sg ? "enable subgroups;\n" : ""}${spec.flat ? `const FLAT_TEX = ${tex};\n` : ""}${
      spec.head?.(k) ?? ""
    }
${decls.join("\n")}
@compute @workgroup_size(${typeof wg === "number" ? wg : wg.join(", ")})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(local_invocation_id) lxy: vec3u, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u${
      sg
        ? ",\n        @builtin(subgroup_invocation_id) sgi: u32, @builtin(subgroup_size) sgs: u32"
        : ""
    }) {
  ${uses.join(" ")}
  ${guard}
  ${spec.body(k)}
}`;
  }

  function code(k: K, tex = false, absent = 0): string {
    let key = `${tex}:${absent}`;
    for (const f in k) key += ":" + k[f];
    let text = cache.get(key);
    if (text === undefined) {
      if (cache.size >= 1024) cache.clear();
      cache.set(key, text = generate(k, tex, absent));
    }
    return text;
  }

  function run(ctx: KernelContext, l: Launch<K, I, O, U>): void {
    if (per !== "none" && !l.count) return;
    const bind: Binding[] = [], writes: Binding[] = [];
    let absent = 0;
    for (let j = 0; j < names.length; j++) {
      const b = l.bind[names[j]];
      if (b === undefined) absent |= 1 << j;
      else {
        bind.push(b);
        if (j >= ins.length) writes.push(b);
      }
    }
    let tex = false;
    const flat = spec.flat?.(l.key);
    if (flat?.length && flatTexturesWanted(ctx)) {
      // Copies of inputs nothing has written since an earlier launch are shared (`textureFrom`).
      const viewsOf = flat.map((n) => flatTexture(ctx, l.bind[n] as Buf, l.floats?.[n] ?? 0));
      if (viewsOf.every((v) => v !== null)) {
        tex = true;
        for (let j = 0; j < flat.length; j++) {
          // The input's place among the bound (not absent) bindings.
          let at = 0;
          for (let i = 0; names[i] !== flat[j]; i++) if (l.bind[names[i]] !== undefined) at++;
          bind[at] = viewsOf[j]!;
        }
      }
    }
    let w = 0;
    if (per !== "none") views.u32[w++] = l.count!;
    for (const [n, t] of fields) views[t][w++] = l.params![n];
    const wg = wgOf(l.key);
    ctx.dispatch({
      code: code(l.key, tex, absent),
      bindings: bind,
      params: words ? packed : undefined,
      workgroups: l.workgroups ??
        grid1d(
          perOf(l.key) === "workgroup" ? l.count! : Math.ceil(l.count! / (wg as number)),
          ctx.maxWorkgroups,
        ),
      label: typeof spec.label === "string" ? spec.label : spec.label(l.key),
      writes,
    });
  }

  return { code, run };
}

// ------------------------------------------------------------ map and row kernels

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
 * import { mapProgram } from "./program.ts";
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
 * import { rowLayout } from "./program.ts";
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
 * import { rowProgram } from "./program.ts";
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
      const { perRow, wg, sg } = rowLayout(ctx, l.rows, l.n);
      const key = { ...l.key, N: l.n, perRow, wg, sg: !!sg };
      prog.run(ctx, { key, bind: l.bind, params: l.params, count: l.rows });
    },
  };
}
