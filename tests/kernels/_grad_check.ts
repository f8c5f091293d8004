/**
 * Float64 central finite differences for the backward tests: checks an analytic gradient (a
 * CPU backward reference) against (L(x + h) - L(x - h)) / 2h of L = sum(out * w), random w.
 * @module
 */
import { assertClose, mulberry } from "./_harness.ts";

/** Widens a float32 array to float64. */
export function f64(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(a as ArrayLike<number>);
}

/** Seeded uniform float64 values in [lo, hi). */
export function rand64(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const r = mulberry(seed);
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}

/**
 * Asserts that `backward(xs, w)` equals the finite-difference gradient of sum(forward(xs) * w)
 * for every input whose gradient it returns (null entries are skipped).
 */
export function checkGradients(
  what: string,
  xs: Float64Array[],
  forward: (xs: Float64Array[]) => Float64Array,
  backward: (xs: Float64Array[], dy: Float64Array) => (Float64Array | null)[],
  opts: { seed?: number; h?: number; tol?: number; floor?: number } = {},
): void {
  const { seed = 99, h = 1e-5, tol = 1e-3, floor = 1e-3 } = opts;
  const out0 = forward(xs);
  const w = rand64(out0.length, seed);
  const loss = () => {
    const o = forward(xs);
    let s = 0;
    for (let i = 0; i < o.length; i++) s += o[i] * w[i];
    return s;
  };
  const grads = backward(xs, w);
  grads.forEach((g, k) => {
    if (!g) return;
    const x = xs[k];
    const num = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      x[i] = v + h;
      const lp = loss();
      x[i] = v - h;
      const lm = loss();
      x[i] = v;
      num[i] = (lp - lm) / (2 * h);
    }
    assertClose(g, num, tol, `${what}: input ${k} vs finite differences`, floor);
  });
}
