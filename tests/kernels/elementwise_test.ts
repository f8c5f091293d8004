import { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  addInPlaceKernel,
  axpbyKernel,
  binaryBackwardKernel,
  binaryKernel,
  type BinaryOp,
} from "../../kernels/elementwise.ts";
import {
  assertClose,
  gpuTest,
  maybeDevice,
  poisoned,
  randArray,
  readF32,
  release,
  upload,
} from "./_harness.ts";
import { checkGradients, rand64 } from "./_grad_check.ts";

const OPS: BinaryOp[] = ["add", "sub", "mul", "div"];
// [n, na, nb]: same size, b broadcast (suffix / scalar), a broadcast, vec4-friendly variants,
// and many rows (the chunked two-pass reduction in backward).
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [257, 257, 257],
  [3 * 37, 3 * 37, 37],
  [5 * 7, 7, 5 * 7],
  [1001, 1001, 1],
  [1, 1, 1],
  [64 * 4, 64 * 4, 64],
  [12, 1, 12],
  [200 * 3, 200 * 3, 3],
  [333 * 8, 8, 333 * 8],
];

/** Operand values: b kept away from zero so div is well conditioned. */
function operands(na: number, nb: number, seed: number): [Float32Array, Float32Array] {
  const a = randArray(na, seed);
  const b = randArray(nb, seed + 1, 0.5, 2);
  for (let i = 0; i < nb; i += 2) b[i] = -b[i];
  return [a, b];
}

Deno.test({
  name: "binaryKernel.gpu() matches the CPU reference with broadcasting on odd sizes",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const op of OPS) {
      for (const [n, na, nb] of SHAPES) {
        const [ha, hb] = operands(na, nb, n);
        const a = upload(dev, ha), b = upload(dev, hb), out = poisoned(dev, n);
        binaryKernel.gpu(dev, { op, a, b, out, n, na, nb });
        const want = new Float32Array(n);
        binaryKernel.cpu({ op, a: ha, b: hb, out: want, n, na, nb });
        assertClose(await readF32(dev, out, n), want, 1e-6, `${op} n=${n} na=${na} nb=${nb}`);
        release(dev, a, b, out);
      }
    }
  },
});

Deno.test({
  name: "binaryBackwardKernel.gpu() matches the CPU reference, reducing over broadcast rows",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const op of OPS) {
      for (const [n, na, nb] of SHAPES) {
        const [ha, hb] = operands(na, nb, n + 7);
        const hdy = randArray(n, n + 9);
        const a = upload(dev, ha), b = upload(dev, hb), dy = upload(dev, hdy);
        const da = poisoned(dev, na), db = poisoned(dev, nb);
        binaryBackwardKernel.gpu(dev, { op, a, b, dy, da, db, n, na, nb });
        const wa = new Float32Array(na), wb = new Float32Array(nb);
        binaryBackwardKernel.cpu({ op, a: ha, b: hb, dy: hdy, da: wa, db: wb, n, na, nb });
        const what = `${op} n=${n} na=${na} nb=${nb}`;
        assertClose(await readF32(dev, da, na), wa, 1e-4, `${what} da`);
        assertClose(await readF32(dev, db, nb), wb, 1e-4, `${what} db`);
        release(dev, a, b, dy, da, db);
      }
    }
  },
});

Deno.test({
  name:
    "binaryBackwardKernel.gpu() writes only the requested gradient and is bit-identical across runs",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const n = 999 * 3, nb = 3;
    const [ha, hb] = operands(n, nb, 5);
    const a = upload(dev, ha), b = upload(dev, hb), dy = upload(dev, randArray(n, 6));
    const runs: number[][] = [];
    for (let k = 0; k < 2; k++) {
      const db = poisoned(dev, nb);
      binaryBackwardKernel.gpu(dev, { op: "div", a, b, dy, db, n, nb });
      runs.push([...await readF32(dev, db, nb)]);
      release(dev, db);
    }
    assertEquals(runs[0], runs[1]);
    release(dev, a, b, dy);
  },
});

Deno.test("binaryBackwardKernel.cpu() matches float64 finite differences for every op", () => {
  for (const op of OPS) {
    for (const [n, na, nb] of [[6, 6, 6], [12, 12, 4], [10, 1, 10], [15, 5, 15]]) {
      const a = rand64(na, 1), b = rand64(nb, 2, 0.5, 2);
      checkGradients(
        `${op} n=${n} na=${na} nb=${nb}`,
        [a, b],
        ([x, y]) => {
          const out = new Float64Array(n);
          binaryKernel.cpu({ op, a: x, b: y, out, n, na, nb });
          return out;
        },
        ([x, y], dy) => {
          const da = new Float64Array(na), db = new Float64Array(nb);
          binaryBackwardKernel.cpu({ op, a: x, b: y, dy, da, db, n, na, nb });
          return [da, db];
        },
      );
    }
  }
});

Deno.test({
  name: "axpbyKernel.gpu() matches the CPU reference with and without b",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const n of [1, 3, 255, 1024, 1027]) {
      const ha = randArray(n, 1), hb = randArray(n, 2);
      const a = upload(dev, ha), b = upload(dev, hb), out = poisoned(dev, n);
      axpbyKernel.gpu(dev, { a, b, out, n, alpha: 0.75, beta: -1.5 });
      const want = new Float32Array(n);
      axpbyKernel.cpu({ a: ha, b: hb, out: want, n, alpha: 0.75, beta: -1.5 });
      assertClose(await readF32(dev, out, n), want, 1e-5, `axpby n=${n}`);
      axpbyKernel.gpu(dev, { a, out, n, alpha: -3 });
      axpbyKernel.cpu({ a: ha, out: want, n, alpha: -3 });
      assertClose(await readF32(dev, out, n), want, 1e-5, `scale n=${n}`);
      release(dev, a, b, out);
    }
  },
});

Deno.test({
  name: "addInPlaceKernel.gpu() accumulates like the CPU reference on odd sizes",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const n of [1, 7, 256, 1001, 4096]) {
      const hd = randArray(n, 3), hs = randArray(n, 4);
      const dst = upload(dev, hd), src = upload(dev, hs);
      addInPlaceKernel.gpu(dev, { dst, src, n });
      addInPlaceKernel.gpu(dev, { dst, src, n });
      addInPlaceKernel.cpu({ dst: hd, src: hs, n });
      addInPlaceKernel.cpu({ dst: hd, src: hs, n });
      assertClose(await readF32(dev, dst, n), hd, 1e-6, `addInPlaceKernel.gpu n=${n}`);
      release(dev, dst, src);
    }
  },
});

Deno.test({
  name: "elementwise kernels raised no WebGPU validation errors",
  ...gpuTest,
  fn: async () => {
    assertEquals((await maybeDevice())!.errors, []);
  },
});
