// Types and constants shared by the safetensors writer and reader (core/safetensors.ts is the
// public entry point): dtypes with their sizes and typed arrays, the tensor shapes, the error.

/** Element types of the safetensors format (F16/BF16 are carried as raw 16-bit words). */
export type SafeDType =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U64"
  | "U32"
  | "U16"
  | "U8"
  | "BOOL";

/** The typed array a tensor of each dtype is read into. */
export type SafeArray =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | BigUint64Array
  | Uint32Array
  | Uint16Array
  | Uint8Array;

/** A tensor to write: `data` is the matching typed array, raw little-endian bytes, or numbers. */
export interface TensorInput {
  /** Element type. */
  readonly dtype: SafeDType;
  /** Dimensions; `[]` is a scalar. */
  readonly shape: readonly number[];
  /** Values in row-major order (numbers are converted; I64 accepts safe integers). */
  readonly data: SafeArray | ArrayLike<number>;
}

/** A tensor read back: `data` is a typed array (F16/BF16 as raw `Uint16Array` words). */
export interface Tensor {
  /** Element type. */
  readonly dtype: SafeDType;
  /** Dimensions. */
  readonly shape: number[];
  /** Values in row-major order. */
  readonly data: SafeArray;
}

/** A decoded safetensors file. */
export interface SafetensorsContent {
  /** Tensors by name. */
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

/** Bytes per element of each dtype. */
export const SIZE: Readonly<Record<SafeDType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

/** A typed-array constructor. */
export type ArrayCtor = { new (buffer: ArrayBuffer, offset: number, length: number): SafeArray };

/** The typed array of each dtype. */
export const ARRAY: Readonly<Record<SafeDType, ArrayCtor>> = {
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

/** Whether this machine is little-endian (typed arrays can then be used as file bytes). */
export const LITTLE: boolean = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Largest header accepted, as the reference implementation (100 MB). */
export const MAX_HEADER: number = 100_000_000;

/** Elements of a shape (1 for a scalar). */
export function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Throws a `SafetensorsError`. */
export function fail(why: string): never {
  throw new SafetensorsError(why);
}
