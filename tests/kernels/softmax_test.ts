import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import {
  crossEntropyBackwardKernel,
  crossEntropyKernel,
  type Reduction,
  softmaxBackwardKernel,
  softmaxKernel,
} from "../../kernels/softmax.ts";
import {
  assertClose,
  gpuTest,
  HAS_GPU,
  maybeDevice,
  poisoned,
  randArray,
  randInts,
  readF32,
  release,
  upload,
} from "./_harness.ts";
import { checkGradients, rand64 } from "./_grad_check.ts";
import { LAYOUTS, shapesFor, withLayout } from "./_row_layouts.ts";

// [rows, n]: edge shapes, short rows (one invocation each) and long rows (a workgroup each).
const SHAPES: [number, number][] = [[1, 1], [1, 19], [77, 1], [130, 121], [3, 257], [2, 2999], [
  1,
  8500,
]];

Deno.test({
  name: "softmaxKernel.gpu() matches the CPU reference on odd shapes in every row layout",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const layout of LAYOUTS) {
      await withLayout(dev, layout, async () => {
        for (const [rows, n] of shapesFor(layout, SHAPES)) {
          const hx = randArray(rows * n, rows + n, -8, 8);
          const x = upload(dev, hx), y = poisoned(dev, rows * n);
          softmaxKernel.gpu(dev, { x, y, rows, n });
          const want = new Float32Array(rows * n);
          softmaxKernel.cpu({ x: hx, y: want, rows, n });
          assertClose(await readF32(dev, y, rows * n), want, 1e-4, `${layout} ${rows}x${n}`, 1e-6);
          release(dev, x, y);
        }
      });
    }
  },
});

Deno.test({
  name: "softmaxKernel.gpu() is stable for large logits",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const hx = new Float32Array([1000, 1001, -1000, 5e30, 5e30, 0]);
    const x = upload(dev, hx), y = poisoned(dev, 6);
    softmaxKernel.gpu(dev, { x, y, rows: 2, n: 3 });
    const want = new Float32Array(6);
    softmaxKernel.cpu({ x: hx, y: want, rows: 2, n: 3 });
    assertClose(await readF32(dev, y, 6), want, 1e-5, "large logits");
    release(dev, x, y);
  },
});

Deno.test({
  name: "softmaxBackwardKernel.gpu() matches the CPU backward on odd shapes in every row layout",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    for (const layout of LAYOUTS) {
      await withLayout(dev, layout, async () => {
        for (const [rows, n] of shapesFor(layout, SHAPES)) {
          const hy = new Float32Array(rows * n);
          softmaxKernel.cpu({ x: randArray(rows * n, n, -3, 3), y: hy, rows, n });
          const hdy = randArray(rows * n, rows);
          const y = upload(dev, hy), dy = upload(dev, hdy), dx = poisoned(dev, rows * n);
          softmaxBackwardKernel.gpu(dev, { y, dy, dx, rows, n });
          const want = new Float32Array(rows * n);
          softmaxBackwardKernel.cpu({ y: hy, dy: hdy, dx: want, rows, n });
          assertClose(await readF32(dev, dx, rows * n), want, 1e-4, `${layout} ${rows}x${n}`, 1e-5);
          release(dev, y, dy, dx);
        }
      });
    }
  },
});

Deno.test("softmaxBackwardKernel.cpu() matches float64 finite differences", () => {
  for (const [rows, n] of [[1, 1], [2, 5], [3, 19]]) {
    checkGradients(
      `softmax ${rows}x${n}`,
      [rand64(rows * n, n, -2, 2)],
      ([x]) => {
        const y = new Float64Array(rows * n);
        softmaxKernel.cpu({ x, y, rows, n });
        return y;
      },
      ([x], dy) => {
        const y = new Float64Array(rows * n), dx = new Float64Array(rows * n);
        softmaxKernel.cpu({ x, y, rows, n });
        softmaxBackwardKernel.cpu({ y, dy, dx, rows, n });
        return [dx];
      },
      { floor: 1e-4 },
    );
  }
});

Deno.test({
  name: "softmax kernels raised no WebGPU validation errors",
  ...gpuTest,
  fn: async () => {
    assertEquals((await maybeDevice())!.errors, []);
  },
});

Deno.test({
  name: "softmax forward and backward reduce rows by subgroup shuffles where the device has them",
  ...gpuTest,
  // Only adapters whose device was opened with `subgroups` (llvmpipe through Deno has none).
  ignore: !HAS_GPU || !(await maybeDevice())!.device.features.has("subgroups"),
  fn: async () => {
    const dev = (await maybeDevice())!;
    dev.tuning.set("subgroups", "1");
    try {
      for (const layout of ["wg64", "wg256"]) {
        await withLayout(dev, layout, async () => {
          for (const [rows, n] of [[3, 37], [2, 300], [1, 9001]] as const) {
            const hx = randArray(rows * n, rows + n, -8, 8);
            const x = upload(dev, hx), y = poisoned(dev, rows * n);
            softmaxKernel.gpu(dev, { x, y, rows, n });
            const want = new Float32Array(rows * n);
            softmaxKernel.cpu({ x: hx, y: want, rows, n });
            const got = await readF32(dev, y, rows * n);
            assertClose(got, want, 1e-4, `subgroups ${layout} ${rows}x${n}`, 1e-6);
            const hdy = randArray(rows * n, rows);
            const dy = upload(dev, hdy), dx = poisoned(dev, rows * n);
            softmaxBackwardKernel.gpu(dev, { y, dy, dx, rows, n });
            const wantDx = new Float32Array(rows * n);
            softmaxBackwardKernel.cpu({ y: got, dy: hdy, dx: wantDx, rows, n });
            const gotDx = await readF32(dev, dx, rows * n);
            assertClose(gotDx, wantDx, 1e-4, `subgroups dx ${layout} ${rows}x${n}`, 1e-5);
            release(dev, x, y, dy, dx);
          }
        });
      }
    } finally {
      dev.tuning.delete("subgroups");
    }
  },
});

Deno.test("softmaxKernel.cpu() gives exp(x) / sum exp(x) on a worked row", () => {
  const y = new Float64Array(2);
  softmaxKernel.cpu({ x: new Float64Array([0, Math.log(3)]), y, rows: 1, n: 2 });
  assertClose(y, [0.25, 0.75], 1e-15, "softmax of [0, log 3]");
});

// [rows, classes]: one row, one class, the arithmetic vocabularies (19..121), long rows
// (a workgroup per row) and more rows than one invocation sums (mean over 300 rows).
const CE_SHAPES: [number, number][] = [[1, 1], [1, 19], [5, 1], [37, 121], [300, 23], [3, 1001]];
const IGN = -100;

/** Random targets with about one row in four ignored. */
function targets(rows: number, classes: number, seed: number, ign = IGN): Int32Array {
  const t = randInts(rows, seed, classes);
  const drop = randInts(rows, seed + 1, 4);
  for (let r = 0; r < rows; r++) if (drop[r] === 0) t[r] = ign;
  return t;
}

for (const reduction of ["mean", "none"] as Reduction[]) {
  Deno.test({
    name:
      `crossEntropyKernel.gpu() matches the CPU reference (${reduction}) on odd shapes in every row layout`,
    ...gpuTest,
    fn: async () => {
      const dev = (await maybeDevice())!;
      for (const layout of LAYOUTS) {
        await withLayout(dev, layout, async () => {
          for (const [rows, classes] of shapesFor(layout, CE_SHAPES)) {
            const hx = randArray(rows * classes, rows + classes, -5, 5);
            const ht = targets(rows, classes, rows * 7 + classes);
            const nl = reduction === "mean" ? 1 : rows;
            const x = upload(dev, hx), t = upload(dev, ht);
            const loss = poisoned(dev, nl), lse = poisoned(dev, rows), count = poisoned(dev, 1);
            crossEntropyKernel.gpu(dev, {
              logits: x,
              targets: t,
              loss,
              lse,
              count,
              rows,
              classes,
              reduction,
            });
            const wl = new Float32Array(nl),
              wlse = new Float32Array(rows),
              wc = new Float32Array(1);
            crossEntropyKernel.cpu({
              logits: hx,
              targets: ht,
              loss: wl,
              lse: wlse,
              count: wc,
              rows,
              classes,
              reduction,
            });
            const what = `${layout} ${reduction} ${rows}x${classes}`;
            assertClose(await readF32(dev, loss, nl), wl, 1e-4, `${what} loss`);
            assertClose(await readF32(dev, lse, rows), wlse, 1e-5, `${what} lse`);
            if (reduction === "mean") {
              assertClose(await readF32(dev, count, 1), wc, 0, `${what} count`);
            }
            release(dev, x, t, loss, lse, count);
          }
        });
      }
    },
  });

  Deno.test({
    name:
      `crossEntropyBackwardKernel.gpu() matches the CPU backward (${reduction}) on odd shapes in every row layout`,
    ...gpuTest,
    fn: async () => {
      const dev = (await maybeDevice())!;
      for (const layout of LAYOUTS) {
        await withLayout(dev, layout, async () => {
          for (const [rows, classes] of shapesFor(layout, CE_SHAPES)) {
            const n = rows * classes;
            const hx = randArray(n, rows + classes + 1, -5, 5);
            const ht = targets(rows, classes, rows * 3 + classes);
            const nl = reduction === "mean" ? 1 : rows;
            const hdy = randArray(nl, 5, 0.5, 2);
            const hlse = new Float32Array(rows), hc = new Float32Array(1);
            crossEntropyKernel.cpu({
              logits: hx,
              targets: ht,
              loss: new Float32Array(nl),
              lse: hlse,
              count: hc,
              rows,
              classes,
              reduction,
            });
            const x = upload(dev, hx), t = upload(dev, ht), lse = upload(dev, hlse);
            const dy = upload(dev, hdy), count = upload(dev, hc), dx = poisoned(dev, n);
            crossEntropyBackwardKernel.gpu(dev, {
              logits: x,
              targets: t,
              lse,
              dy,
              count,
              dlogits: dx,
              rows,
              classes,
              reduction,
            });
            const want = new Float32Array(n);
            crossEntropyBackwardKernel.cpu({
              logits: hx,
              targets: ht,
              lse: hlse,
              dy: hdy,
              count: hc,
              dlogits: want,
              rows,
              classes,
              reduction,
            });
            assertClose(
              await readF32(dev, dx, n),
              want,
              1e-4,
              `${layout} ${reduction} ${rows}x${classes}`,
              1e-5,
            );
            release(dev, x, t, lse, dy, count, dx);
          }
        });
      }
    },
  });
}

Deno.test({
  name: "crossEntropyKernel.gpu() gives 0 when every row is ignored and honours the ignore index",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const rows = 4, classes = 5;
    const hx = randArray(rows * classes, 1);
    const x = upload(dev, hx), lse = poisoned(dev, rows), count = poisoned(dev, 1);
    const loss = poisoned(dev, 1);
    const all = upload(dev, new Int32Array(rows).fill(IGN));
    crossEntropyKernel.gpu(dev, { logits: x, targets: all, loss, lse, count, rows, classes });
    assertEquals([...await readF32(dev, loss, 1)], [0]);
    assertEquals([...await readF32(dev, count, 1)], [0]);
    // A custom ignore index (a pad class inside the vocabulary).
    const ht = new Int32Array([0, 3, 0, 2]);
    const t = upload(dev, ht);
    crossEntropyKernel.gpu(dev, {
      logits: x,
      targets: t,
      loss,
      lse,
      count,
      rows,
      classes,
      ignoreIndex: 0,
    });
    const want = new Float32Array(1);
    crossEntropyKernel.cpu({
      logits: hx,
      targets: ht,
      loss: want,
      lse: new Float32Array(rows),
      rows,
      classes,
      ignoreIndex: 0,
    });
    assertClose(await readF32(dev, loss, 1), want, 1e-5, "ignoreIndex 0");
    assertEquals([...await readF32(dev, count, 1)], [2]);
    release(dev, x, lse, count, loss, all, t);
  },
});

Deno.test({
  name: "crossEntropyKernel.gpu() flags an out-of-range target with a NaN loss",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const x = upload(dev, randArray(6, 2)), t = upload(dev, new Int32Array([1, 3]));
    const loss = poisoned(dev, 2), lse = poisoned(dev, 2);
    crossEntropyKernel.gpu(dev, {
      logits: x,
      targets: t,
      loss,
      lse,
      rows: 2,
      classes: 3,
      reduction: "none",
    });
    const got = await readF32(dev, loss, 2);
    ok(Number.isFinite(got[0]) && Number.isNaN(got[1]));
    release(dev, x, t, loss, lse);
  },
});

Deno.test("crossEntropyBackwardKernel.cpu() matches float64 finite differences", () => {
  for (const reduction of ["mean", "none"] as Reduction[]) {
    for (const [rows, classes] of [[1, 1], [1, 4], [6, 5]]) {
      const ht = targets(rows, classes, 11);
      const nl = reduction === "mean" ? 1 : rows;
      const forward = (x: Float64Array) => {
        const loss = new Float64Array(nl),
          lse = new Float64Array(rows),
          count = new Float64Array(1);
        crossEntropyKernel.cpu({
          logits: x,
          targets: ht,
          loss,
          lse,
          count,
          rows,
          classes,
          reduction,
        });
        return { loss, lse, count };
      };
      checkGradients(
        `${reduction} ${rows}x${classes}`,
        [rand64(rows * classes, rows + classes, -3, 3)],
        ([x]) => forward(x).loss,
        ([x], dy) => {
          const { lse, count } = forward(x);
          const dlogits = new Float64Array(rows * classes);
          crossEntropyBackwardKernel.cpu({
            logits: x,
            targets: ht,
            lse,
            dy,
            count,
            dlogits,
            rows,
            classes,
            reduction,
          });
          return [dlogits];
        },
        { floor: 1e-4 },
      );
    }
  }
});

Deno.test("crossEntropyKernel.cpu() rejects a target outside the classes", () => {
  let msg = "";
  try {
    crossEntropyKernel.cpu({
      logits: new Float32Array(4),
      targets: new Int32Array([0, 2]),
      loss: new Float32Array(1),
      lse: new Float32Array(2),
      rows: 2,
      classes: 2,
    });
  } catch (e) {
    msg = (e as Error).message;
  }
  assertEquals(msg, "Cannot take cross-entropy: target 2 of row 1 is outside [0, 2)");
});

Deno.test({
  name:
    "crossEntropyKernel.gpu() and crossEntropyBackwardKernel.gpu() are bit-identical run to run",
  ...gpuTest,
  fn: async () => {
    const dev = (await maybeDevice())!;
    const rows = 600, classes = 301;
    const x = upload(dev, randArray(rows * classes, 8, -5, 5));
    const t = upload(dev, targets(rows, classes, 9));
    for (const layout of ["wg64", undefined]) {
      await withLayout(dev, layout, async () => {
        const runs: number[][] = [];
        for (let k = 0; k < 2; k++) {
          const loss = poisoned(dev, 1), lse = poisoned(dev, rows), count = poisoned(dev, 1);
          const dx = poisoned(dev, rows * classes);
          crossEntropyKernel.gpu(dev, { logits: x, targets: t, loss, lse, count, rows, classes });
          crossEntropyBackwardKernel.gpu(dev, {
            logits: x,
            targets: t,
            lse,
            dy: loss,
            count,
            dlogits: dx,
            rows,
            classes,
          });
          runs.push([...await readF32(dev, loss, 1), ...await readF32(dev, dx, rows * classes)]);
          release(dev, loss, lse, count, dx);
        }
        ok(runs[0].every((v, i) => Object.is(v, runs[1][i])), `layout ${layout}`);
      });
    }
    release(dev, x, t);
  },
});

Deno.test({
  name: "cross-entropy kernels raised no WebGPU validation errors",
  ...gpuTest,
  fn: async () => {
    assertEquals((await maybeDevice())!.errors, []);
  },
});

Deno.test("crossEntropyKernel.cpu() averages over the rows that are not ignored (worked case)", () => {
  const loss = new Float64Array(1), lse = new Float64Array(2), count = new Float64Array(1);
  crossEntropyKernel.cpu({
    logits: new Float64Array([0, 0, 5, 1]),
    targets: new Int32Array([1, -100]),
    loss,
    lse,
    count,
    rows: 2,
    classes: 2,
  });
  assertClose([loss[0], count[0]], [Math.log(2), 1], 1e-15, "mean loss and count");
});
