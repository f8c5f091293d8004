/**
 * The stack of open `scope()` blocks, shared by `Tensor` (which registers every new tensor with
 * the innermost block) and `core/scope.ts` (which opens and closes them).
 * @module
 */
import type { Tensor } from "./tensor.ts";

/** Open scopes, innermost last. */
export const scopes: Set<Tensor>[] = [];
