// The safetensors reader and the format's types, in plain TypeScript (the writer, which needs
// the file-system helpers, is core/safetensors_write.ts), so checkpoints move between abacus and
// upstream's PyTorch code (`safetensors.torch.load_file`). Layout: 8-byte little-endian header
// length, JSON header (dtype, shape, data_offsets per tensor, optional `__metadata__` strings)
// padded with spaces to 8 bytes, then the little-endian data, contiguous, without holes.
// Reference: https://github.com/huggingface/safetensors (format description in its README)

/** The typed array each dtype is read into (F16 and BF16 as raw 16-bit words). */
const ARRAYS = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U64: BigUint64Array,
  U32: Uint32Array,
  U16: Uint16Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
};

/** Element types of the safetensors format. */
export type SafeDType = keyof typeof ARRAYS;

/** The typed array a tensor of each dtype is read into. */
export type SafeArray = InstanceType<(typeof ARRAYS)[SafeDType]>;

/** A tensor to write: `data` is the matching typed array, raw little-endian bytes, or numbers. */
export interface TensorInput {
  readonly dtype: SafeDType;
  /** Dimensions; `[]` is a scalar. */
  readonly shape: readonly number[];
  /** Values in row-major order (numbers are converted; I64 accepts safe integers). */
  readonly data: SafeArray | ArrayLike<number>;
}

/** A tensor read back: `data` is a typed array (F16/BF16 as raw `Uint16Array` words). */
export interface Tensor extends TensorInput {
  readonly shape: number[];
  readonly data: SafeArray;
}

/** A decoded safetensors file. */
export interface SafetensorsContent {
  readonly tensors: Record<string, Tensor>;
  /** The `__metadata__` string map (empty when absent). */
  readonly metadata: Record<string, string>;
}

/** A malformed tensor to write, or a truncated or corrupted file; the message is one line. */
export class SafetensorsError extends Error {
  /** @param message Sentence-case message without a trailing period. */
  constructor(message: string) {
    super(message);
    this.name = "SafetensorsError";
  }
}

/** The typed array of each dtype; its `BYTES_PER_ELEMENT` is the dtype's size. */
export const ARRAY: Readonly<
  Record<SafeDType, {
    new (buffer: ArrayBuffer, offset: number, length: number): SafeArray;
    readonly BYTES_PER_ELEMENT: number;
  }>
> = ARRAYS;

/** Whether this machine is little-endian (typed arrays can then be used as file bytes). */
export const LITTLE: boolean = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Largest header accepted, as the reference implementation (100 MB). */
const MAX_HEADER: number = 100_000_000;

/** Elements of a shape (1 for a scalar). */
export function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Reverses each `size`-byte element in place (big-endian machines: file bytes <-> values). */
export function swapBytes(bytes: Uint8Array<ArrayBuffer>, size: number): Uint8Array<ArrayBuffer> {
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
  return bytes;
}

interface Entry {
  name: string;
  dtype: SafeDType;
  shape: number[];
  begin: number;
  end: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function entryOf(name: string, v: unknown, bad: (why: string) => never): Entry {
  if (!isObject(v)) bad(`the header entry of tensor "${name}" is not an object`);
  const { dtype, shape, data_offsets: offsets } = v;
  if (typeof dtype !== "string" || !Object.hasOwn(ARRAY, dtype)) {
    bad(`tensor "${name}" has unknown dtype ${JSON.stringify(dtype)}`);
  }
  const ints = (x: unknown): x is number[] =>
    Array.isArray(x) && x.every((d) => Number.isSafeInteger(d) && d >= 0);
  if (!ints(shape)) bad(`tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
  if (!ints(offsets) || offsets.length !== 2 || offsets[0] > offsets[1]) {
    bad(`tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  const need = count(shape) * ARRAY[dtype as SafeDType].BYTES_PER_ELEMENT;
  if (offsets[1] - offsets[0] !== need) {
    bad(
      `tensor "${name}" spans ${offsets[1] - offsets[0]} bytes but ${dtype} ` +
        `[${shape.join(", ")}] needs ${need}`,
    );
  }
  return { name, dtype: dtype as SafeDType, shape, begin: offsets[0], end: offsets[1] };
}

function view(bytes: Uint8Array, at: number, e: Entry): SafeArray {
  const Ctor = ARRAY[e.dtype];
  const n = count(e.shape);
  const abs = bytes.byteOffset + at + e.begin;
  if (LITTLE && abs % Ctor.BYTES_PER_ELEMENT === 0) {
    return new Ctor(bytes.buffer as ArrayBuffer, abs, n);
  }
  const copy = bytes.slice(at + e.begin, at + e.end);
  return new Ctor((LITTLE ? copy : swapBytes(copy, Ctor.BYTES_PER_ELEMENT)).buffer, 0, n);
}

/**
 * Decodes safetensors bytes, checking the header and every tensor's place in the data.
 *
 * Rejects, with one line naming `source`: a file shorter than its header, a header that is
 * not a JSON object, unknown dtypes, offsets that disagree with dtype x shape, tensors that
 * run past the end (truncated file), overlap, leave gaps, or leave bytes after the last one.
 * Tensors are views into `bytes` when aligned, copies otherwise.
 *
 * @example
 * ```ts
 * import { decodeSafetensors } from "./safetensors.ts";
 * import { throws } from "node:assert/strict";
 *
 * throws(() => decodeSafetensors(new Uint8Array(5), "w.safetensors"), /truncated/);
 * ```
 *
 * @param source Name for messages (e.g. the path).
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  source = "safetensors data",
): SafetensorsContent {
  const bad: (why: string) => never = (why) => {
    throw new SafetensorsError(`Cannot read ${source}: ${why}`);
  };
  if (bytes.length < 8) bad(`truncated or not a safetensors file (${bytes.length} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER)) bad(`not a safetensors file (header length ${n64} is too large)`);
  const n = Number(n64);
  if (8 + n > bytes.length) {
    bad(
      `truncated or not a safetensors file (header of ${n} bytes, only ${bytes.length - 8} follow)`,
    );
  }
  let header: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n));
    if (!text.startsWith("{")) throw new Error("it does not start with {");
    header = JSON.parse(text);
  } catch (e) {
    bad(`corrupted header (${(e as Error).message.split("\n")[0]})`);
  }
  if (!isObject(header)) bad("corrupted header (not a JSON object)");
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name !== "__metadata__") {
      entries.push(entryOf(name, v, bad));
      continue;
    }
    if (!isObject(v)) bad("__metadata__ is not an object");
    for (const [k, s] of Object.entries(v)) {
      if (typeof s !== "string") bad(`__metadata__ value "${k}" is not a string`);
      metadata[k] = s as string;
    }
  }
  const dataLength = bytes.length - 8 - n;
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0, prev = "";
  for (const e of entries) {
    if (e.end > dataLength) {
      bad(`truncated: tensor "${e.name}" ends at data byte ${e.end}, the file holds ${dataLength}`);
    }
    if (e.begin < at) bad(`tensors "${prev}" and "${e.name}" overlap`);
    if (e.begin > at) {
      bad(`${e.begin - at} bytes of the data belong to no tensor, before "${e.name}"`);
    }
    at = e.end;
    prev = e.name;
  }
  if (at !== dataLength) bad(`${dataLength - at} bytes after the last tensor`);
  const tensors: Record<string, Tensor> = {};
  for (const e of entries) {
    tensors[e.name] = { dtype: e.dtype, shape: e.shape, data: view(bytes, 8 + n, e) };
  }
  return { tensors, metadata };
}

/**
 * Reads and validates a safetensors file (see {@link decodeSafetensors} for the checks).
 *
 * @example
 * ```ts
 * import { readSafetensors } from "./safetensors.ts";
 * import { rejects } from "node:assert/strict";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, new Uint8Array([1, 2, 3]));
 * await rejects(() => readSafetensors(path), /truncated or not a safetensors file/);
 * await Deno.remove(path);
 * ```
 */
export async function readSafetensors(path: string): Promise<SafetensorsContent> {
  const bytes = await Deno.readFile(path).catch((e) => {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    throw new SafetensorsError(`Cannot read ${path}: ${why}`);
  });
  return decodeSafetensors(bytes, path);
}
