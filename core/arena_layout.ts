/**
 * Where each parameter of a `ParamArena` goes: the weight-decay group first, each parameter at a
 * 64-element (256-byte) offset, so the arena's whole-buffer kernels need only one boundary.
 * @module
 */
import { roundUp } from "../kernels/context.ts";
import { numel } from "./backend.ts";

/** Parameter offsets are multiples of this many elements (256 bytes, a storage-binding offset). */
export const ARENA_ALIGN = 64;

/** Name fragments that exclude a parameter from weight decay (upstream `limited_decay_keys`). */
const NO_DECAY_KEYS: readonly string[] = Object.freeze(["bias", "LayerNorm", "norm"]);

/**
 * Says whether a parameter gets weight decay by upstream's rule: not when its name contains
 * `bias`, `LayerNorm` or `norm` (case-sensitive substrings).
 *
 * @param name the parameter's state-dict key
 */
function decaysByName(name: string): boolean {
  return !NO_DECAY_KEYS.some((k) => name.includes(k));
}

/** One parameter to allocate. */
export interface ParamSpec {
  /** State-dict key (upstream's name), unique in the arena. */
  name: string;
  /** Dimensions. */
  shape: readonly number[];
  /** Whether weight decay applies (default: `decaysByName(name)`). */
  decay?: boolean;
}

/** The placement `layoutParams` computes. */
export interface ParamLayout {
  /** First element of each parameter, by name. */
  offsets: Map<string, number>;
  /** Whether each parameter (in the order given) gets weight decay. */
  decay: boolean[];
  /** First element of the no-decay group. */
  decayEnd: number;
  /** Total elements, padding included (a multiple of 64, at least 64). */
  size: number;
}

/**
 * Checks parameter specs and lays them out: the weight-decay group first, then the others, each
 * in the order given, each at an offset aligned to `ARENA_ALIGN` elements.
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { layoutParams } from "./arena_layout.ts";
 * const l = layoutParams([{ name: "a.bias", shape: [3] }, { name: "a.weight", shape: [2, 2] }]);
 * ok(l.offsets.get("a.weight") === 0 && l.offsets.get("a.bias") === 64 && l.size === 128);
 * ```
 * @param specs parameters, in state-dict order
 * @returns offsets, decay flags, the decay boundary and the total size
 * @throws Error on a duplicate name or a bad shape
 */
export function layoutParams(specs: readonly ParamSpec[]): ParamLayout {
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.name)) throw new Error(`Parameter name ${s.name} is used twice`);
    seen.add(s.name);
    if (!s.shape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new Error(`Parameter ${s.name} has a bad shape [${s.shape.join(", ")}]`);
    }
  }
  const decay = specs.map((s) => s.decay ?? decaysByName(s.name));
  const offsets = new Map<string, number>();
  let at = 0, decayEnd = 0;
  for (const pass of [true, false]) {
    specs.forEach((s, i) => {
      if (decay[i] !== pass) return;
      offsets.set(s.name, at);
      at = roundUp(at + numel(s.shape), ARENA_ALIGN);
    });
    if (pass) decayEnd = at;
  }
  return { offsets, decay, decayEnd, size: Math.max(at, ARENA_ALIGN) };
}
