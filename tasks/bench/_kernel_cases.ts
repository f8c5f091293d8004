/**
 * Benchmark cases for `deno task bench kernels`: each matmul variant at squares and the
 * transformer's shapes (GFLOP/s), attention (GFLOP/s) and the memory-bound row and elementwise
 * kernels (GB/s), at B * T = 64 * 64 rows.
 * @module
 */
import type { Device } from "../../core/device.ts";
import {
  MATMUL_VARIANTS,
  matmulKernel,
  type MatmulVariant,
  matmulVariantFits,
  resolveMatmul,
} from "../../kernels/matmul.ts";
import type { MatmulShape } from "../../kernels/matmul_tune.ts";
import { attentionKernel } from "../../kernels/attention.ts";
import { crossEntropyKernel, softmaxKernel } from "../../kernels/softmax.ts";
import { layerNormKernel } from "../../kernels/layernorm.ts";
import { binaryKernel } from "../../kernels/elementwise.ts";
import { gluKernel } from "../../kernels/glu.ts";

/** One benchmark row: a kernel variant at one size, with its floating-point operations and bytes
 * read and written per launch (reported as GFLOP/s and GB/s). */
export interface KernelCase {
  /** e.g. `matmul`, `texture16x16` (or `auto`, the launcher's own choice), `1024x1024x1024`. */
  kernel: string;
  variant: string;
  size: string;
  flops?: number;
  bytes?: number;
  /** Whether the case can run on this device (default: yes). */
  fits?: (dev: Device) => boolean;
  /** Seconds per launch on CPU adapters (GPU-style variants): skipped there without `--all`. */
  slowOnCpu?: boolean;
  /** Allocates the buffers (the caller releases them); `launch` records one run (no flush). */
  setup(dev: Device): { bufs: GPUBuffer[]; launch(): void };
}

/** A buffer of n random values in [-0.5, 0.5) (or integers below `ints`), rounded up to whole
 * vec4s (the buffer128 matmul variant binds aligned operands as vec4f). */
function filled(dev: Device, n: number, seed: number, ints = 0): GPUBuffer {
  const b = dev.pool.acquire(16 * Math.ceil(n / 4));
  const data = ints ? new Int32Array(n) : new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = ints ? s % ints : s / 4294967296 - 0.5;
  }
  dev.upload(b, data);
  return b;
}

/** Sizes as M x K x N: squares and the transformer shapes (B * T = 64 * 64 rows). */
export const MATMUL_SIZES: [number, number, number][] = [
  [256, 256, 256],
  [512, 512, 512],
  [1024, 1024, 1024],
  [4096, 128, 512],
  [4096, 512, 128],
  [4096, 128, 384],
  [4096, 128, 128],
];

/**
 * A matmul benchmark case: random operands of the shape, the variant forced (or `auto`).
 *
 * @example
 * ```ts ignore
 * const r = await measure(dev, matmulCase({ m: 1024, k: 1024, n: 1024 }, "auto"), opts);
 * ```
 */
export function matmulCase(shape: MatmulShape, variant: MatmulVariant | "auto"): KernelCase {
  const { m, k, n } = shape, batch = shape.batch ?? 1;
  const t = `${shape.transA ? "A^T" : ""}${shape.transB ? "B^T" : ""}`;
  return {
    kernel: "matmul",
    variant,
    size: `${batch > 1 ? `${batch}x` : ""}${m}x${k}x${n}${t ? ` ${t}` : ""}`,
    flops: 2 * batch * m * n * k,
    bytes: 4 * batch * (m * k + k * n + m * n),
    // Workgroup-memory tiles and the direct kernel run at 0.2-2 GFLOP/s on llvmpipe.
    slowOnCpu: variant.startsWith("buffer") || variant === "direct" ? m * k * n > 1 << 24 : false,
    fits: (dev) =>
      variant === "auto" ||
      matmulVariantFits(dev, resolveMatmul({ ...shape, a: 0, b: 0, out: 0 }), variant),
    setup(dev) {
      const a = filled(dev, batch * m * k, 1), b = filled(dev, batch * k * n, 2);
      const out = dev.pool.acquire(4 * batch * m * n);
      const args = { ...shape, a, b, out, variant: variant === "auto" ? undefined : variant };
      return { bufs: [a, b, out], launch: () => void matmulKernel.gpu(dev, args) };
    },
  };
}

/** Attention forward at B = 64, T = 64 for the paper-like head shapes. */
const attention: KernelCase[] = [[4, 32], [8, 32], [16, 64]].map(([heads, hd]) => {
  const [B, T] = [64, 64];
  const H = heads * hd;
  return {
    kernel: "attention",
    variant: "causal",
    size: `${B}x${T}x${heads}h${hd}`,
    // q.k and p.v over the causal half: 2 * 2 * B * heads * hd * T(T+1)/2.
    flops: 2 * B * heads * hd * T * (T + 1),
    bytes: 4 * B * T * 4 * H,
    setup(dev) {
      const qkv = filled(dev, B * T * 3 * H, 1), out = dev.pool.acquire(4 * B * T * H);
      const lse = dev.pool.acquire(4 * B * heads * T);
      const a = { qkv, out, lse, batch: B, seq: T, heads, headDim: hd, layout: "pytorch" as const };
      return { bufs: [qkv, out, lse], launch: () => attentionKernel.gpu(dev, a) };
    },
  };
});

const rows = 64 * 64;

/** Row-wise and elementwise kernels, memory-bound: bytes read + written per launch. */
const memory: KernelCase[] = [
  {
    kernel: "softmax",
    variant: "rows",
    size: `${rows}x512`,
    bytes: 8 * rows * 512,
    setup(dev) {
      const x = filled(dev, rows * 512, 2), y = dev.pool.acquire(4 * rows * 512);
      return { bufs: [x, y], launch: () => softmaxKernel.gpu(dev, { x, y, rows, n: 512 }) };
    },
  },
  ...[128, 1024].map((cols): KernelCase => ({
    kernel: "layernorm",
    variant: "residual",
    size: `${rows}x${cols}`,
    bytes: 12 * rows * cols,
    setup(dev) {
      const x = filled(dev, rows * cols, 3), r = filled(dev, rows * cols, 4);
      const w = filled(dev, cols, 5),
        b = filled(dev, cols, 6),
        out = dev.pool.acquire(4 * rows * cols);
      const mean = dev.pool.acquire(4 * rows), rstd = dev.pool.acquire(4 * rows);
      const args = { x, residual: r, w, b, out, mean, rstd, rows, cols };
      return {
        bufs: [x, r, w, b, out, mean, rstd],
        launch: () => layerNormKernel.gpu(dev, args),
      };
    },
  })),
  {
    kernel: "elementwise",
    variant: "add",
    size: `${rows}x512`,
    bytes: 12 * rows * 512,
    setup(dev) {
      const n = rows * 512;
      const a = filled(dev, n, 7), b = filled(dev, n, 8), out = dev.pool.acquire(4 * n);
      return {
        bufs: [a, b, out],
        launch: () => binaryKernel.gpu(dev, { op: "add", a, b, out, n }),
      };
    },
  },
  {
    kernel: "glu",
    variant: "gelu",
    size: `${rows}x1024`,
    bytes: 4 * rows * (1024 + 512),
    setup(dev) {
      const a = filled(dev, rows * 1024, 9), out = dev.pool.acquire(4 * rows * 512);
      return { bufs: [a, out], launch: () => gluKernel.gpu(dev, { a, out, rows, half: 512 }) };
    },
  },
  {
    kernel: "cross-entropy",
    variant: "mean",
    size: `${rows}x19`,
    bytes: 4 * rows * 21,
    setup(dev) {
      const logits = filled(dev, rows * 19, 10), targets = filled(dev, rows, 11, 19);
      const loss = dev.pool.acquire(4),
        lse = dev.pool.acquire(4 * rows),
        count = dev.pool.acquire(4);
      const args = { logits, targets, loss, lse, count, rows, classes: 19 };
      return {
        bufs: [logits, targets, loss, lse, count],
        launch: () => crossEntropyKernel.gpu(dev, args),
      };
    },
  },
];

/** Every case, in table order: each matmul variant at each size, then `auto` (what models get),
 * then the other families. */
export const CASES: KernelCase[] = [
  ...MATMUL_SIZES.flatMap(([m, k, n]) =>
    [...MATMUL_VARIANTS, "auto" as const].map((v) => matmulCase({ m, k, n }, v))
  ),
  ...attention,
  ...memory,
];
