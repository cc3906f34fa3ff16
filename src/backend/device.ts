/** Device: an opened native library (CPU or CUDA), its memory and its tensors. */

import type { LibraryKind } from "../../ffi/build.ts";
import { checkDType, checkHostArray, type DType, DTYPES, type HostArray } from "./dtype.ts";
import { LukvError, STATUS } from "./errors.ts";
import { loadLibrary, type NativeLibrary } from "./library.ts";
import type { LukvSymbols } from "./symbols.ts";
import { Tensor } from "./tensor.ts";

/** A reading of {@linkcode Device.memoryInfo}, in bytes. */
export interface MemoryInfo {
  /** Allocated through lukv now (all Device objects of this kind). */
  liveBytes: number;
  /** The most allocated through lukv at once since the library was loaded or the peak was last reset. */
  peakBytes: number;
  /** Free on the device, as its driver says (-1 when unknown). */
  deviceFreeBytes: number;
  /** The device's total memory (-1 when unknown). */
  deviceTotalBytes: number;
}

/** What {@linkcode openDevice} accepts: a device kind, or `"auto"` for CUDA when usable. */
export type DeviceRequest = LibraryKind | "auto";

/**
 * A compute device: allocates tensors and runs the ABI's ops on them. Obtain one with
 * {@linkcode openDevice}; `close()` frees every tensor still open and closes the library.
 *
 * @example
 * ```ts
 * using dev = await openDevice("auto");
 * console.log(dev.selection); // e.g. "cpu (CUDA unavailable: ...)"
 * using t = dev.zeros("f32", [4, 8]);
 * console.log(dev.liveBytes()); // 128
 * ```
 */
export class Device implements Disposable {
  /** `"cpu"` or `"cuda"`. */
  readonly kind: LibraryKind;
  /** Human-readable name from the library, e.g. `"cpu (x86_64, 2 threads)"`. */
  readonly name: string;
  /** Path of the native library in use. */
  readonly libraryPath: string;
  /** The name, plus why this device was chosen when it came from `"auto"`. */
  readonly selection: string;
  #native: NativeLibrary;
  #closed = false;
  /** Open tensors by pointer, so close() can free what is left (weakly held). */
  #tensors = new Map<bigint, WeakRef<Tensor>>();

  /** Use {@linkcode openDevice}. */
  constructor(native: NativeLibrary, note?: string) {
    this.#native = native;
    this.kind = native.kind;
    this.libraryPath = native.path;
    const name = new Uint8Array(1024);
    this.check("lukv_device_name", native.library.symbols.lukv_device_name(name, BigInt(name.length)));
    this.name = new TextDecoder().decode(name.subarray(0, name.indexOf(0)));
    this.selection = note ? `${this.name} (${note})` : this.name;
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The raw ABI functions (advanced use: every argument is yours to get right). */
  get symbols(): LukvSymbols {
    if (this.#closed) throw new LukvError("device", STATUS.CLOSED, `${this.kind} device used after close()`);
    return this.#native.library.symbols;
  }

  /** Throws a {@linkcode LukvError} carrying the library's message when `status` is not OK. */
  check(op: string, status: number): void {
    if (status === STATUS.OK) return;
    const message = Deno.UnsafePointerView.getCString(this.symbols.lukv_last_error()!);
    throw new LukvError(op, status, message || `failed with status ${status}`);
  }

  /**
   * A new tensor of uninitialised memory. `shape` holds positive integers; a dtype other
   * than f32, f16, bf16 or i32 is a TypeError naming those.
   *
   * @example
   * ```ts
   * using scratch = dev.empty("f32", [tokens, hiddenSize]);
   * ```
   */
  empty<D extends DType>(dtype: D, shape: readonly number[]): Tensor<D> {
    checkDType(dtype);
    const bytes = checkedBytes(dtype, shape);
    const out = new BigUint64Array(1);
    this.check("lukv_alloc", this.symbols.lukv_alloc(BigInt(bytes), out));
    return this.#adopt(out[0], dtype, shape);
  }

  /** Wraps memory the library just handed out, and tracks it for {@linkcode Device.close}. */
  #adopt<D extends DType>(address: bigint, dtype: D, shape: readonly number[]): Tensor<D> {
    const tensor = new Tensor(this, Deno.UnsafePointer.create(address)!, dtype, shape);
    this.#tensors.set(address, new WeakRef(tensor));
    return tensor;
  }

  /**
   * A tensor over bytes `[offset, offset + size * sizeof(dtype))` of the file at `path`,
   * mapped copy-on-write (CPU only): no copy and no read loop, the pages come from the
   * page cache and are shared with every process mapping the file; a write to the
   * tensor changes only this process's copy of that page. `offset` must be a multiple of
   * the dtype's size. A missing file or a range past its end is a LukvError (IO); CUDA
   * answers UNSUPPORTED (read the bytes and use {@linkcode Device.fromArray} there).
   *
   * @example
   * ```ts
   * using w = dev.mapFile("model.safetensors", 4096, "bf16", [2048, 2048]);
   * ```
   */
  mapFile<D extends DType>(path: string, offset: number, dtype: D, shape: readonly number[]): Tensor<D> {
    checkDType(dtype);
    const bytes = checkedBytes(dtype, shape);
    const size = DTYPES[dtype].bytes;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset % size !== 0) {
      throw new RangeError(
        `mapFile: offset must be a non-negative multiple of ${size} (${dtype}), got ${offset}`,
      );
    }
    const out = new BigUint64Array(1);
    const cPath = new TextEncoder().encode(`${path}\0`);
    this.check("lukv_map_file", this.symbols.lukv_map_file(cPath, BigInt(offset), BigInt(bytes), out));
    return this.#adopt(out[0], dtype, shape);
  }

  /**
   * A new tensor filled with zeros (same arguments as {@linkcode Device.empty}).
   *
   * @example
   * ```ts
   * using counts = dev.zeros("i32", [layers, heads]);
   * ```
   */
  zeros<D extends DType>(dtype: D, shape: readonly number[]): Tensor<D> {
    const tensor = this.empty(dtype, shape);
    try {
      return tensor.fill(0);
    } catch (error) {
      tensor.close();
      throw error;
    }
  }

  /**
   * A new tensor holding a copy of `data`; `shape` defaults to `[data.length]`. `data` is
   * the dtype's host array type: Float32Array for f32, Int32Array for i32, Uint16Array
   * (raw bits) for f16 and bf16; another type is a TypeError and a length other than the
   * shape's product a RangeError, both naming what was given and what was expected.
   *
   * @example
   * ```ts
   * using x = dev.fromArray("f32", new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
   * using h = dev.fromArray("bf16", new Uint16Array([0x3f80, 0xbf80])); // [1, -1] as bf16 bits
   * ```
   */
  fromArray<D extends DType>(
    dtype: D,
    data: HostArray<D>,
    shape?: readonly number[],
  ): Tensor<D> {
    checkHostArray("fromArray", dtype, data);
    shape ??= [data.length];
    // A malformed shape is left to empty(), which says what a shape must be.
    const size = shape.reduce((a, b) => a * b, 1);
    if (shape.every((n) => Number.isSafeInteger(n) && n > 0) && size !== data.length) {
      throw new RangeError(
        `fromArray: shape [${shape}] holds ${size} elements but the ${data.constructor.name} has ${data.length}`,
      );
    }
    const tensor = this.empty(dtype, shape);
    try {
      return tensor.copyFrom(data);
    } catch (error) {
      tensor.close();
      throw error;
    }
  }

  /** Bytes currently allocated on this device through lukv (all Device objects of this kind). */
  liveBytes(): number {
    const out = new BigInt64Array(1);
    this.check("lukv_live_bytes", this.symbols.lukv_live_bytes(out));
    return Number(out[0]);
  }

  /**
   * Memory use: bytes allocated through lukv now and at most since the library was loaded
   * (or since the last `resetPeak`), and the device's free and total memory as its driver
   * reports them (CUDA: every allocation counts, scratch pools and other processes
   * included; CPU: the machine's available and physical memory, -1 when unknown). With
   * `resetPeak`, the peak restarts at the live bytes after this reading, so the next
   * reading's `peakBytes` is the high-water mark of what ran in between.
   *
   * @example
   * ```ts
   * dev.memoryInfo({ resetPeak: true });
   * runPrefill();
   * console.log(dev.memoryInfo().peakBytes); // the prefill's high-water mark
   * ```
   */
  memoryInfo(options: { resetPeak?: boolean } = {}): MemoryInfo {
    const out = new BigInt64Array(4);
    this.check("lukv_memory_info", this.symbols.lukv_memory_info(out, options.resetPeak ? 1 : 0));
    const [liveBytes, peakBytes, deviceFreeBytes, deviceTotalBytes] = [...out].map(Number);
    return { liveBytes, peakBytes, deviceFreeBytes, deviceTotalBytes };
  }

  /** Waits for queued work (a no-op on CPU). */
  synchronize(): void {
    this.check("lukv_synchronize", this.symbols.lukv_synchronize(null));
  }

  /** Frees a pointer this device allocated. Called by {@linkcode Tensor.close}. */
  release(pointer: Deno.PointerObject): void {
    if (this.#closed) return;
    this.#tensors.delete(Deno.UnsafePointer.value(pointer) as bigint);
    this.check("lukv_free", this.symbols.lukv_free(pointer));
  }

  /** Frees every tensor still open, then closes the library. Harmless twice. */
  close(): void {
    if (this.#closed) return;
    for (const ref of [...this.#tensors.values()]) ref.deref()?.close();
    this.#closed = true;
    this.#native.library.close();
  }

  /** Called by `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Opens a device. `"auto"` picks CUDA when its library loads and a GPU answers, else
 * the CPU, and says why in `device.selection`.
 *
 * @example
 * ```ts
 * using dev = await openDevice("cpu");
 * console.log(dev.name); // "cpu (x86_64, 2 threads)"
 * ```
 */
export async function openDevice(request: DeviceRequest = "auto"): Promise<Device> {
  if (request !== "cpu" && request !== "cuda" && request !== "auto") {
    throw new TypeError(`device must be "cpu", "cuda" or "auto", got ${JSON.stringify(request)}`);
  }
  if (request === "cpu") return new Device(await loadLibrary("cpu"));
  if (request === "cuda") return new Device(await loadCuda());
  let cuda: NativeLibrary;
  try {
    cuda = await loadCuda();
  } catch (error) {
    const reason = error instanceof LukvError ? error.message.split("\n")[0] : String(error);
    return new Device(await loadLibrary("cpu"), `auto: CUDA unavailable: ${reason}`);
  }
  return new Device(cuda, "auto: CUDA available");
}

/** The CUDA library, once a GPU has answered. */
async function loadCuda(): Promise<NativeLibrary> {
  const native = await loadLibrary("cuda");
  const count = new Int32Array(1);
  const status = native.library.symbols.lukv_device_count(count);
  if (status !== STATUS.OK || count[0] < 1) {
    const message = Deno.UnsafePointerView.getCString(native.library.symbols.lukv_last_error()!);
    native.library.close();
    throw new LukvError("lukv_device_count", status || STATUS.DEVICE, message || "no CUDA device found");
  }
  return native;
}

/** The bytes of a `dtype` tensor of `shape`; a malformed or too large shape is a RangeError. */
function checkedBytes(dtype: DType, shape: readonly number[]): number {
  if (shape.length === 0 || !shape.every((n) => Number.isSafeInteger(n) && n > 0)) {
    throw new RangeError(`shape must be a non-empty list of positive integers, got [${shape}]`);
  }
  const bytes = shape.reduce((a, b) => a * b, 1) * DTYPES[dtype].bytes;
  if (!Number.isSafeInteger(bytes)) throw new RangeError(`shape [${shape}] is too large`);
  return bytes;
}
