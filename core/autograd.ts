/**
 * Reverse-mode autograd: each op records a closure (its gradient rule) on its output; `backward`
 * runs them in reverse topological order, accumulates into the `grad` of leaf tensors
 * (parameters) and frees intermediate gradients and saved activations as soon as they are used.
 * Reference: micrograd-style closures per op; gradients accumulate across microbatches.
 * @module
 */
import { keep, scope, type Tensor } from "./tensor.ts";

let gradEnabled = true;

/**
 * Whether ops currently record gradient closures.
 *
 * @returns true outside `noGrad`
 */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/**
 * Runs `fn` without recording anything for backward (evaluation, decoding).
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { noGrad, isGradEnabled } from "./autograd.ts";
 * assert(noGrad(() => isGradEnabled()) === false);
 * ```
 * @param fn the work
 * @returns what `fn` returned
 */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/**
 * Attaches a gradient rule to an op's output when any input requires a gradient.
 *
 * `backward(g, sinks)` receives the output's gradient and returns one gradient per input (null
 * where an input needs none); it may use any op. `sinks[i]`, when not null, is the gradient
 * tensor of input i, a parameter: the rule may add input i's gradient into it in place (a
 * matmul with accumulation, say) and return null for it, which saves a temporary and an add.
 * `saved` tensors are kept alive for backward (the op must not dispose them) and are disposed
 * when the node is released.
 *
 * @example
 * ```ts ignore
 * const out = ...; // forward result
 * return record(out, [a, b], (g) => [g, g]);
 * ```
 * @param out the op's output
 * @param inputs the op's tensor inputs
 * @param backward the gradient rule
 * @param saved extra tensors the rule needs (owned by the node)
 * @returns `out`
 */
export function record(
  out: Tensor,
  inputs: Tensor[],
  backward: (g: Tensor, sinks: readonly (Tensor | null)[]) => (Tensor | null)[],
  saved: Tensor[] = [],
): Tensor {
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) {
    for (const s of saved) s.dispose();
    return out;
  }
  out.requiresGrad = true;
  out.node = {
    inputs,
    backward,
    release: () => {
      for (const s of saved) s.dispose();
    },
  };
  return out;
}

/** Tensors reachable from `root` through recorded nodes, inputs before outputs. */
function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, boolean][] = [[root, false]];
  while (stack.length) {
    const [t, done] = stack.pop()!;
    if (done) {
      order.push(t);
      continue;
    }
    if (seen.has(t)) continue;
    seen.add(t);
    stack.push([t, true]);
    for (const i of t.node?.inputs ?? []) {
      if (i.requiresGrad && !seen.has(i)) stack.push([i, false]);
    }
  }
  return order;
}

/**
 * Back-propagates from a scalar (or any) tensor, accumulating into `grad` of leaf tensors that
 * require gradients. The graph is freed as it goes (nodes released, gradients disposed).
 *
 * @param root the loss
 * @param seed gradient of the root (default: ones, via `onesLike`)
 * @param onesLike makes the default seed
 */
export function backward(root: Tensor, seed: Tensor | null, onesLike: (t: Tensor) => Tensor): void {
  const order = topoOrder(root);
  const grads = new Map<Tensor, Tensor>();
  grads.set(root, seed ?? onesLike(root));
  for (let idx = order.length - 1; idx >= 0; idx--) {
    const t = order[idx];
    const g = grads.get(t);
    grads.delete(t);
    if (!g) continue;
    const node = t.node;
    if (!node) {
      // A leaf (parameter): accumulate in place (arena gradients must stay where they are).
      if (t.grad) {
        accumulateInto(t.grad, g);
        g.dispose();
      } else t.grad = keep(g); // gradients outlive any enclosing scope
      continue;
    }
    // Parameters that already hold a gradient tensor take theirs in place (see `record`).
    const sinks = node.inputs.map((i) => i.requiresGrad && !i.node && i.grad ? i.grad : null);
    const inGrads = scope(() => node.backward(g, sinks));
    g.dispose();
    node.release?.();
    t.node = null;
    node.inputs.forEach((inp, i) => {
      const gi = inGrads[i];
      if (!gi) return;
      if (!inp.requiresGrad) {
        gi.dispose();
        return;
      }
      const prev = grads.get(inp);
      if (prev) {
        grads.set(inp, accumulate(prev, gi));
        prev.dispose();
        gi.dispose();
      } else grads.set(inp, gi);
    });
  }
  for (const g of grads.values()) g.dispose();
}

let addImpl: ((a: Tensor, b: Tensor) => Tensor) | null = null;
let addIntoImpl: ((dst: Tensor, src: Tensor) => void) | null = null;

/**
 * Installs the additions used to accumulate gradients (set by `core/ops.ts`, which imports this
 * file; the indirection avoids an import cycle).
 *
 * @param add returns a new tensor a + b (no gradient recorded)
 * @param addInto adds `src` into `dst` in place
 */
export function setAccumulate(
  add: (a: Tensor, b: Tensor) => Tensor,
  addInto: (dst: Tensor, src: Tensor) => void,
): void {
  addImpl = add;
  addIntoImpl = addInto;
}

function accumulate(a: Tensor, b: Tensor): Tensor {
  if (!addImpl) throw new Error("Gradient accumulation is not installed: import core/ops.ts");
  return noGrad(() => addImpl!(a, b));
}

function accumulateInto(dst: Tensor, src: Tensor): void {
  if (!addIntoImpl) throw new Error("Gradient accumulation is not installed: import core/ops.ts");
  noGrad(() => addIntoImpl!(dst, src));
}
