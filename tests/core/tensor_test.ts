import { deepStrictEqual, ok, throws } from "node:assert/strict";
import { CPU } from "../../core/backend.ts";
import { keep, scope, Tensor } from "../../core/tensor.ts";
import { clone, full, zeros } from "../../core/ops/basic.ts";
import { gpuTest, maybeDevice } from "../kernels/_harness.ts";
import { sizeClass } from "../../core/pool.ts";

Deno.test("Tensor.fromArray() round-trips values, dtypes and shapes on the cpu backend", async () => {
  const t = Tensor.fromArray([1.5, -2, 3], [3], { backend: CPU });
  deepStrictEqual([...await t.toArray()], [1.5, -2, 3]);
  const ids = Tensor.fromArray([7, -1], [2], { dtype: "i32", backend: CPU });
  ok((await ids.toArray()) instanceof Int32Array);
  throws(() => Tensor.fromArray([1, 2, 3], [2, 2], { backend: CPU }), /shape \[2, 2\] from 3/);
});

Deno.test("Tensor.reshape() is a view that shares storage and checks sizes", () => {
  const t = Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 3], { backend: CPU });
  const v = t.reshape([3, -1]);
  deepStrictEqual(v.shape, [3, 2]);
  v.data[0] = 42;
  deepStrictEqual(t.data[0], 42);
  throws(() => t.reshape([4, 2]), /Cannot reshape \[2, 3\] to \[4, 2\]/);
  t.dispose();
  deepStrictEqual(v.data[0], 42); // the view keeps the storage alive
  v.dispose();
  throws(() => v.data, /after dispose/);
});

Deno.test("scope() disposes inner tensors except returned and kept ones", () => {
  let a!: Tensor, b!: Tensor;
  const out = scope(() => {
    a = Tensor.fromArray([1], [1], { backend: CPU });
    b = keep(Tensor.fromArray([2], [1], { backend: CPU }));
    return [Tensor.fromArray([3], [1], { backend: CPU })];
  });
  ok(a.disposed);
  ok(!b.disposed);
  ok(!out[0].disposed);
});

Deno.test("sizeClass() wastes at most 12.5% and is monotone", () => {
  let prev = 0;
  for (let n = 1; n < 100000; n += 37) {
    const c = sizeClass(n);
    ok(c >= n && c >= prev && (n < 256 || c <= n * 1.125 + 1), `class of ${n} is ${c}`);
    prev = c;
  }
});

Deno.test({
  name: "scope() returns the pool's live-buffer count to its start after GPU work",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const start = dev.pool.live;
    const kept = scope(() => {
      const x = full([1000], 2, { backend: dev });
      const y = clone(x);
      zeros([17, 3], { backend: dev });
      return y;
    });
    deepStrictEqual(dev.pool.live, start + 1);
    deepStrictEqual((await kept.toArray())[999], 2);
    kept.dispose();
    deepStrictEqual(dev.pool.live, start);
    const created = dev.pool.created;
    scope(() => full([1000], 1, { backend: dev }));
    deepStrictEqual(dev.pool.created, created, "a freed buffer of the same class is reused");
  },
});

Deno.test({
  name: "Device batches dispatches into one submit per read",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    await dev.sync();
    const s0 = dev.stats.submits;
    const t = scope(() => {
      let x = full([64], 1, { backend: dev });
      for (let i = 0; i < 10; i++) x = clone(x);
      return x;
    });
    deepStrictEqual((await t.toArray())[63], 1);
    deepStrictEqual(dev.stats.submits - s0, 1);
    t.dispose();
  },
});
