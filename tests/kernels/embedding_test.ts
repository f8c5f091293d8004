import { deepStrictEqual, ok, throws } from "node:assert/strict";
import type { KernelContext } from "../../kernels/context.ts";
import { matmulKernel } from "../../kernels/matmul.ts";
import { embeddingBackwardKernel, embeddingKernel } from "../../kernels/embedding.ts";
import {
  assertClose,
  gpuTest,
  maybeDevice,
  poisoned,
  randArray,
  randInts,
  readF32,
  release,
  storageContext,
  upload,
} from "./_harness.ts";
import { checkGradients, rand64 } from "./_grad_check.ts";

// [positions N, vocabulary V, width H]
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 5, 7],
  [13, 3, 4],
  [37, 11, 9],
  [100, 7, 12],
  [300, 70, 5],
  [300, 19, 128], // a tiny model's batch: the one-pass backward (up to 32 ids, rows of 4k)
  [50, 32, 8],
  [50, 33, 8], // one id too many: the counting sort
];

/** Ids in [-2, V + 2), so some fall outside the table. */
function idsFor(n: number, vocab: number, seed: number): Int32Array {
  return randInts(n, seed, vocab + 4).map((i) => i - 2);
}

Deno.test({
  name: "embeddingKernel.gpu() matches the CPU reference and gives zero rows for bad ids",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const [n, vocab, dim] of SHAPES) {
      const table = randArray(vocab * dim, n + vocab), ids = idsFor(n, vocab, dim);
      const tb = upload(dev, table), ib = upload(dev, ids), out = poisoned(dev, n * dim);
      embeddingKernel.gpu(dev, { table: tb, ids: ib, out, n, vocab, dim });
      const want = new Float32Array(n * dim).fill(NaN);
      embeddingKernel.cpu({ table, ids, out: want, n, vocab, dim });
      assertClose(await readF32(dev, out, n * dim), want, 0, `embedding ${n}x${vocab}x${dim}`);
      release(dev, tb, ib, out);
    }
    const want = new Float32Array(3);
    embeddingKernel.cpu({
      table: new Float32Array([1, 2, 3]),
      ids: new Int32Array([3]),
      out: want,
      n: 1,
      vocab: 1,
      dim: 3,
    });
    deepStrictEqual([...want], [0, 0, 0]);
  },
});

Deno.test("embeddingBackwardKernel.cpu() matches float64 central finite differences", () => {
  for (const [n, vocab, dim] of [[1, 1, 1], [13, 3, 4], [9, 5, 3]]) {
    const ids = idsFor(n, vocab, 5 + n);
    checkGradients(
      `embedding ${n}x${vocab}x${dim}`,
      [rand64(vocab * dim, 3 * n)],
      ([table]) => {
        const out = new Float64Array(n * dim);
        embeddingKernel.cpu({ table, ids, out, n, vocab, dim });
        return out;
      },
      (_, dOut) => {
        const dTable = new Float64Array(vocab * dim);
        embeddingBackwardKernel.cpu({ ids, dOut, dTable, n, vocab, dim });
        return [dTable];
      },
    );
  }
});

Deno.test({
  name: "embeddingBackwardKernel.gpu() matches the CPU reference, with and without accumulate",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const [n, vocab, dim] of [...SHAPES, [0, 4, 3] as [number, number, number]]) {
      const ids = idsFor(n, vocab, 11 + n), dy = randArray(n * dim, 12 + n);
      // (an empty upload panics Deno 2.9.6's queue.writeBuffer: bind placeholders instead)
      const ib = n ? upload(dev, ids) : poisoned(dev, 1),
        db = n ? upload(dev, dy) : poisoned(dev, 1);
      for (const accumulate of [false, true]) {
        const start = randArray(vocab * dim, 13 + vocab);
        const dT = accumulate ? upload(dev, start) : poisoned(dev, vocab * dim);
        embeddingBackwardKernel.gpu(dev, {
          ids: ib,
          dOut: db,
          dTable: dT,
          n,
          vocab,
          dim,
          accumulate,
        });
        const want = start.slice();
        embeddingBackwardKernel.cpu({ ids, dOut: dy, dTable: want, n, vocab, dim, accumulate });
        const what = `embedding bwd ${n}x${vocab}x${dim} accumulate=${accumulate}`;
        // (sums of up to ~30 rows in f32 against float64: compare to 1e-2 near zero)
        assertClose(await readF32(dev, dT, vocab * dim), want, 1e-4, what, 1e-2);
        release(dev, dT);
      }
      release(dev, ib, db);
    }
  },
});

Deno.test({
  name: "embeddingBackwardKernel.gpu() sums each id's rows in ascending position order in f32",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    // Both paths (one pass for 19 ids, the counting sort for 40) add the rows of an id in
    // ascending position order, starting from 0: exactly a float32 running sum.
    for (const vocab of [19, 40]) {
      const n = 1216, dim = 128;
      const ids = randInts(n, 7, vocab), dy = randArray(n * dim, 8, -100, 100);
      const want = new Float32Array(vocab * dim);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < dim; j++) {
          const k = ids[i] * dim + j;
          want[k] = Math.fround(want[k] + dy[i * dim + j]);
        }
      }
      const ib = upload(dev, ids), db = upload(dev, dy);
      // Gradient rows read through flat textures (CPU adapters) and from storage buffers.
      for (const ctx of [dev, storageContext(dev)]) {
        const dT = poisoned(dev, vocab * dim);
        embeddingBackwardKernel.gpu(ctx, { ids: ib, dOut: db, dTable: dT, n, vocab, dim });
        const got = await readF32(dev, dT, vocab * dim);
        deepStrictEqual(new Uint32Array(got.buffer), new Uint32Array(want.buffer));
        release(dev, dT);
      }
      release(dev, ib, db);
    }
  },
});

Deno.test({
  name:
    "embeddingBackwardKernel.gpu() gives bit-identical gradients across runs with many repeated ids",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const n = 4001, vocab = 6, dim = 33;
    const ids = randInts(n, 99, vocab), dy = randArray(n * dim, 98, -100, 100);
    const ib = upload(dev, ids), db = upload(dev, dy);
    const runs: Uint32Array[] = [];
    for (let k = 0; k < 2; k++) {
      const dT = poisoned(dev, vocab * dim);
      embeddingBackwardKernel.gpu(dev, { ids: ib, dOut: db, dTable: dT, n, vocab, dim });
      runs.push(new Uint32Array((await readF32(dev, dT, vocab * dim)).buffer));
      release(dev, dT);
    }
    deepStrictEqual(runs[0], runs[1]);
    // The order is ascending position: the sum equals a sequential f32 sum.
    const seq = new Float32Array(vocab * dim);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < dim; j++) seq[ids[i] * dim + j] = seq[ids[i] * dim + j] + dy[i * dim + j];
    }
    deepStrictEqual(runs[0], new Uint32Array(seq.buffer));
    ok(runs[0].length === vocab * dim);
    release(dev, ib, db);
  },
});

Deno.test({
  name:
    "embeddingBackwardKernel.gpu() and matmulKernel.gpu() refuse loops past llvmpipe's budget on CPU adapters",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const cpu: KernelContext = { ...storageContext(dev), isCpuAdapter: true };
    const b = dev.pool.acquire(16);
    throws(
      () =>
        embeddingBackwardKernel.gpu(cpu, {
          ids: b,
          dOut: b,
          dTable: b,
          n: 70000,
          vocab: 19,
          dim: 4,
        }),
      /Embedding backward over 70000 positions \(lower the microbatch.*65535/,
    );
    throws(
      () => matmulKernel.gpu(cpu, { a: b, b: b, out: b, m: 1, n: 1, k: 300000, variant: "direct" }),
      /A matmul over K = 300000.*65535/,
    );
    dev.pool.release(b);
  },
});
