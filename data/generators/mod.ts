// One entry point from a spec to its sample source, so the writer, the bench and the tests
// never pick generator classes themselves. The seed and stream of the spec fully determine
// the samples.

import { Rng } from "../../kernels/rng.ts";
import type { DataSpec } from "../spec.ts";
import { ArithmeticSource } from "./arithmetic.ts";
import { OrSource } from "./bitwise_or.ts";
import { SortSource } from "./sorting.ts";
import type { SampleSource } from "./source.ts";

export type { SampleSource } from "./source.ts";

/**
 * Creates the sample source of a resolved spec, seeded with `Rng.from(spec.seed, spec.stream)`.
 *
 * @example
 * ```ts
 * import { createSource } from "./mod.ts";
 * import { resolveSpec } from "../spec.ts";
 * import assert from "node:assert/strict";
 *
 * const src = createSource(resolveSpec({ op: "x", n: 2, m: 2, limit: 10 }));
 * assert.deepEqual(src.total, 10);
 * ```
 *
 * @param spec A spec from `resolveSpec`.
 * @returns A fresh source positioned at the first sample.
 */
export function createSource(spec: DataSpec): SampleSource {
  const rng = Rng.from(spec.seed, spec.stream);
  if (spec.op === "sort") return new SortSource(spec, rng);
  if (spec.op === "or") return new OrSource(spec, rng);
  return new ArithmeticSource(spec, rng);
}
