/**
 * lukv: Llama-family inference in Deno with a compressed KV cache and LU-KV per-head
 * budgets. This entry point exports the native backend: devices, tensors and ops.
 *
 * @example
 * ```ts
 * import { openDevice, ops } from "@lukv/lukv";
 *
 * using dev = await openDevice("auto");
 * using x = dev.fromArray("f32", new Float32Array([1, 2, 3, 4]), [2, 2]);
 * using w = dev.fromArray("f32", new Float32Array([1, 0, 0, 1]), [2, 2]);
 * using y = dev.empty("f32", [2, 2]);
 * ops.matmul(y, x, w);
 * console.log(y.toHost()); // Float32Array [1, 2, 3, 4]
 * ```
 *
 * @module
 */

export type { LibraryKind } from "./ffi/build.ts";
export { Device, type DeviceRequest, openDevice } from "./src/backend/device.ts";
export { type DType, DTYPES, type HostArray } from "./src/backend/dtype.ts";
export { LukvError, STATUS, type StatusName } from "./src/backend/errors.ts";
export { loadLibrary, type NativeLibrary } from "./src/backend/library.ts";
/** The ops of a Llama-family forward on tensors (matmul, rmsnorm, rope, attention, ...). */
export * as ops from "./src/backend/ops.ts";
export { ABI_VERSION, type LukvSymbols, SYMBOLS } from "./src/backend/symbols.ts";
export { Tensor } from "./src/backend/tensor.ts";
