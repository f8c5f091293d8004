/**
 * Tensor-level embedding lookup on either backend: token ids of any shape pick rows of a (V, H)
 * table. The table's gradient is a deterministic scatter-add (a counting sort on the GPU), so
 * repeated tokens give bit-identical gradients run after run.
 * @module
 */
import { embeddingBackwardKernel, embeddingKernel } from "../../kernels/embedding.ts";
import { record } from "../autograd.ts";
import { Tensor } from "../tensor.ts";
import { checkTensors, needsGrad, saveForBackward } from "./save.ts";
import { run } from "./_run.ts";

/**
 * Looks up rows of an embedding table: out[..., :] = table[ids[...], :].
 *
 * Ids outside [0, V) give zero rows and no gradient. The gradient flows to the table only.
 *
 * @example
 * ```ts
 * import { ok as assert } from "node:assert/strict";
 * import { embedding } from "./embedding.ts";
 * import { CPU } from "../backend.ts";
 * import { Tensor } from "../tensor.ts";
 * const table = Tensor.fromArray([1, 2, 3, 4, 5, 6], [3, 2], { backend: CPU });
 * const ids = Tensor.fromArray([2, 0, 7], [1, 3], { dtype: "i32", backend: CPU });
 * const out = embedding(table, ids);
 * assert(out.shape.join() === "1,3,2");
 * assert((await out.toArray()).join() === "5,6,1,2,0,0");
 * ```
 * @param table the table, (V, H), f32
 * @param ids token ids, any shape, i32 (or u32)
 * @returns the rows, (...ids.shape, H)
 * @throws Error when the table is not 2D f32, ids are f32, or the backends differ
 */
export function embedding(table: Tensor, ids: Tensor): Tensor {
  if (table.shape.length !== 2 || table.dtype !== "f32") {
    throw new Error(
      `Cannot embed with a table of shape [${table.shape.join(", ")}] (${table.dtype}): ` +
        "it must be (V, H) f32",
    );
  }
  checkTensors("embed", [ids], ["i32", "u32"]);
  checkTensors("embed", [table, ids], null);
  const [vocab, dim] = table.shape, n = ids.size, be = table.backend;
  const out = Tensor.empty([...ids.shape, dim], "f32", be);
  run(embeddingKernel, { table, ids, out, n, vocab, dim });
  if (!needsGrad(table)) return out;
  const idsSaved = saveForBackward(ids);
  return record(out, [table], (g, [sink]) => {
    // A gradient the table already holds (a parameter's arena gradient) takes the rows in place.
    const dTable = sink ?? Tensor.empty(table.shape, "f32", be);
    const accumulate = sink !== null;
    run(embeddingBackwardKernel, { ids: idsSaved, dOut: g, dTable, n, vocab, dim, accumulate });
    return [sink ? null : dTable];
  }, [idsSaved]);
}
