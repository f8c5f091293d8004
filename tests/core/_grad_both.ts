/**
 * Test helpers for the op wrappers: run one small graph on a backend (forward, then
 * `backward` of sum(out * w) with a seeded w), read the output and the leaves' gradients back,
 * and free everything; plus float32 finite differences on the cpu backend to check the wiring.
 * @module
 */
import { backward } from "../../core/ops/backward.ts";
import { mul } from "../../core/ops/elementwise.ts";
import { sumAll } from "../../core/ops/reduce.ts";
import { type Backend, CPU, type DType } from "../../core/backend.ts";
import { scope, Tensor } from "../../core/tensor.ts";
import { assertClose, randArray } from "../kernels/_harness.ts";

/** One input of a test graph. */
export interface Leaf {
  /** Values, row-major. */
  data: ArrayLike<number>;
  /** Shape. */
  shape: number[];
  /** dtype (default f32). */
  dtype?: DType;
  /** Whether it requires a gradient (default true for f32). */
  grad?: boolean;
}

/** What a run returns: the output values and each leaf's gradient (null when none). */
export interface RunResult {
  /** Output values. */
  out: Float32Array | Int32Array | Uint32Array;
  /** Output shape. */
  shape: readonly number[];
  /** Gradients of sum(out * w), one per leaf. */
  grads: (Float32Array | null)[];
}

/** Seeded weights of the scalar loss sum(out * w). */
export function weights(n: number): Float32Array {
  return randArray(n, 4242, -1, 1);
}

/**
 * Builds the graph on `backend`, back-propagates sum(out * w) (when the output is f32 and some
 * leaf wants a gradient) and returns values and gradients; every tensor is freed.
 */
export async function runGraph(
  backend: Backend,
  leaves: Leaf[],
  build: (ts: Tensor[]) => Tensor,
): Promise<RunResult> {
  const r = scope(() => {
    const ts = leaves.map((l) => {
      const t = Tensor.fromArray(l.data, l.shape, { dtype: l.dtype ?? "f32", backend });
      t.requiresGrad = l.grad ?? (l.dtype ?? "f32") === "f32";
      return t;
    });
    const out = build(ts);
    if (out.dtype === "f32" && out.requiresGrad) {
      const w = Tensor.fromArray(weights(out.size), out.shape, { backend });
      backward(sumAll(mul(out, w)));
    }
    return { out, ts, grads: ts.map((t) => t.grad).filter((g): g is Tensor => g !== null) };
  });
  const out = await r.out.toArray();
  const grads: (Float32Array | null)[] = [];
  for (const t of r.ts) grads.push(t.grad ? (await t.grad.toArray()) as Float32Array : null);
  const shape = r.out.shape;
  for (const t of [r.out, ...r.ts, ...r.grads]) t.dispose();
  return { out, shape, grads };
}

/** Asserts the webgpu run matches the cpu run (values and gradients, relative error 1e-4). */
export function assertSameRuns(gpu: RunResult, cpu: RunResult, what: string, floor = 1e-3): void {
  if (gpu.shape.join() !== cpu.shape.join()) {
    throw new Error(`${what}: shape [${gpu.shape}] != [${cpu.shape}]`);
  }
  assertClose(gpu.out, cpu.out, 1e-4, `${what}: output`, floor);
  cpu.grads.forEach((g, k) => {
    if (!g) {
      if (gpu.grads[k]) throw new Error(`${what}: unexpected gradient for input ${k}`);
      return;
    }
    assertClose(gpu.grads[k] ?? [], g, 1e-4, `${what}: gradient of input ${k}`, floor);
  });
}

/**
 * Checks the cpu-backend gradients against float32 central differences of sum(out * w)
 * (h = 1e-2; a loose tolerance that still catches swapped or mis-shaped gradients).
 */
export async function assertFiniteDiff(
  leaves: Leaf[],
  build: (ts: Tensor[]) => Tensor,
  what: string,
  h = 1e-2,
  tol = 1e-2,
): Promise<void> {
  const base = await runGraph(CPU, leaves, build);
  const w = weights(base.out.length);
  const loss = async (ls: Leaf[]) => {
    const { out } = await runGraph(CPU, ls.map((l) => ({ ...l, grad: false })), build);
    let s = 0;
    for (let i = 0; i < out.length; i++) s += out[i] * w[i];
    return s;
  };
  for (let k = 0; k < leaves.length; k++) {
    const g = base.grads[k];
    if (!g) continue;
    const num = new Float64Array(g.length);
    for (let i = 0; i < g.length; i++) {
      const at = (d: number) => {
        const data = Float32Array.from(leaves[k].data);
        data[i] += d;
        return leaves.map((l, j) => (j === k ? { ...l, data } : l));
      };
      num[i] = (await loss(at(h)) - await loss(at(-h))) / (2 * h);
    }
    assertClose(g, num, tol, `${what}: input ${k} vs finite differences`, 1e-2);
  }
}
