/**
 * Reverse-mode autograd: each op records a closure (its gradient rule) on its output;
 * `backpropagate` runs them in reverse topological order, accumulates into the `grad` of leaf
 * tensors (parameters) and frees intermediate gradients and saved activations as soon as they are
 * used. The additions that sum gradients are ops, so they come in as an argument: the public
 * `backward` (`core/ops/backward.ts`, in the ops layer) passes them.
 * Reference: micrograd-style closures per op; gradients accumulate across microbatches.
 * @module
 */
import { isGradEnabled, keep, noGrad, scope, type Tensor } from "./tensor.ts";

/**
 * Attaches a gradient rule to an op's output when any input requires a gradient.
 *
 * `backward(g, sinks)` receives the output's gradient and returns one gradient per input (null
 * where an input needs none); it may use any op. `sinks[i]`, when not null, is the gradient
 * tensor of input i (a parameter's, or the sum collected so far for an intermediate tensor when
 * no other tensor shares its storage): the rule may add input i's gradient into it in place (a
 * matmul with accumulation, say) and return null for it, which saves a temporary and an add.
 * `saved` tensors are kept alive for backward (the op must not dispose them) and are disposed
 * when the node is released.
 *
 * @example
 * ```ts ignore
 * const out = ...; // forward result
 * return record(out, [a, b], (g) => [g, g]);
 * ```
 * @param saved extra tensors the rule needs (owned by the node)
 * @returns `out`
 */
export function record(
  out: Tensor,
  inputs: Tensor[],
  backward: (g: Tensor, sinks: readonly (Tensor | null)[]) => (Tensor | null)[],
  saved: Tensor[] = [],
): Tensor {
  if (!isGradEnabled() || !inputs.some((t) => t.requiresGrad)) {
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
 * require gradients. The graph is freed as it goes (nodes released, gradients disposed). The
 * public entry point is `backward` in `core/ops/backward.ts`, which supplies the default seed
 * and the additions.
 *
 * @example
 * ```ts ignore
 * backpropagate(loss, onesLike(loss), { add, addInto });
 * ```
 * @param seed gradient of the root (disposed by the walk)
 * @param additions the ops that sum gradients, a + b and `dst += src` (run without recording)
 */
export function backpropagate(
  root: Tensor,
  seed: Tensor,
  additions: { add(a: Tensor, b: Tensor): Tensor; addInto(dst: Tensor, src: Tensor): void },
): void {
  const order = topoOrder(root);
  const grads = new Map<Tensor, Tensor>([[root, seed]]);
  for (let idx = order.length - 1; idx >= 0; idx--) {
    const t = order[idx];
    const g = grads.get(t);
    grads.delete(t);
    if (!g) continue;
    const node = t.node;
    if (!node) {
      // A leaf (parameter): accumulate in place (arena gradients must stay where they are).
      if (t.grad) {
        const dst = t.grad;
        noGrad(() => additions.addInto(dst, g));
        g.dispose();
      } else t.grad = keep(g); // gradients outlive any enclosing scope
      continue;
    }
    // Parameters that already hold a gradient tensor take theirs in place (see `record`), and so
    // do inputs whose gradient collected so far is a tensor nothing else refers to.
    const sinks = node.inputs.map((i) => {
      if (!i.requiresGrad) return null;
      if (!i.node) return i.grad ?? null;
      const prev = grads.get(i);
      return prev?.exclusive ? prev : null;
    });
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
        grads.set(inp, noGrad(() => additions.add(prev, gi)));
        prev.dispose();
        gi.dispose();
      } else grads.set(inp, gi);
    });
  }
  for (const g of grads.values()) g.dispose();
}
