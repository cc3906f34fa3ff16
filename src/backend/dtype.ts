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

/** Wraps `buffer` bytes as the host array of `dtype` (no copy). */
export function hostArray<D extends DType>(
  dtype: D,
  buffer: ArrayBuffer,
  byteOffset = 0,
  length?: number,
): HostArray<D> {
  switch (dtype) {
    case "f32":
      return new Float32Array(buffer, byteOffset, length) as HostArray<D>;
    case "i32":
      return new Int32Array(buffer, byteOffset, length) as HostArray<D>;
    default:
      return new Uint16Array(buffer, byteOffset, length) as HostArray<D>;
  }
}
