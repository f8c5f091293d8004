/**
 * Tensor-level FIRE distances on either backend: the normalised relative-distance matrix that
 * FIRE's MLP turns into an attention bias, with the gradients of its two learnable scalars
 * (c and `L_multiplier`) recorded for backward. Positions are data and get no gradient.
 * Reference: Li et al. 2023 (FIRE); formula in `kernels/fire.ts`.
 * @module
 */
import { fireBackwardKernel, fireKernel } from "../../kernels/fire.ts";
import { record } from "../autograd.ts";
import { Tensor } from "../tensor.ts";
import { checkTensors, needsGrad, saveForBackward, shapeStr } from "./save.ts";
import { run } from "./_run.ts";

/** Options of `fireDistances`. */
export interface FireDistanceOptions {
  /** The learnable scale c, one element (shape [1] or []). */
  c: Tensor;
  /** The learnable `L_multiplier`, one element. */
  lMult: Tensor;
  /** Query rows to compute (the last `rows` positions); default all S. */
  rows?: number;
}

/**
 * Computes FIRE's normalised distances d_ij between positions.
 *
 * d_ij = log(|c (p_i - p_j)| + 1) / (log(|c max(p_i, |L_mult init_L|)| + 1) + eps), for the
 * last `rows` query positions i (all S by default; fewer when decoding with a cache) and every
 * key position j, also j > i (causal attention masks those later). Gradients flow to `c` and
 * `lMult` (PyTorch's conventions: d|x|/dx = 0 at 0, a tie in the max splits the gradient).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { fireDistances } from "./fire.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const positions = Tensor.fromArray([0, 1, 2], [3], { backend: CPU });
 * const c = Tensor.fromArray([0.1], [1], { backend: CPU });
 * const lMult = Tensor.fromArray([1], [1], { backend: CPU });
 * const d = fireDistances(positions, { c, lMult });
 * assert(d.shape.join() === "3,3" && d.data[0] === 0 && d.data[3] > 0);
 * ```
 * @param positions positions p as f32 (S)
 * @returns the distances, (rows, S)
 * @throws Error on a scalar that is not one f32 element, positions that are not 1D, bad rows
 */
export function fireDistances(positions: Tensor, options: FireDistanceOptions): Tensor {
  const { c, lMult } = options;
  checkTensors("compute FIRE distances of", [positions, c, lMult]);
  if (positions.shape.length !== 1) {
    throw new Error(
      `Cannot compute FIRE distances of positions ${shapeStr(positions.shape)}: expected (S)`,
    );
  }
  for (const [name, t] of [["c", c], ["L_multiplier", lMult]] as const) {
    if (t.size !== 1) {
      throw new Error(`Cannot use FIRE's ${name} of shape ${shapeStr(t.shape)}: expected 1 value`);
    }
  }
  const seq = positions.shape[0];
  const rows = options.rows ?? seq;
  if (!Number.isInteger(rows) || rows < 0 || rows > seq) {
    throw new Error(`Cannot compute ${rows} rows of FIRE distances over ${seq} positions`);
  }
  const sizes = { seq, rows, rowStart: seq - rows }; // init_L and eps: the kernel defaults
  const out = Tensor.empty([rows, seq], "f32", positions.backend);
  run(fireKernel, { ...sizes, c, lMult, positions, out });
  if (!needsGrad(c, lMult)) return out;
  const sc = saveForBackward(c), sl = saveForBackward(lMult), sp = saveForBackward(positions);
  return record(out, [positions, c, lMult], (g) => {
    const dc = Tensor.empty(sc.shape, "f32", g.backend);
    const dl = Tensor.empty(sl.shape, "f32", g.backend);
    const args = { ...sizes, c: sc, lMult: sl, positions: sp, dOut: g, dc, dLMult: dl };
    run(fireBackwardKernel, args);
    return [null, dc, dl];
  }, [sc, sl, sp]);
}
