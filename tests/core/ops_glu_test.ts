import { deepStrictEqual, throws } from "node:assert/strict";
import { backward } from "../../core/ops/backward.ts";
import { gluGelu } from "../../core/ops/glu.ts";
import { type Backend, CPU } from "../../core/backend.ts";
import { Tensor } from "../../core/tensor.ts";
import { gluBackwardKernel, gluKernel } from "../../kernels/glu.ts";
import { assertClose, gpuTest, maybeDevice, randArray } from "../kernels/_harness.ts";

const SHAPE = [3, 5, 14], ROWS = 15, HALF = 7;
const X = randArray(ROWS * 2 * HALF, 1, -4, 4), DY = randArray(ROWS * HALF, 2);

async function run(backend: Backend) {
  const x = Tensor.fromArray(X, SHAPE, { backend });
  x.requiresGrad = true;
  const out = gluGelu(x);
  deepStrictEqual(out.shape, [3, 5, HALF]);
  const y = await out.toArray();
  backward(out, Tensor.fromArray(DY, out.shape, { backend }));
  const g = await x.grad!.toArray();
  x.grad!.dispose();
  x.dispose();
  out.dispose();
  return { y, g };
}

Deno.test("gluGelu() on the cpu backend matches the float64 references", async () => {
  const { y, g } = await run(CPU);
  const out = new Float64Array(ROWS * HALF), dA = new Float64Array(ROWS * 2 * HALF);
  gluKernel.cpu({ a: Float64Array.from(X), out, rows: ROWS, half: HALF });
  gluBackwardKernel.cpu({
    a: Float64Array.from(X),
    dOut: Float64Array.from(DY),
    dA,
    rows: ROWS,
    half: HALF,
  });
  assertClose(y, out, 1e-6, "out");
  assertClose(g, dA, 1e-6, "grad");
});

Deno.test({
  name: "gluGelu() gives the same values and gradients on cpu and webgpu",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const cpu = await run(CPU), gpu = await run(dev);
    assertClose(gpu.y, cpu.y, 1e-4, "out");
    assertClose(gpu.g, cpu.g, 1e-4, "grad");
  },
});

Deno.test("gluGelu() rejects an odd last axis", () => {
  const x = Tensor.fromArray([1, 2, 3], [1, 3], { backend: CPU });
  throws(() => gluGelu(x), /Cannot gluGelu shape \[1, 3\]: the last axis must be even/);
});
