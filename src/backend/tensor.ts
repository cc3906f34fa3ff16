/** Tensor: an owned block of device memory with a dtype and a shape. */

import type { Device } from "./device.ts";
import { checkDType, checkHostArray, type DType, DTYPES, type HostArray, hostArray } from "./dtype.ts";
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
 * The owning tensor of each host buffer handed out by `view()`. A view holds its buffer,
 * the buffer (through this map) its owner: so the leak net cannot free memory that a
 * live view still reaches, however the tensor handle itself was dropped.
 */
const viewOwners = new WeakMap<ArrayBuffer, Tensor>();

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
  /** The tensor owning the memory when this one is a reshape or rows of it. */
  #base: Tensor<D> | null;
  /** Where this tensor's bytes start in its base's memory (0 for an owner). */
  #byteOffset: number;
  /**
   * Owner only: the one ArrayBuffer over the whole memory that every `view()` of this
   * tensor and of its reshapes and rows is a window on. `close()` detaches it, so every
   * such view becomes empty at once instead of reaching freed memory.
   */
  #hostBuffer: ArrayBuffer | null = null;

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
    checkDType(dtype);
    this.device = device;
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.size = shape.reduce((a, b) => a * b, 1);
    this.byteLength = this.size * DTYPES[dtype].bytes;
    this.#pointer = pointer;
    this.#base = base;
    this.#byteOffset = base
      ? Number(BigInt(Deno.UnsafePointer.value(pointer)) - BigInt(Deno.UnsafePointer.value(base.pointer)))
      : 0;
    if (base && (this.#byteOffset < 0 || this.#byteOffset + this.byteLength > base.byteLength)) {
      throw new RangeError(
        `an alias of ${this.byteLength} bytes at offset ${this.#byteOffset} does not fit in its base's ${base.byteLength}`,
      );
    }
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
   * A TypedArray over the tensor's own memory (CPU only; zero copy): `size` elements of
   * the dtype's host array type. Writes go straight to the tensor. Once the memory's owner
   * is closed (directly, or by closing the device), every view taken of it, of its
   * `reshape`s and `rows`, and every subarray of those, is detached: length 0, reads give
   * `undefined`, writes go nowhere. Closing a `reshape`/`rows` alias frees nothing, so its
   * views stay valid while the owner is open.
   *
   * @example
   * ```ts
   * using t = dev.zeros("f32", [2, 3]);
   * const v = t.view(); // Float32Array(6) over t's memory
   * v[4] = 42;
   * t.close();
   * v.length; // 0: the view cannot reach the freed memory
   * ```
   */
  view(): HostArray<D> {
    this.pointer; // throws once closed
    if (this.device.kind !== "cpu") {
      throw new LukvError(
        "tensor.view",
        STATUS.UNSUPPORTED,
        `a ${this.device.kind} tensor has no host view; use toHost() or copyFrom()`,
      );
    }
    const owner = this.#base ?? this;
    return hostArray(this.dtype, owner.#ownHostBuffer(), this.#byteOffset, this.size);
  }

  /** The owner's host buffer, made on first use (one per owner keeps `view()` cheap in hot loops). */
  #ownHostBuffer(): ArrayBuffer {
    if (this.#hostBuffer === null) {
      this.#hostBuffer = new Deno.UnsafePointerView(this.pointer).getArrayBuffer(this.byteLength);
      viewOwners.set(this.#hostBuffer, this);
    }
    return this.#hostBuffer;
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

  /**
   * Overwrites the contents from a host array of exactly `size` elements, of the dtype's
   * host array type (Float32Array for f32, Int32Array for i32, Uint16Array raw bits for
   * f16/bf16): another type is a TypeError, another length a `LukvError` (SHAPE).
   *
   * @example
   * ```ts
   * t.copyFrom(new Float32Array(t.size).fill(1));
   * ```
   */
  copyFrom(data: HostArray<D>): this {
    checkHostArray("tensor.copyFrom", this.dtype, data);
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
    // transfer(0) detaches without copying; measured: the native memory is left alone (freed just below).
    this.#hostBuffer?.transfer(0);
    this.#hostBuffer = null;
    leakNet.unregister(this);
    this.device.release(pointer);
  }

  /** Called by `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
