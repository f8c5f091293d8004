import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { linear, matmul, type MatmulOptions } from "../../core/ops/matmul.ts";
import { add } from "../../core/ops/elementwise.ts";
import { backward } from "../../core/ops/backward.ts";
import { type Backend, CPU } from "../../core/backend.ts";
import { scope, Tensor } from "../../core/tensor.ts";
import { matmulKernel } from "../../kernels/matmul.ts";
import { assertClose, gpuTest, maybeDevice, randArray } from "../kernels/_harness.ts";

/** One op configuration: operand shapes and transposes (`linear` when `op` says so). */
interface Case {
  a: number[];
  b: number[];
  opts?: MatmulOptions;
  op?: "linear";
}

const CASES: Case[] = [
  { a: [5, 4], b: [4, 3] },
  { a: [4, 5], b: [3, 4], opts: { transA: true, transB: true } },
  { a: [2, 3, 5, 4], b: [4, 3] }, // shared b, folded into one product
  { a: [2, 4, 5], b: [3, 4], opts: { transA: true, transB: true } }, // shared b, batched
  { a: [2, 4, 5], b: [4, 3], opts: { transA: true } },
  { a: [3, 5, 4], b: [3, 4, 2] }, // batched b
  { a: [3, 4, 5], b: [3, 2, 4], opts: { transA: true, transB: true } },
  { a: [2, 3, 4], b: [5, 4], op: "linear" },
  { a: [4], b: [3, 4], op: "linear" },
];

/** (..., M, N) for matmul, (..., out) for linear. */
function outShape(c: Case): number[] {
  if (c.op === "linear") return [...c.a.slice(0, -1), c.b[0]];
  const [a0, a1] = c.a.slice(-2), [b0, b1] = c.b.slice(-2);
  return [...c.a.slice(0, -2), c.opts?.transA ? a1 : a0, c.opts?.transB ? b0 : b1];
}

function run(c: Case, a: Tensor, b: Tensor): Tensor {
  return c.op === "linear" ? linear(a, b) : matmul(a, b, c.opts);
}

/** The op's result by the kernel's CPU reference in float64 (batch strides, 0 for shared b). */
function reference(c: Case, a: Float64Array, b: Float64Array): Float64Array {
  const linearOp = c.op === "linear";
  const aShape = linearOp && c.a.length === 1 ? [1, ...c.a] : c.a;
  const transA = c.opts?.transA ?? false, transB = linearOp || (c.opts?.transB ?? false);
  const [a0, a1] = aShape.slice(-2), [b0, b1] = c.b.slice(-2);
  const [m, k] = transA ? [a1, a0] : [a0, a1];
  const n = transB ? b0 : b1;
  const batch = aShape.slice(0, -2).reduce((p, d) => p * d, 1);
  const out = new Float64Array(batch * m * n);
  const strideB = c.b.length === 2 ? 0 : k * n;
  matmulKernel.cpu({ a, b, out, m, n, k, batch, transA, transB, strideB });
  return out;
}

/** Float64 central differences of L = sum(out * w) for every element of a and b. */
function finiteDiff(c: Case, a: Float64Array, b: Float64Array, w: Float64Array): Float64Array[] {
  const h = 1e-5;
  const loss = () => reference(c, a, b).reduce((s, v, i) => s + v * w[i], 0);
  return [a, b].map((x) => {
    const g = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const x0 = x[i];
      x[i] = x0 + h;
      const up = loss();
      x[i] = x0 - h;
      const down = loss();
      x[i] = x0;
      g[i] = (up - down) / (2 * h);
    }
    return g;
  });
}

/** Forward and both gradients on a backend, seeded with w (so L = sum(out * w)). */
async function gradients(c: Case, backend: Backend, seed: number): Promise<Float32Array[]> {
  const ha = randArray(c.a.reduce((p, d) => p * d, 1), seed);
  const hb = randArray(c.b.reduce((p, d) => p * d, 1), seed + 1);
  const a = Tensor.fromArray(ha, c.a, { backend }), b = Tensor.fromArray(hb, c.b, { backend });
  a.requiresGrad = b.requiresGrad = true;
  const out = run(c, a, b);
  const w = Tensor.fromArray(randArray(out.size, seed + 2), out.shape, { backend });
  const y = (await out.toArray()) as Float32Array;
  backward(out, w);
  const res = [
    y,
    (await a.grad!.toArray()) as Float32Array,
    (await b.grad!.toArray()) as Float32Array,
  ];
  for (const t of [a, b, out, a.grad!, b.grad!]) t.dispose();
  return res;
}

Deno.test("matmul() and linear() on the cpu backend match the reference and give output shapes", async () => {
  for (const c of CASES) {
    const ha = randArray(c.a.reduce((p, d) => p * d, 1), 1);
    const hb = randArray(c.b.reduce((p, d) => p * d, 1), 2);
    const a = Tensor.fromArray(ha, c.a, { backend: CPU });
    const b = Tensor.fromArray(hb, c.b, { backend: CPU });
    const out = run(c, a, b);
    const want = reference(c, Float64Array.from(ha), Float64Array.from(hb));
    assertClose(await out.toArray(), want, 1e-6, JSON.stringify(c));
    assertEquals(out.shape, outShape(c), JSON.stringify(c));
  }
});

Deno.test("matmul() gradients on the cpu backend match float64 finite differences", async () => {
  for (const [i, c] of CASES.entries()) {
    const [, ga, gb] = await gradients(c, CPU, 10 * i);
    const a = Float64Array.from(randArray(c.a.reduce((p, d) => p * d, 1), 10 * i));
    const b = Float64Array.from(randArray(c.b.reduce((p, d) => p * d, 1), 10 * i + 1));
    const n = reference(c, a, b).length;
    const w = Float64Array.from(randArray(n, 10 * i + 2));
    const [fa, fb] = finiteDiff(c, a, b, w);
    assertClose(ga, fa, 1e-3, `dA ${JSON.stringify(c)}`);
    assertClose(gb, fb, 1e-3, `dB ${JSON.stringify(c)}`);
  }
});

Deno.test("matmul() keeps its inputs for backward when the forward ran inside scope()", async () => {
  const a = Tensor.fromArray([1, 2, 3, 4], [2, 2], { backend: CPU });
  const b = Tensor.fromArray([1, 0, 0, 1], [2, 2], { backend: CPU });
  b.requiresGrad = true;
  // The view of a is made inside the scope and freed when it ends; backward must still work.
  const out = scope(() => matmul(a.reshape([2, 2]), b));
  backward(out);
  // dB = A^T @ ones = column sums of A, per row of B
  assertEquals([...await b.grad!.toArray()], [4, 4, 6, 6]);
});

Deno.test("matmul() and linear() reject mismatched shapes with clear errors", () => {
  const t = (s: number[]) =>
    Tensor.fromArray(new Float32Array(s.reduce((p, d) => p * d, 1)), s, { backend: CPU });
  throws(() => matmul(t([2, 3]), t([4, 5])), {
    message: "Cannot matmul shapes [2, 3] and [4, 5]: inner dimensions differ (3 vs 4)",
  });
  throws(() => matmul(t([2, 2, 3]), t([3, 3, 4])), /batch dimensions differ/);
  throws(() => matmul(t([3]), t([3, 4])), /at least 2 dimensions/);
  throws(() => linear(t([2, 3]), t([4, 5])), /input features differ \(3 vs 5\)/);
  throws(() => linear(t([2, 3]), t([3])), /weight must be 2D/);
  const ints = Tensor.fromArray([1, 2], [1, 2], { backend: CPU, dtype: "i32" });
  throws(() => matmul(ints, t([2, 1])), /dtype i32: expected f32/);
});

Deno.test({
  name: "matmul() and linear() on webgpu agree with the cpu backend, gradients included",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const live = dev.pool.live;
    for (const [i, c] of CASES.entries()) {
      const cpu = await gradients(c, CPU, 100 + i);
      const gpu = await gradients(c, dev, 100 + i);
      for (const [j, what] of ["out", "dA", "dB"].entries()) {
        assertClose(gpu[j], cpu[j], 1e-4, `${what} ${JSON.stringify(c)}`, 1e-2);
      }
    }
    await dev.sync();
    assertEquals(dev.pool.live, live, "every buffer went back to the pool");
  },
});

Deno.test({
  name: "linear() adds a weight's gradient into the gradient it already holds, pass after pass",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dev = await maybeDevice();
    const backends: Backend[] = dev ? [CPU, dev] : [CPU];
    const rows = 7, inF = 5, outF = 3;
    const hx = [randArray(rows * inF, 51), randArray(rows * inF, 52)];
    const hw = randArray(outF * inF, 53), g0 = randArray(outF * inF, 54);
    const hs = [randArray(rows * outF, 55), randArray(rows * outF, 56)];
    // Expected: g0 + sum over the two uses of seed_u^T (out, rows) @ x_u (rows, in).
    const want = Float64Array.from(g0);
    for (let u = 0; u < 2; u++) {
      const d = new Float64Array(outF * inF);
      matmulKernel.cpu({
        a: Float64Array.from(hs[u]),
        b: Float64Array.from(hx[u]),
        out: d,
        m: outF,
        n: inF,
        k: rows,
        transA: true,
      });
      d.forEach((v, i) => (want[i] += v));
    }
    for (const backend of backends) {
      const w = Tensor.fromArray(hw, [outF, inF], { backend });
      w.requiresGrad = true;
      w.grad = Tensor.fromArray(g0, [outF, inF], { backend });
      for (let u = 0; u < 2; u++) {
        const x = Tensor.fromArray(hx[u], [rows, inF], { backend });
        const seed = Tensor.fromArray(hs[u], [rows, outF], { backend });
        backward(linear(x, w), seed);
        x.dispose();
      }
      assertClose(await w.grad.toArray(), want, 1e-5, `dW on ${backend.kind}`);
      w.grad.dispose();
      w.dispose();
    }
  },
});

Deno.test({
  name: "matmul() adds an input's gradient into the sum already collected for it, shared or not",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dev = await maybeDevice();
    const backends: Backend[] = dev ? [CPU, dev] : [CPU];
    const rows = 7, inF = 5, mid = 4, outF = 3;
    const hx = randArray(rows * inF, 61), hw1 = randArray(mid * inF, 62);
    const hw2 = randArray(outF * mid, 63), hw3 = randArray(mid * outF, 64);
    const hs = randArray(rows * outF, 65);
    const mm = (a: Float64Array, b: Float64Array, m: number, k: number, n: number, o = {}) => {
      const out = new Float64Array(m * n);
      matmulKernel.cpu({ a, b, out, m, n, k, ...o });
      return out;
    };
    const f = (x: ArrayLike<number>) => Float64Array.from(x);
    // h = x @ W1^T (rows, mid); y = h @ W2^T + h @ W3 [+ (h + h) @ W3]; L = sum(y * s).
    // dH = s @ W2 + s @ W3^T [+ 2 s @ W3^T]; dX = dH @ W1.
    for (const doubled of [false, true]) {
      const dh = mm(f(hs), f(hw2), rows, outF, mid);
      const d3 = mm(f(hs), f(hw3), rows, outF, mid, { transB: true });
      dh.forEach((_, i) => (dh[i] += (doubled ? 3 : 1) * d3[i]));
      const want = mm(dh, f(hw1), rows, mid, inF);
      for (const backend of backends) {
        const T = (d: Float32Array, s: number[]) => Tensor.fromArray(d, s, { backend });
        const x = T(hx, [rows, inF]), w1 = T(hw1, [mid, inF]);
        const w2 = T(hw2, [outF, mid]), w3 = T(hw3, [mid, outF]);
        x.requiresGrad = true;
        // The intermediate tensors stay alive until backward (disposing one cuts the graph).
        const h = linear(x, w1);
        let y = add(linear(h, w2), matmul(h, w3));
        if (doubled) y = add(y, matmul(add(h, h), w3));
        backward(y, T(hs, [rows, outF]));
        assertClose(await x.grad!.toArray(), want, 1e-5, `dX on ${backend.kind} ${doubled}`);
        for (const t of [x, w1, w2, w3, y, x.grad!]) t.dispose();
      }
    }
  },
});
