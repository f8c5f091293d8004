// The safetensors writer: validates tensors, converts them to little-endian bytes, lays them out
// widest dtype first so each is aligned, and writes the file atomically, tensor by tensor.
// Reference: https://github.com/huggingface/safetensors

import { writeFileAtomic } from "./checkpoint.ts";
import {
  ARRAY,
  count,
  LITTLE,
  type SafeArray,
  SafetensorsError,
  swapBytes,
  type TensorInput,
} from "./safetensors.ts";

function fail(why: string): never {
  throw new SafetensorsError(why);
}

/** Little-endian bytes of one tensor (a view when no conversion is needed). */
function tensorBytes(name: string, t: TensorInput): Uint8Array {
  if (!Object.hasOwn(ARRAY, t.dtype)) {
    fail(`Cannot write tensor "${name}": unknown dtype ${t.dtype}`);
  }
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(
      `Cannot write tensor "${name}": shape must be non-negative integers, got ${
        JSON.stringify(t.shape)
      }`,
    );
  }
  const n = count(t.shape), Ctor = ARRAY[t.dtype], size = Ctor.BYTES_PER_ELEMENT, data = t.data;
  if (data instanceof Uint8Array && data.length === n * size) return data; // raw little-endian
  if (data.length !== n) {
    fail(
      `Cannot write tensor "${name}": shape [${
        t.shape.join(", ")
      }] needs ${n} values, got ${data.length}`,
    );
  }
  if (LITTLE && data instanceof Ctor) {
    const view = data as SafeArray;
    return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  }
  if ((t.dtype === "F16" || t.dtype === "BF16") && !(data instanceof Uint16Array)) {
    fail(`Cannot write tensor "${name}": ${t.dtype} data must be raw 16-bit words (Uint16Array)`);
  }
  const out = new Ctor(new ArrayBuffer(n * size), 0, n) as unknown as (number | bigint)[];
  const big = t.dtype === "I64" || t.dtype === "U64";
  for (let i = 0; i < n; i++) {
    const v = (data as ArrayLike<number | bigint>)[i];
    if (big && typeof v === "number" && !Number.isSafeInteger(v)) {
      fail(`Cannot write tensor "${name}": ${t.dtype} value ${v} is not a safe integer`);
    }
    out[i] = big ? BigInt(v) : t.dtype === "BOOL" ? (v ? 1 : 0) : Number(v);
  }
  const bytes = new Uint8Array((out as unknown as SafeArray).buffer);
  return LITTLE ? bytes : swapBytes(bytes, size);
}

/**
 * Writes a safetensors file atomically: to a temporary name in the same folder, fsynced, then
 * renamed, streaming tensor by tensor (no copy of the whole file in memory).
 *
 * @example
 * ```ts
 * import { writeSafetensors } from "./safetensors_write.ts";
 * import { readSafetensors } from "./safetensors.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await writeSafetensors(path, { ids: { dtype: "I64", shape: [1, 3], data: [0, 1, 2] } }, { format: "pt" });
 * const back = await readSafetensors(path);
 * deepEqual([back.tensors.ids.shape, back.metadata.format], [[1, 3], "pt"]);
 * await Deno.remove(path);
 * ```
 *
 * @param metadata Optional `__metadata__` string map.
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, TensorInput>,
  metadata?: Record<string, string>,
): Promise<void> {
  const names = Object.keys(tensors);
  for (const name of names) {
    if (name === "" || name === "__metadata__") fail(`Cannot write a tensor named "${name}"`);
  }
  // Data order: widest dtypes first (so every tensor is aligned to its size), then by name.
  names.sort((a, b) =>
    ARRAY[tensors[b].dtype].BYTES_PER_ELEMENT - ARRAY[tensors[a].dtype].BYTES_PER_ELEMENT ||
    (a < b ? -1 : a > b ? 1 : 0)
  );
  const json: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") fail(`Cannot write metadata "${k}": values must be strings`);
    }
    json.__metadata__ = metadata;
  }
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const bytes = tensorBytes(name, tensors[name]);
    const { dtype, shape } = tensors[name];
    json[name] = { dtype, shape: [...shape], data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  const text = new TextEncoder().encode(JSON.stringify(json));
  const padded = Math.ceil((8 + text.length) / 8) * 8 - 8;
  const header = new Uint8Array(8 + padded).fill(0x20, 8 + text.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(text, 8);
  await writeFileAtomic(path, [header, ...parts]);
}
