/**
 * Grad mode: whether ops record gradient rules. A flag with no imports, below `Tensor` (whose
 * `reshape` records a rule) and `core/autograd.ts` (whose `record` checks it).
 * @module
 */

let gradEnabled = true;

/**
 * Whether ops currently record gradient closures.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { isGradEnabled } from "./grad_mode.ts";
 * assert(isGradEnabled());
 * ```
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
 * import { isGradEnabled, noGrad } from "./grad_mode.ts";
 * assert(noGrad(() => isGradEnabled()) === false);
 * ```
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
