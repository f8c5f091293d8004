/**
 * Benchmark cases for `deno task bench kernels`: the case types (`KernelCase`, `Prepared`), and
 * the non-matmul kernel families: attention (GFLOP/s) and the memory-bound row and elementwise
 * kernels (GB/s) at the transformer's shapes (B * T = 64 * 64 rows).
 * @module
 */
import type { Device } from "../../core/device.ts";
import { attentionKernel } from "../../kernels/attention.ts";
import { softmaxKernel } from "../../kernels/softmax.ts";
import { layerNormKernel } from "../../kernels/layernorm.ts";
import { binaryKernel } from "../../kernels/elementwise.ts";
import { gluKernel } from "../../kernels/glu.ts";
import { crossEntropyKernel } from "../../kernels/cross_entropy.ts";

/** A prepared case: `launch` records one run of the kernel; `dispose` frees its buffers. */
export interface Prepared {
  /** Records one launch (no flush). */
  launch(): void;
  /** Releases the case's buffers. */
  dispose(): void;
}

/** One benchmark row: a kernel variant at one size. */
export interface KernelCase {
  /** Kernel family, e.g. `matmul`. */
  kernel: string;
  /** Variant, e.g. `texture16x16`, or `auto` for the launcher's own choice. */
  variant: string;
  /** Size label, e.g. `1024x1024x1024` (M x K x N for matmul). */
  size: string;
  /** Floating-point operations per launch (reported as GFLOP/s). */
  flops?: number;
  /** Bytes read and written per launch (reported as GB/s). */
  bytes?: number;
  /** Whether the case can run on this device (default: yes). */
  fits?: (dev: Device) => boolean;
  /** Seconds per launch on CPU adapters (GPU-style variants): skipped there without `--all`. */
  slowOnCpu?: boolean;
  /** Allocates inputs and returns the launcher. */
  setup(dev: Device): Prepared;
}

function filled(dev: Device, n: number, seed: number, ints = 0): GPUBuffer {
  const b = dev.pool.acquire(4 * n);
  const data = ints ? new Int32Array(n) : new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = ints ? s % ints : s / 4294967296 - 0.5;
  }
  dev.upload(b, data);
  return b;
}

function prepared(dev: Device, bufs: GPUBuffer[], launch: () => void): Prepared {
  return { launch, dispose: () => bufs.forEach((b) => dev.pool.release(b)) };
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
      return prepared(dev, [qkv, out, lse], () => attentionKernel.gpu(dev, a));
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
      return prepared(dev, [x, y], () => softmaxKernel.gpu(dev, { x, y, rows, n: 512 }));
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
      return prepared(dev, [x, r, w, b, out, mean, rstd], () => layerNormKernel.gpu(dev, args));
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
      return prepared(dev, [a, b, out], () => binaryKernel.gpu(dev, { op: "add", a, b, out, n }));
    },
  },
  {
    kernel: "glu",
    variant: "gelu",
    size: `${rows}x1024`,
    bytes: 4 * rows * (1024 + 512),
    setup(dev) {
      const a = filled(dev, rows * 1024, 9), out = dev.pool.acquire(4 * rows * 512);
      return prepared(dev, [a, out], () => gluKernel.gpu(dev, { a, out, rows, half: 512 }));
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
      return prepared(
        dev,
        [logits, targets, loss, lse, count],
        () => crossEntropyKernel.gpu(dev, args),
      );
    },
  },
];

/** The non-matmul cases, in table order. */
export const OTHER_CASES: KernelCase[] = [...attention, ...memory];
