import { deepStrictEqual, throws } from "node:assert/strict";
import { backward } from "../../core/ops/backward.ts";
import { embedding } from "../../core/ops/embedding.ts";
import { type Backend, CPU } from "../../core/backend.ts";
import { Tensor } from "../../core/tensor.ts";
import { embeddingBackwardKernel, embeddingKernel } from "../../kernels/embedding.ts";
import { assertClose, gpuTest, maybeDevice, randArray, randInts } from "../kernels/_harness.ts";

const V = 7, H = 9, SHAPE = [3, 41]; // ids (3, 41), many repeats of 7 ids plus bad ones
const N = SHAPE[0] * SHAPE[1];
const TABLE = randArray(V * H, 1);
const IDS = randInts(N, 2, V + 2).map((i) => (i === V + 1 ? -1 : i)); // ids V and -1 are out of range
const DY = randArray(N * H, 3, -10, 10);

/** Embeds twice (the table gradient accumulates across the two backward passes). */
async function run(backend: Backend) {
  const table = Tensor.fromArray(TABLE, [V, H], { backend });
  table.requiresGrad = true;
  const ids = Tensor.fromArray(IDS, SHAPE, { dtype: "i32", backend });
  const ys: Float32Array[] = [], grads: Uint32Array[] = [];
  for (let k = 0; k < 2; k++) {
    const out = embedding(table, ids);
    deepStrictEqual(out.shape, [...SHAPE, H]);
    ys.push(await out.toArray() as Float32Array);
    backward(out, Tensor.fromArray(DY, [...SHAPE, H], { backend }));
    grads.push(new Uint32Array((await table.grad!.toArray()).buffer));
    out.dispose();
  }
  table.grad!.dispose();
  table.dispose();
  ids.dispose();
  return { y: ys[0], g1: new Float32Array(grads[0].buffer), g2: new Float32Array(grads[1].buffer) };
}

Deno.test("embedding() on the cpu backend matches the references and accumulates", async () => {
  const { y, g1, g2 } = await run(CPU);
  const out = new Float32Array(N * H), dT = new Float32Array(V * H);
  embeddingKernel.cpu({ table: TABLE, ids: IDS, out, n: N, vocab: V, dim: H });
  embeddingBackwardKernel.cpu({ ids: IDS, dOut: DY, dTable: dT, n: N, vocab: V, dim: H });
  assertClose(y, out, 0, "out");
  assertClose(g1, dT, 1e-5, "grad");
  assertClose(g2, dT.map((v) => 2 * v), 1e-5, "accumulated grad");
});

Deno.test({
  name: "embedding() gives the same rows and gradients on cpu and webgpu, bit-identical per run",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const cpu = await run(CPU), gpu = await run(dev), again = await run(dev);
    assertClose(gpu.y, cpu.y, 0, "out");
    assertClose(gpu.g1, cpu.g1, 1e-4, "grad");
    assertClose(gpu.g2, cpu.g2, 1e-4, "accumulated grad");
    deepStrictEqual(new Uint32Array(again.g2.buffer), new Uint32Array(gpu.g2.buffer));
  },
});

Deno.test("embedding() rejects bad tables and float ids with clear errors", () => {
  const table = Tensor.fromArray(TABLE, [V * H], { backend: CPU });
  const ids = Tensor.fromArray([1], [1], { dtype: "i32", backend: CPU });
  throws(() => embedding(table, ids), /Cannot embed with a table of shape \[63\] \(f32\)/);
  const t2 = table.reshape([V, H]);
  throws(() => embedding(t2, Tensor.fromArray([1], [1], { backend: CPU })), /dtype f32/);
});
