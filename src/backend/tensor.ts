/** Tensor: an owned block of device memory with a dtype and a shape. */

import type { Device } from "./device.ts";
import { type DType, DTYPES, type HostArray, hostArray } from "./dtype.ts";
import { LukvError, STATUS } from "./errors.ts";

/** Frees memory whose Tensor was garbage-collected unclosed: a leak net, not a lifetime. */
const leakNet = new FinalizationRegistry<{ device: Device; pointer: Deno.PointerObject }>(
  ({ device, pointer }) => {
    try {
      device.release(pointer);
    } catch {
      // A finalizer has no caller to report to; the device is closing or closed.
    }
  },
);

/**
 * A dtype + shape handle on memory owned by a {@linkcode Device}. Close it (or let
 * `using` close it) to free the memory; `close()` twice is harmless, any other use
 * after close is a `LukvError` with code `CLOSED`.
 *
 * @example
 * ```ts
 * using dev = await openDevice("cpu");
 * using x = dev.fromArray("f32", new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
 * x.view()[0] = 10; // zero-copy on CPU
 * console.log(x.shape, x.toHost()); // [2, 3] Float32Array [10, 2, 3, 4, 5, 6]
 * ```
 */
export class Tensor<D extends DType = DType> implements Disposable {
  /** The device that owns the memory. */
  readonly device: Device;
  /** Element type. */
  readonly dtype: D;
  /** Row-major shape, every extent >= 1. */
  readonly shape: readonly number[];
  /** Number of elements (product of the shape). */
  readonly size: number;
  /** Bytes of memory held. */
  readonly byteLength: number;
  #pointer: Deno.PointerObject | null;
  /** The tensor owning the memory when this one is a reshape of it. */
  #base: Tensor<D> | null;

  /**
   * Use {@linkcode Device.empty} and friends; this wraps memory the device just
   * allocated (or, with `base`, memory that `base` owns).
   */
  constructor(
    device: Device,
    pointer: Deno.PointerObject,
    dtype: D,
    shape: readonly number[],
    base: Tensor<D> | null = null,
  ) {
    this.device = device;
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.size = shape.reduce((a, b) => a * b, 1);
    this.byteLength = this.size * DTYPES[dtype].bytes;
    this.#pointer = pointer;
    this.#base = base;
    if (!base) leakNet.register(this, { device, pointer }, this);
  }

  /** True once closed (directly, through the tensor it reshapes, or by closing the device). */
  get closed(): boolean {
    return this.#pointer === null || this.device.closed || (this.#base?.closed ?? false);
  }

  /**
   * The same memory under another shape of equal size (zero copy). The result does not
   * own the memory: closing it is harmless, closing this tensor closes it too.
   *
   * @example
   * ```ts
   * using q = dev.empty("f32", [tokens, heads * headDim]);
   * const q3 = q.reshape([tokens, heads, headDim]);
   * ```
   */
  reshape(shape: readonly number[]): Tensor<D> {
    const size = shape.reduce((a, b) => a * b, 1);
    if (shape.length === 0 || !shape.every((n) => Number.isSafeInteger(n) && n > 0) || size !== this.size) {
      throw new RangeError(`cannot reshape [${this.shape}] (${this.size} elements) to [${shape}]`);
    }
    return new Tensor(this.device, this.pointer, this.dtype, shape, this.#base ?? this);
  }

  /**
   * Rows `start .. start + count - 1` along the first dimension, as a tensor over the
   * same memory (zero copy, not owning: closing this tensor closes it too).
   *
   * @example
   * ```ts
   * const last = hidden.rows(tokens - 1, 1); // [1, hiddenSize] of hidden [tokens, hiddenSize]
   * ```
   */
  rows(start: number, count: number): Tensor<D> {
    const total = this.shape[0];
    if (
      !Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 1 ||
      start + count > total
    ) {
      throw new RangeError(`rows ${start}..${start + count - 1} are outside a tensor of ${total} rows`);
    }
    const rowBytes = this.byteLength / total;
    const pointer = Deno.UnsafePointer.offset(this.pointer, start * rowBytes);
    if (pointer === null) throw new RangeError("null row pointer");
    return new Tensor(this.device, pointer, this.dtype, [count, ...this.shape.slice(1)], this.#base ?? this);
  }

  /** The native pointer, for passing to ABI functions; throws once closed. */
  get pointer(): Deno.PointerObject {
    if (this.#pointer === null || this.#base?.closed) {
      throw new LukvError("tensor", STATUS.CLOSED, `tensor [${this.shape}] ${this.dtype} used after close()`);
    }
    if (this.device.closed) {
      throw new LukvError(
        "tensor",
        STATUS.CLOSED,
        `tensor's device (${this.device.kind}) used after close()`,
      );
    }
    return this.#pointer;
  }

  /**
   * A TypedArray over the tensor's own memory (CPU only; zero copy). Writes go straight
   * to the tensor. The array must not be used after the tensor is closed.
   */
  view(): HostArray<D> {
    const pointer = this.pointer;
    if (this.device.kind !== "cpu") {
      throw new LukvError(
        "tensor.view",
        STATUS.UNSUPPORTED,
        `a ${this.device.kind} tensor has no host view; use toHost() or copyFrom()`,
      );
    }
    const buffer = new Deno.UnsafePointerView(pointer).getArrayBuffer(this.byteLength);
    return hostArray(this.dtype, buffer);
  }

  /** A fresh host copy of the contents (any device). */
  toHost(): HostArray<D> {
    const out = hostArray(this.dtype, new ArrayBuffer(this.byteLength));
    this.device.check(
      "lukv_copy_to_host",
      this.device.symbols.lukv_copy_to_host(out, this.pointer, BigInt(this.byteLength), null),
    );
    return out;
  }

  /** Overwrites the contents from a host array of exactly `size` elements. */
  copyFrom(data: HostArray<D>): this {
    if (data.length !== this.size) {
      throw new LukvError(
        "tensor.copyFrom",
        STATUS.SHAPE,
        `tensor [${this.shape}] holds ${this.size} elements but got ${data.length}`,
      );
    }
    this.device.check(
      "lukv_copy_to_device",
      this.device.symbols.lukv_copy_to_device(this.pointer, data, BigInt(this.byteLength), null),
    );
    return this;
  }

  /**
   * Overwrites the contents with another tensor's on the same device (same dtype and
   * size; shapes may differ), without a trip through the host.
   *
   * @example
   * ```ts
   * grown.rows(0, old.shape[0]).copyFromTensor(old);
   * ```
   */
  copyFromTensor(src: Tensor<D>): this {
    if (src.device !== this.device || src.dtype !== this.dtype || src.size !== this.size) {
      throw new LukvError(
        "tensor.copyFromTensor",
        STATUS.SHAPE,
        `cannot copy ${src.dtype} [${src.shape}] on ${src.device.kind} into ${this.dtype} [${this.shape}] on ${this.device.kind}`,
      );
    }
    this.device.check(
      "lukv_copy_device",
      this.device.symbols.lukv_copy_device(this.pointer, src.pointer, BigInt(this.byteLength), null),
    );
    return this;
  }

  /** Sets every element to `value` (rounded to the dtype). */
  fill(value: number): this {
    this.device.check(
      "lukv_fill",
      this.device.symbols.lukv_fill(this.pointer, DTYPES[this.dtype].code, BigInt(this.size), value, null),
    );
    return this;
  }

  /** Frees the memory. Harmless when already closed. */
  close(): void {
    const pointer = this.#pointer;
    if (pointer === null) return;
    this.#pointer = null;
    if (this.#base) return;
    leakNet.unregister(this);
    this.device.release(pointer);
  }

  /** Called by `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
