/**
 * Backends and element types: the plain-TypeScript `cpu` backend (and its float64 variant for
 * gradient checks), the `Backend` union with WebGPU devices, `numel`, and the default
 * backend (`initBackend` picks the cpu backend or opens the shared WebGPU device).
 * @module
 */
import { type Device, getDevice } from "./device.ts";

/** Element types a tensor can hold. */
export type DType = "f32" | "i32" | "u32";

/** A typed array matching a `DType`. */
export type TypedArray = Float32Array | Int32Array | Uint32Array;

/** The plain-TypeScript backend: every op runs its CPU reference. */
export interface CpuBackend {
  readonly kind: "cpu";
  /** Store f32 tensors made by ops as float64 (gradient checks against finite differences). */
  readonly float64?: boolean;
}

/** The CPU backend singleton. */
export const CPU: CpuBackend = { kind: "cpu" };

/**
 * The CPU backend with float64 storage for values made by ops: the CPU references compute in
 * doubles, so a whole model runs in float64 and its gradients can be checked against float64
 * finite differences. (Parameters in a `ParamArena` stay float32.)
 */
export const CPU64: CpuBackend = { kind: "cpu", float64: true };

/** Where a tensor lives: the CPU backend or a WebGPU device. */
export type Backend = CpuBackend | Device;

/**
 * Returns the number of elements of a shape.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { numel } from "./backend.ts";
 * assert(numel([2, 3, 4]) === 24);
 * ```
 * @returns their product (1 for a scalar)
 */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

let backendChoice: Backend | null = null;

/** Sets the backend that `Tensor.fromArray` and model code use when none is given. */
export function setDefaultBackend(backend: Backend): void {
  backendChoice = backend;
}

/**
 * Returns the default backend set by `setDefaultBackend` or `initBackend`.
 *
 * @throws Error when none was initialised
 */
export function defaultBackend(): Backend {
  if (!backendChoice) throw new Error("No backend chosen: await initBackend() first or pass one");
  return backendChoice;
}

/**
 * Chooses the backend: `cpu`, `webgpu`, or from `ABACUS_BACKEND` (default webgpu), and makes it
 * the default.
 */
export async function initBackend(name?: "cpu" | "webgpu"): Promise<Backend> {
  const env = "Deno" in globalThis ? Deno.env.get("ABACUS_BACKEND") : undefined; // browsers: none
  const choice = name ?? (env === "cpu" ? "cpu" : "webgpu");
  const b: Backend = choice === "cpu" ? CPU : await getDevice();
  setDefaultBackend(b);
  return b;
}
