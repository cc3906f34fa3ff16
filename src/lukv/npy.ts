/** NumPy `.npy` files (format 1.0 to 3.0, little-endian float32/float64, C order): read and write. */

/** A dense float array with its shape, as stored in an `.npy` file. */
export interface NpyArray {
  /** Row-major extents. */
  shape: number[];
  /** The elements, in C order; the array type follows the file's dtype. */
  data: Float32Array | Float64Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/**
 * Parses an `.npy` file. Only little-endian `<f4` / `<f8` in C order are accepted;
 * anything else (Fortran order, other dtypes, truncated data) is a RangeError that
 * says what was found.
 *
 * @example
 * ```ts
 * const { shape, data } = readNpy(await Deno.readFile("budgets.npy")); // shape [99, L, H]
 * ```
 */
export function readNpy(bytes: Uint8Array): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new RangeError("not an .npy file: the magic string \\x93NUMPY is missing");
  }
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLength: number, headerStart: number;
  if (major === 1) {
    headerLength = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new RangeError(".npy file is truncated inside its header length");
    headerLength = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new RangeError(`unsupported .npy format version ${major}.${bytes[7]}`);
  }
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) throw new RangeError(".npy file is truncated inside its header");
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(
    bytes.subarray(headerStart, dataStart),
  );
  const descr = header.match(/'descr'\s*:\s*'([^']*)'/)?.[1];
  const fortran = header.match(/'fortran_order'\s*:\s*(True|False)/)?.[1];
  const shapeText = header.match(/'shape'\s*:\s*\(([^)]*)\)/)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new RangeError(`malformed .npy header: ${header.trim()}`);
  }
  if (fortran === "True") {
    throw new RangeError(".npy array is in Fortran order; save it in C order (np.ascontiguousarray)");
  }
  const itemSize = descr === "<f4" ? 4 : descr === "<f8" ? 8 : 0;
  if (itemSize === 0) {
    throw new RangeError(`.npy dtype ${descr} is not supported; expected <f4 (float32) or <f8 (float64)`);
  }
  const shape = shapeText.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  if (!shape.every((n) => Number.isSafeInteger(n) && n >= 0)) {
    throw new RangeError(`malformed .npy shape (${shapeText})`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length - dataStart !== count * itemSize) {
    throw new RangeError(
      `.npy data holds ${bytes.length - dataStart} bytes but shape (${shape}) of ${descr} needs ${
        count * itemSize
      }`,
    );
  }
  // Copy: the data offset need not be aligned for a typed-array view.
  const raw = bytes.slice(dataStart).buffer;
  const data = itemSize === 4 ? new Float32Array(raw) : new Float64Array(raw);
  return { shape, data };
}

/**
 * Serialises a float32 or float64 array as an `.npy` file (format 1.0, C order,
 * header padded to 64 bytes as NumPy does).
 *
 * @example
 * ```ts
 * await Deno.writeFile("budgets.npy", writeNpy({ shape: [99, 16, 8], data: prune }));
 * ```
 */
export function writeNpy({ shape, data }: NpyArray): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (!shape.every((n) => Number.isSafeInteger(n) && n >= 0) || count !== data.length) {
    throw new RangeError(`shape (${shape}) does not match ${data.length} elements`);
  }
  const descr = data instanceof Float32Array ? "<f4" : "<f8";
  const shapeText = shape.length === 1 ? `${shape[0]},` : shape.join(", ");
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shapeText}), }`;
  const unpadded = 10 + header.length + 1;
  header += " ".repeat((64 - (unpadded % 64)) % 64) + "\n";
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}
