/**
 * Lifetimes and backend choice: `scope()` frees every tensor made inside a block except those it
 * returns (or `keep()`s); `initBackend()` picks the cpu backend or the shared WebGPU device.
 * @module
 */
import { getDevice } from "./device.ts";
import { scopes } from "./_scopes.ts";
import { type Backend, CPU, Tensor } from "./tensor.ts";

let backendChoice: Backend | null = null;

/**
 * Sets the backend that `Tensor.fromArray` and model code use when none is given.
 *
 * @param backend the cpu backend or a WebGPU device
 */
export function setDefaultBackend(backend: Backend): void {
  backendChoice = backend;
}

/**
 * Returns the default backend set by `setDefaultBackend` or `initBackend`.
 *
 * @returns the backend
 * @throws Error when none was initialised
 */
export function defaultBackend(): Backend {
  if (!backendChoice) throw new Error("No backend chosen: await initBackend() first or pass one");
  return backendChoice;
}

/**
 * Chooses the backend: `cpu`, `webgpu`, or from `ABACUS_BACKEND` (default webgpu), and makes it
 * the default.
 *
 * @param name backend name
 * @returns the backend
 */
export async function initBackend(name?: "cpu" | "webgpu"): Promise<Backend> {
  const choice = name ?? (Deno.env.get("ABACUS_BACKEND") === "cpu" ? "cpu" : "webgpu");
  const b: Backend = choice === "cpu" ? CPU : await getDevice();
  setDefaultBackend(b);
  return b;
}

/**
 * Runs `fn` and disposes every tensor created inside it except those in its result
 * (a tensor, or an array/object of tensors, searched one level deep) and those passed to `keep`.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { scope, Tensor, CPU } from "./tensor.ts";
 * const made: Tensor[] = [];
 * const out = scope(() => {
 *   made.push(Tensor.fromArray([1], [1], { backend: CPU }));
 *   return Tensor.fromArray([2], [1], { backend: CPU });
 * });
 * assert(made[0].disposed && !out.disposed);
 * ```
 * @param fn the work
 * @returns what `fn` returned
 */
export function scope<T>(fn: () => T): T {
  const set = new Set<Tensor>();
  scopes.push(set);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const keepers = collect(result);
  for (const t of set) {
    if (!keepers.has(t)) t.dispose();
    else scopes[scopes.length - 1]?.add(t);
  }
  return result;
}

/**
 * Removes a tensor from every enclosing `scope`, so it outlives them.
 *
 * @param t the tensor
 * @returns the same tensor
 */
export function keep<T extends Tensor>(t: T): T {
  for (const sc of scopes) sc.delete(t);
  return t;
}

function collect(v: unknown): Set<Tensor> {
  const s = new Set<Tensor>();
  const visit = (x: unknown, depth: number) => {
    if (x instanceof Tensor) s.add(x);
    else if (depth < 2 && Array.isArray(x)) x.forEach((y) => visit(y, depth + 1));
    else if (depth < 2 && x && typeof x === "object") {
      Object.values(x as object).forEach((y) => visit(y, depth + 1));
    }
  };
  visit(v, 0);
  return s;
}
