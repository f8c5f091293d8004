import { ok } from "node:assert/strict";
import { FIRE_INIT_L, fireBackwardKernel, fireKernel } from "../../kernels/fire.ts";
import {
  assertClose,
  gpuTest,
  maybeDevice,
  mulberry,
  poisoned,
  randArray,
  readF32,
  release,
  upload,
} from "./_harness.ts";
import { checkGradients } from "./_grad_check.ts";

/** Sorted distinct integer positions: S of 0..max-1 (randomised FIRE), or 0..S-1. */
function positionsOf(S: number, seed: number, max = 0): Float32Array {
  if (max < S) return Float32Array.from({ length: S }, (_, i) => i);
  const r = mulberry(seed);
  const perm = Array.from({ length: max }, (_, i) => i);
  for (let i = 0; i < S; i++) {
    const k = i + Math.floor(r() * (max - i));
    [perm[i], perm[k]] = [perm[k], perm[i]];
  }
  return Float32Array.from(perm.slice(0, S).sort((a, b) => a - b));
}

// S, rows (last rows computed), positions drawn from 0..max-1 (0 = 0..S-1), c, L_multiplier
const CASES: [number, number, number, number, number][] = [
  [1, 1, 0, 0.1, 1],
  [7, 7, 0, 0.1, 1],
  [13, 13, 900, 0.1, 1], // randomised positions, some beyond init_L = 512 (max switches sides)
  [67, 67, 2000, 0.37, 0.3],
  [9, 4, 0, -0.2, -0.02], // negative scalars; last 4 rows only (decoding)
  [131, 131, 0, 0.05, 0.2],
];

Deno.test({
  name: "fireKernel.gpu() matches the CPU reference on odd sizes and randomised positions",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const [k, [S, R, max, c, l]] of CASES.entries()) {
      const pos = positionsOf(S, 10 + k, max);
      const want = new Float32Array(R * S);
      const args = { seq: S, rows: R, rowStart: S - R };
      fireKernel.cpu({ ...args, c: [c], lMult: [l], positions: pos, out: want });
      const bc = upload(dev, new Float32Array([c])), bl = upload(dev, new Float32Array([l]));
      const bp = upload(dev, pos), out = poisoned(dev, R * S);
      fireKernel.gpu(dev, { ...args, c: bc, lMult: bl, positions: bp, out });
      assertClose(await readF32(dev, out, R * S), want, 1e-4, `fire forward S=${S} R=${R}`, 1e-3);
      release(dev, bc, bl, bp, out);
    }
  },
});

Deno.test("fireKernel.cpu() is zero on the diagonal and grows with distance", () => {
  const pos = positionsOf(6, 0);
  const out = new Float64Array(36);
  fireKernel.cpu({ c: [0.1], lMult: [1], positions: pos, out, seq: 6 });
  for (let i = 0; i < 6; i++) {
    ok(out[i * 6 + i] === 0);
    for (let j = 1; j <= i; j++) ok(out[i * 6 + j - 1] > out[i * 6 + j]);
  }
  const den = Math.log(0.1 * FIRE_INIT_L + 1) + 1e-6;
  ok(Math.abs(out[5 * 6] - Math.log(1.5) / den) < 1e-12);
});

Deno.test("fireBackwardKernel.cpu() matches float64 finite differences where the max switches sides", () => {
  // Positions 0..1199 step 100 straddle |L init_L|; L_mult values put the threshold between
  // positions (a tie gives a one-sided kink, so the differences use thresholds off the grid).
  const spaced = Float64Array.from({ length: 13 }, (_, i) => i * 100 + 7);
  const cases: [Float64Array, number, number, number][] = [
    [Float64Array.from(positionsOf(7, 0)), 0.1, 1, 7],
    [Float64Array.from(positionsOf(11, 3, 900)), 0.1, 1, 11],
    [spaced, 0.1, 1.3, 13], // threshold 665.6: rows below use it, rows above use p_i
    [spaced, 0.02, -0.7, 13], // negative L_mult: |L init_L| = 358.4
    [spaced, -0.3, 0.5, 5], // negative c, last 5 rows
    [Float64Array.from(positionsOf(9, 1, 3000)), 0.25, 2.2, 9],
  ];
  for (const [pos, c, l, R] of cases) {
    const S = pos.length;
    const args = { seq: S, rows: R, rowStart: S - R };
    checkGradients(
      `fire S=${S} c=${c} L=${l}`,
      [new Float64Array([c]), new Float64Array([l])],
      ([cc, ll]) => {
        const out = new Float64Array(R * S);
        fireKernel.cpu({ ...args, c: cc, lMult: ll, positions: pos, out });
        return out;
      },
      ([cc, ll], dOut) => {
        const dc = new Float64Array(1), dLMult = new Float64Array(1);
        fireBackwardKernel.cpu({ ...args, c: cc, lMult: ll, positions: pos, dOut, dc, dLMult });
        return [dc, dLMult];
      },
      { h: 1e-6 },
    );
  }
});

Deno.test("fireBackwardKernel.cpu() gives L_mult no gradient when all positions exceed the threshold", () => {
  const pos = Float64Array.from({ length: 5 }, (_, i) => 600 + i);
  const dc = new Float64Array(1), dLMult = new Float64Array([NaN]);
  const dOut = Float64Array.from(randArray(25, 5));
  fireBackwardKernel.cpu({ c: [0.1], lMult: [1], positions: pos, dOut, dc, dLMult, seq: 5 });
  ok(dLMult[0] === 0 && dc[0] !== 0);
});

Deno.test("fireBackwardKernel.cpu() splits the gradient on a tie like PyTorch's max", () => {
  // Position 512 equals |1 * 512|: the threshold gets half of that row's gradient.
  const pos = [0, 100, 512];
  const dOut = new Float64Array([0, 0, 0, 0, 0, 0, 1, 1, 0]);
  const grad = (l: number) => {
    const dc = new Float64Array(1), dLMult = new Float64Array(1);
    fireBackwardKernel.cpu({ c: [0.1], lMult: [l], positions: pos, dOut, dc, dLMult, seq: 3 });
    return dLMult[0];
  };
  const above = grad(1 + 1e-9); // just above: the whole gradient
  ok(Math.abs(grad(1) - above / 2) < 1e-6 * Math.abs(above));
});

Deno.test({
  name: "fireBackwardKernel.gpu() matches the CPU reference and is bit-identical across runs",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const [k, [S, R, max, c, l]] of CASES.entries()) {
      const pos = positionsOf(S, 20 + k, max);
      const dOut = randArray(R * S, 30 + k);
      const args = { seq: S, rows: R, rowStart: S - R };
      const dc = new Float32Array(1), dLMult = new Float32Array(1);
      fireBackwardKernel.cpu({ ...args, c: [c], lMult: [l], positions: pos, dOut, dc, dLMult });
      const bc = upload(dev, new Float32Array([c])), bl = upload(dev, new Float32Array([l]));
      const bp = upload(dev, pos), bd = upload(dev, dOut);
      const runs: Float32Array[] = [];
      for (let rep = 0; rep < 2; rep++) {
        const gc = poisoned(dev, 1), gl = poisoned(dev, 1);
        fireBackwardKernel.gpu(dev, {
          ...args,
          c: bc,
          lMult: bl,
          positions: bp,
          dOut: bd,
          dc: gc,
          dLMult: gl,
        });
        runs.push(new Float32Array([...await readF32(dev, gc, 1), ...await readF32(dev, gl, 1)]));
        release(dev, gc, gl);
      }
      // Relative to the size of the sum's terms: dc cancels between rows.
      const floor = 1e-3 * Math.max(1, Math.abs(dc[0]), Math.abs(dLMult[0]));
      assertClose(runs[0], [dc[0], dLMult[0]], 1e-4, `fire backward S=${S} R=${R}`, floor);
      ok(runs[0].every((v, i) => Object.is(v, runs[1][i])), "runs differ");
      release(dev, bc, bl, bp, bd);
    }
  },
});
