/**
 * The program layer: a kernel declares its storage bindings, uniforms, workgroup size and WGSL
 * body once, and the layer writes everything around the body (binding declarations, the uniform
 * struct and its bytes, the flat-index guard), caches the text per key, and decides in one place
 * whether read-only vec4 inputs are read through flat textures (CPU adapters) or storage buffers.
 * `Kernel` pairs a launcher with its CPU reference so that an op states its arguments once
 * (`core/ops/_run.ts`).
 *
 * Flat textures: a storage buffer's floats copied into an `rgba32float` 2D-array texture, texel t
 * holding floats 4t..4t+3, so a kernel can read vec4s through `textureLoad` instead of storage
 * buffer loads. On llvmpipe a read-only storage texture load costs ~5.5 ns per 8 lanes against
 * ~24 ns for a storage buffer `vec4f` (bench/NOTES.md), and the copy runs as a memcpy (~35 GB/s),
 * so memory-bound kernels that read their rows several times gain most. Real GPUs read buffers
 * as fast as textures, so launchers use this on CPU adapters only.
 * @module
 */
import { type Binding, type Buf, bufParts, grid1d, type KernelContext } from "./context.ts";

/** log2 of texels per texture row. */
const XS = 10;
/** log2 of rows per array layer. */
const YS = 12;
const COPY_DST = 0x02;

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
  const tex = ctx.scratchTexture(w, h, layers);
  if ((tex.usage & COPY_DST) === 0) return null;
  const copy = ctx.copyBufferToTexture!.bind(ctx);
  const perLayer = w * h;
  const full = Math.floor(texels / perLayer);
  if (full > 0) {
    copy({ buffer, offset }, { bytesPerRow: w * 16, rowsPerImage: h }, tex, [w, h, full]);
  }
  const rest = texels - full * perLayer;
  const rows = Math.floor(rest / w), tail = rest - rows * w;
  let at = offset + full * perLayer * 16;
  if (rows > 0) {
    copy({ buffer, offset: at }, { bytesPerRow: w * 16, rowsPerImage: rows }, tex, [w, rows, 1], [
      0,
      0,
      full,
    ]);
    at += rows * w * 16;
  }
  if (tail > 0) {
    copy({ buffer, offset: at }, { bytesPerRow: w * 16, rowsPerImage: 1 }, tex, [tail, 1, 1], [
      0,
      rows,
      full,
    ]);
  }
  return arrayView(tex);
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

/** Flat textures a launch bound, by input name. */
export type FlatViews = Record<string, GPUTextureView>;

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
  /**
   * Flat textures an earlier launch of this submission returned, by input name, to bind again
   * instead of copying (only while nothing has written those inputs since).
   */
  reuse?: FlatViews;
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
  /** Records one dispatch; returns the flat textures it bound, if any (for `Launch.reuse`). */
  run(ctx: KernelContext, l: Launch<K, I, O, U>): FlatViews | undefined;
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

  function run(ctx: KernelContext, l: Launch<K, I, O, U>): FlatViews | undefined {
    if (per !== "none" && !l.count) return;
    const bind: Binding[] = [];
    let absent = 0;
    for (let j = 0; j < names.length; j++) {
      const b = l.bind[names[j]];
      if (b === undefined) absent |= 1 << j;
      else bind.push(b);
    }
    let tex: FlatViews | undefined;
    const flat = spec.flat?.(l.key);
    if (flat?.length && flatTexturesWanted(ctx)) {
      const viewsOf = flat.map((n) =>
        l.reuse?.[n] ?? flatTexture(ctx, l.bind[n] as Buf, l.floats?.[n] ?? 0)
      );
      if (viewsOf.every((v) => v !== null)) {
        tex = {};
        flat.forEach((n, j) => {
          let at = 0;
          for (const m of names.slice(0, names.indexOf(n))) if (l.bind[m] !== undefined) at++;
          bind[at] = tex![n] = viewsOf[j]!;
        });
      }
    }
    let w = 0;
    if (per !== "none") views.u32[w++] = l.count!;
    for (const [n, t] of fields) views[t][w++] = l.params![n];
    const wg = wgOf(l.key);
    ctx.dispatch({
      code: code(l.key, !!tex, absent),
      bindings: bind,
      params: words ? packed : undefined,
      workgroups: l.workgroups ??
        grid1d(
          perOf(l.key) === "workgroup" ? l.count! : Math.ceil(l.count! / (wg as number)),
          ctx.maxWorkgroups,
        ),
      label: typeof spec.label === "string" ? spec.label : spec.label(l.key),
    });
    return tex;
  }

  return { code, run };
}
