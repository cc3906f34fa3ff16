/** Element types of tensors, their sizes, ABI codes and host array types. */

/** The element type of a tensor. f16 and bf16 are stored as raw 16-bit words. */
export type DType = "f32" | "f16" | "bf16" | "i32";

/** The host array that holds a dtype's elements (16-bit floats as raw bits). */
export type HostArray<D extends DType> = D extends "f32" ? Float32Array
  : D extends "i32" ? Int32Array
  : Uint16Array;

/** Per dtype: its `LUKV_*` code in `ffi/lukv.h` and its size in bytes. */
export const DTYPES: Readonly<Record<DType, { code: number; bytes: number }>> = {
  f32: { code: 0, bytes: 4 },
  f16: { code: 1, bytes: 2 },
  bf16: { code: 2, bytes: 2 },
  i32: { code: 3, bytes: 4 },
};

/** The host array class of each dtype: what `fromArray`/`copyFrom` take and `view`/`toHost` give. */
const HOST_ARRAYS = {
  f32: Float32Array,
  f16: Uint16Array,
  bf16: Uint16Array,
  i32: Int32Array,
} as const;

/**
 * Checks that `dtype` is one of lukv's dtypes, at the API boundary (a name such as
 * `"toString"` is on every object's prototype, so `in` is not enough). Throws a
 * TypeError naming the dtypes accepted otherwise.
 *
 * @example
 * ```ts
 * checkDType("f32"); // fine
 * checkDType("f64"); // TypeError: unknown dtype "f64"; expected f32, f16, bf16 or i32
 * ```
 */
export function checkDType(dtype: unknown): asserts dtype is DType {
  if (typeof dtype !== "string" || !Object.hasOwn(DTYPES, dtype)) {
    throw new TypeError(`unknown dtype ${JSON.stringify(dtype)}; expected f32, f16, bf16 or i32`);
  }
}

/**
 * Checks that `data` is the host array type of `dtype` (Float32Array for f32, Int32Array
 * for i32, Uint16Array raw bits for f16 and bf16): the bytes are copied as they are, so an
 * Int32Array given for f32 would be read as float bits, and a shorter element type would
 * leave the copy reading past its end. Throws a TypeError naming both otherwise.
 *
 * @param op names the caller in the message, e.g. `"fromArray"`
 * @example
 * ```ts
 * checkHostArray("fromArray", "f32", new Float32Array(4)); // fine
 * checkHostArray("fromArray", "f32", new Int32Array(4)); // TypeError: fromArray: a f32 tensor takes a Float32Array, got Int32Array
 * ```
 */
export function checkHostArray<D extends DType>(
  op: string,
  dtype: D,
  data: unknown,
): asserts data is HostArray<D> {
  checkDType(dtype);
  const expected = HOST_ARRAYS[dtype];
  if (!(data instanceof expected)) {
    const got = typeof data === "object" && data !== null ? data.constructor?.name ?? "object" : String(data);
    throw new TypeError(`${op}: a ${dtype} tensor takes a ${expected.name}, got ${got}`);
  }
}

/**
 * Wraps `buffer` bytes as the host array of `dtype` (no copy).
 *
 * @example
 * ```ts
 * const halves = hostArray("bf16", new ArrayBuffer(8)); // Uint16Array(4) of raw bf16 bits
 * ```
 */
export function hostArray<D extends DType>(
  dtype: D,
  buffer: ArrayBuffer,
  byteOffset = 0,
  length?: number,
): HostArray<D> {
  checkDType(dtype);
  return new HOST_ARRAYS[dtype](buffer, byteOffset, length) as HostArray<D>;
}
