/**
 * FIRE, the learned relative-position attention bias of one attention layer (upstream's `FIRE`
 * module, selected by `arch.attention.rotary_embedding=fire`): normalised log distances between
 * positions go through a small MLP, Linear(1, 32) -> ReLU -> Linear(32, heads), whose output is
 * added to the attention scores. Positions may be randomised during training.
 * Reference: Li et al. 2023, "Functional Interpolation for Relative Positions Improves Long
 * Context Transformers"; upstream cramming `embeddings.py` class `FIRE`.
 * @module
 */
import { FIRE_EPS, FIRE_INIT_L } from "../../kernels/fire.ts";
import { add } from "../ops/elementwise.ts";
import { fireDistances } from "../ops/fire.ts";
import { permute } from "../ops/layout.ts";
import { linear } from "../ops/matmul.ts";
import { relu } from "../ops/unary.ts";
import { needsGrad } from "../ops/save.ts";
import { type Backend, defaultBackend } from "../backend.ts";
import { scope, Tensor } from "../tensor.ts";

/** Width of FIRE's hidden MLP layer (upstream's `mlp_width`). */
export const FIRE_MLP_WIDTH = 32;

/** Upstream's initial value of c. */
const FIRE_INIT_C = 0.1;

/** The names of FIRE's parameters, as this module calls them. */
export type FireParamName = "mlp0Weight" | "mlp0Bias" | "mlp2Weight" | "mlp2Bias" | "c" | "lMult";

/** FIRE's parameters: the MLP's weights and biases and the two learnable scalars. */
export type FireParams = Record<FireParamName, Tensor>;

/**
 * Upstream's state-dict key suffixes of FIRE's parameters (after `...layers.{i}.attn.`), in
 * upstream's order. The fixed `init_L` is stored under `FIRE_INIT_L_KEY`.
 */
export const FIRE_KEYS: Readonly<Record<FireParamName, string>> = Object.freeze({
  mlp0Weight: "rotary_emb.mlp.0.weight",
  mlp0Bias: "rotary_emb.mlp.0.bias",
  mlp2Weight: "rotary_emb.mlp.2.weight",
  mlp2Bias: "rotary_emb.mlp.2.bias",
  c: "rotary_emb.c",
  lMult: "rotary_emb.L_multiplier",
});

/**
 * The shapes of FIRE's parameters for a number of heads, keyed by upstream's suffix, in
 * upstream's order (for allocating them in a parameter arena).
 *
 * c and `L_multiplier` are one-element tensors here; upstream stores them 0-d (shape []).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { fireParamShapes } from "./fire.ts";
 * const shapes = fireParamShapes(4);
 * assert(shapes[2].name === "rotary_emb.mlp.2.weight");
 * assert(shapes[2].shape.join() === "4,32");
 * ```
 * @returns one `{ name, shape, param }` per parameter (`param` is this module's name)
 */
export function fireParamShapes(
  heads: number,
): { name: string; shape: readonly number[]; param: FireParamName }[] {
  const shapes: Record<FireParamName, number[]> = {
    mlp0Weight: [FIRE_MLP_WIDTH, 1],
    mlp0Bias: [FIRE_MLP_WIDTH],
    mlp2Weight: [heads, FIRE_MLP_WIDTH],
    mlp2Bias: [heads],
    c: [1],
    lMult: [1],
  };
  return (Object.keys(FIRE_KEYS) as FireParamName[]).map((p) => ({
    name: FIRE_KEYS[p],
    shape: shapes[p],
    param: p,
  }));
}

/** Options of `firePositions` and `Fire.bias`. */
export interface FirePositionOptions {
  /** Training mode: positions are randomised when `maxLength >= S` (default false). */
  training?: boolean;
  /** Upstream's `arch.attention.max_length`: draw positions from 0..maxLength-1 (0 = off). */
  maxLength?: number;
  /** Random source in [0, 1) for randomised positions (default `Math.random`). */
  random?: () => number;
}

/**
 * The positions FIRE uses for a sequence of length S.
 *
 * In training with `maxLength >= S` (and `maxLength > 0`): the sorted first S entries of a
 * random permutation of 0..maxLength-1 (upstream: `randperm(max_length)[:S].sort()`), drawn by a
 * partial Fisher-Yates shuffle with `random`; otherwise 0..S-1.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { firePositions } from "./fire.ts";
 * assert(firePositions(3).join() === "0,1,2");
 * const p = firePositions(4, { training: true, maxLength: 100, random: () => 0.5 });
 * assert(p.length === 4 && p[0] < p[1] && p[2] < p[3] && p[3] < 100);
 * ```
 * @param options training mode, `maxLength`, random source
 * @returns S ascending distinct integer positions, as f32
 */
export function firePositions(S: number, options: FirePositionOptions = {}): Float32Array {
  const max = options.maxLength ?? 0;
  if (!options.training || max <= 0 || max < S) {
    return Float32Array.from({ length: S }, (_, i) => i);
  }
  const random = options.random ?? Math.random;
  const perm = new Int32Array(max);
  for (let i = 0; i < max; i++) perm[i] = i;
  for (let i = 0; i < S; i++) {
    const k = i + Math.min(max - i - 1, Math.floor(random() * (max - i)));
    const t = perm[i];
    perm[i] = perm[k];
    perm[k] = t;
  }
  return Float32Array.from(perm.subarray(0, S).sort());
}

/** Options of the `Fire` constructor. */
export interface FireOptions {
  /** Attention heads (outputs of the MLP). */
  heads: number;
  /** Where fresh parameters live (default: the default backend). */
  backend?: Backend;
  /**
   * Existing parameter tensors (e.g. views into a flat parameter arena) to use instead of fresh
   * ones; they are used as they are (call `init` to draw upstream's initial values into them).
   */
  params?: FireParams;
  /** Random source in [0, 1) that initialises fresh parameters (default `Math.random`). */
  random?: () => number;
  /** The fixed `init_L` (default 512; a checkpoint may carry another). */
  initL?: number;
  /** The normaliser's eps (default 1e-6). */
  eps?: number;
}

/** Options of `Fire.bias`. */
export interface FireBiasOptions extends FirePositionOptions {
  /** Only the last `rows` query rows (decoding with a key/value cache); default all S. */
  rows?: number;
}

/**
 * One attention layer's FIRE module: parameters, their initialisation, and the bias.
 *
 * `bias(S)` returns the (heads, S, S) term added to that layer's attention scores; gradients flow
 * to all six parameters. Fresh parameters require gradients and are initialised as upstream
 * (PyTorch's default Linear init, c = 0.1, L_multiplier = 1).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { Fire } from "./fire.ts";
 * import { CPU } from "../backend.ts";
 * const fire = new Fire({ heads: 2, backend: CPU, random: () => 0.25 });
 * const b = fire.bias(5); // (2, 5, 5)
 * assert(b.shape.join() === "2,5,5");
 * assert(fire.named()[4][0] === "rotary_emb.c" && fire.c.data[0] === Math.fround(0.1));
 * ```
 */
export class Fire {
  /** Attention heads. */
  readonly heads: number;
  /** The fixed `init_L`. */
  readonly initL: number;
  /** The normaliser's eps. */
  readonly eps: number;
  /** `mlp.0.weight`, (32, 1). */
  readonly mlp0Weight: Tensor;
  /** `mlp.0.bias`, (32). */
  readonly mlp0Bias: Tensor;
  /** `mlp.2.weight`, (heads, 32). */
  readonly mlp2Weight: Tensor;
  /** `mlp.2.bias`, (heads). */
  readonly mlp2Bias: Tensor;
  /** The learnable scale c, (1). */
  readonly c: Tensor;
  /** The learnable `L_multiplier`, (1). */
  readonly lMult: Tensor;

  /**
   * Makes or adopts the parameters.
   *
   * @param options heads, backend, existing parameters or a random source, constants
   * @throws Error when a supplied parameter has the wrong shape or backends differ
   */
  constructor(options: FireOptions) {
    const { heads } = options;
    if (!Number.isInteger(heads) || heads < 1) {
      throw new Error(`Cannot make FIRE for ${heads} heads: expected a positive integer`);
    }
    this.heads = heads;
    this.initL = options.initL ?? FIRE_INIT_L;
    this.eps = options.eps ?? FIRE_EPS;
    const specs = fireParamShapes(heads);
    let params: FireParams;
    if (options.params) {
      params = options.params;
      const backend = params.c.backend;
      for (const s of specs) {
        const t = params[s.param];
        const scalar = s.param === "c" || s.param === "lMult";
        const fits = t && t.dtype === "f32" &&
          (scalar ? t.size === 1 : t.shape.join() === s.shape.join());
        if (!fits) {
          throw new Error(
            `Cannot use ${t ? `[${t.shape.join(", ")}]` : "nothing"} as FIRE's ${s.name}: ` +
              `expected f32 [${s.shape.join(", ")}]`,
          );
        }
        if (t.backend !== backend) {
          throw new Error(`Cannot use FIRE parameters on different backends`);
        }
      }
    } else {
      const backend = options.backend ?? defaultBackend();
      params = {} as FireParams;
      for (const s of specs) {
        const t = Tensor.empty(s.shape, "f32", backend);
        t.requiresGrad = true;
        params[s.param] = t;
      }
    }
    this.mlp0Weight = params.mlp0Weight;
    this.mlp0Bias = params.mlp0Bias;
    this.mlp2Weight = params.mlp2Weight;
    this.mlp2Bias = params.mlp2Bias;
    this.c = params.c;
    this.lMult = params.lMult;
    if (!options.params) this.init(options.random ?? Math.random);
  }

  /**
   * Writes upstream's initial values into the parameters.
   *
   * Linear layers as PyTorch's default (kaiming-uniform with a = sqrt 5): weight and bias
   * ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 1 for `mlp.0` and 32 for `mlp.2`, drawn in
   * the order mlp.0.weight, mlp.0.bias, mlp.2.weight, mlp.2.bias (row-major); c = 0.1,
   * L_multiplier = 1.
   *
   * @param random uniform source in [0, 1)
   */
  init(random: () => number): void {
    const uniform = (t: Tensor, fanIn: number) => {
      const bound = 1 / Math.sqrt(fanIn);
      const v = new Float32Array(t.size);
      for (let i = 0; i < v.length; i++) v[i] = (2 * random() - 1) * bound;
      write(t, v);
    };
    uniform(this.mlp0Weight, 1);
    uniform(this.mlp0Bias, 1);
    uniform(this.mlp2Weight, FIRE_MLP_WIDTH);
    uniform(this.mlp2Bias, FIRE_MLP_WIDTH);
    write(this.c, new Float32Array([FIRE_INIT_C]));
    write(this.lMult, new Float32Array([1]));
  }

  /**
   * The parameters with upstream's key suffixes, in upstream's order.
   *
   * @returns `[suffix, tensor]` pairs, e.g. `["rotary_emb.mlp.0.weight", w]`
   */
  named(): [string, Tensor][] {
    return fireParamShapes(this.heads).map((s) => [s.name, this[s.param]]);
  }

  /**
   * The attention bias for a sequence of length S.
   *
   * Positions come from `firePositions` (randomised in training when `maxLength >= S`); the
   * distances (rows, S) go through the MLP per entry, and the result is laid out per head.
   * While gradients are recorded, intermediate tensors stay alive for backward and the caller's
   * `scope` frees them; without gradients they are freed here.
   *
   * @param S sequence length (keys)
   * @param options training mode, `maxLength`, random source, rows
   * @returns the bias, (heads, rows, S) (rows = S by default)
   */
  bias(S: number, options: FireBiasOptions = {}): Tensor {
    const rows = options.rows ?? S;
    const build = () => {
      const backend = this.c.backend;
      const positions = Tensor.fromArray(firePositions(S, options), [S], { backend });
      const d = fireDistances(positions, {
        c: this.c,
        lMult: this.lMult,
        rows,
        initL: this.initL,
        eps: this.eps,
      }); // (rows, S)
      const x = d.reshape([rows * S, 1]);
      const h = relu(add(linear(x, this.mlp0Weight), this.mlp0Bias)); // (rows S, 32)
      const out = add(linear(h, this.mlp2Weight), this.mlp2Bias); // (rows S, heads)
      return permute(out.reshape([rows, S, this.heads]), [2, 0, 1]); // (heads, rows, S)
    };
    return needsGrad(...this.named().map(([, t]) => t)) ? build() : scope(build);
  }
}

/** Writes values into a parameter in place (arena views stay where they are). */
function write(t: Tensor, v: Float32Array): void {
  if (t.backend.kind === "cpu") (t.data as Float32Array).set(v);
  else t.backend.upload(t.buffer, v);
}
