/** NumPy `.npy` files (format 1.0 to 3.0, little-endian float32/float64, C order): read and write. */

import { LukvError, STATUS } from "../backend/errors.ts";

/** A dense float array with its shape, as stored in an `.npy` file. */
export interface NpyArray {
  /** Row-major extents. */
  shape: number[];
  /** The elements, in C order; the array type follows the file's dtype. */
  data: Float32Array | Float64Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/** The three keys NumPy writes and reads, and nothing else (numpy.lib.format checks the same set). */
const HEADER_KEYS = ["descr", "fortran_order", "shape"] as const;

type HeaderValue = string | boolean | string[];

/**
 * A malformed-file error naming the input: `LukvError` with code FORMAT.
 *
 * @example
 * ```ts
 * throw npyFormatError("readNpy", "oracle.npy", "not an .npy file");
 * // LukvError: readNpy: oracle.npy: not an .npy file
 * ```
 */
export function npyFormatError(op: string, name: string | undefined, message: string): LukvError {
  return new LukvError(op, STATUS.FORMAT, name === undefined ? message : `${name}: ${message}`);
}

/**
 * Parses the header NumPy writes, a Python dict literal such as
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`: strings, `True`/`False` and
 * tuples only, which is all a valid header holds. Tuple entries are returned as their
 * source text so that the caller can say which one is not an extent. A regular expression
 * would accept garbage around the keys, so this reads the literal token by token.
 */
function parseHeader(text: string, fail: (message: string) => never): Map<string, HeaderValue> {
  let at = 0;
  const skipSpace = () => {
    while (at < text.length && /\s/.test(text[at])) at++;
  };
  const notDict = (what: string): never =>
    fail(
      `malformed .npy header: not a Python dict literal (${what} at character ${at}): ${
        JSON.stringify(text.trim())
      }`,
    );
  const expect = (char: string) => {
    skipSpace();
    if (text[at] !== char) notDict(`expected '${char}'`);
    at++;
  };
  const string = (): string => {
    const quote = text[at];
    const end = text.indexOf(quote, at + 1);
    if (end < 0) notDict("unterminated string");
    const value = text.slice(at + 1, end);
    if (value.includes("\\")) notDict("escape in a string");
    at = end + 1;
    return value;
  };
  const value = (): HeaderValue => {
    skipSpace();
    const char = text[at];
    if (char === "'" || char === '"') return string();
    if (text.startsWith("True", at)) return (at += 4, true);
    if (text.startsWith("False", at)) return (at += 5, false);
    if (char !== "(") return notDict("expected a string, True, False or a tuple");
    at++;
    const items: string[] = [];
    let comma = false;
    for (;;) {
      skipSpace();
      if (text[at] === ")") break;
      const end = text.slice(at).search(/[,)]/);
      if (end < 0) notDict("unterminated tuple");
      items.push(text.slice(at, at + end).trim());
      at += end;
      comma = text[at] === ",";
      if (comma) at++;
    }
    at++;
    // Python reads `(4)` as the integer 4, not a tuple; NumPy writes `(4,)`.
    if (items.length === 1 && !comma) notDict("a one-element tuple needs a trailing comma");
    return items;
  };
  const entries = new Map<string, HeaderValue>();
  expect("{");
  for (;;) {
    skipSpace();
    if (text[at] === "}") break;
    if (text[at] !== "'" && text[at] !== '"') notDict("expected a quoted key");
    const key = string();
    if (entries.has(key)) fail(`malformed .npy header: it repeats the key '${key}'`);
    expect(":");
    entries.set(key, value());
    skipSpace();
    if (text[at] === ",") at++;
    else if (text[at] !== "}") notDict("expected ',' or '}'");
  }
  at++;
  skipSpace();
  if (at < text.length) notDict("text after the closing '}'");
  return entries;
}

/**
 * Parses an `.npy` file: format 1.0, 2.0 or 3.0, a header holding exactly `descr`,
 * `fortran_order` and `shape`, little-endian `<f4` / `<f8` in C order, and exactly the
 * data bytes the shape needs. Anything else (bad magic or version, a header past the end
 * of the file or not a Python dict literal, missing or extra keys, Fortran order, another
 * or big-endian dtype, a shape that is not a tuple of non-negative integers or whose size
 * overflows, truncated data or trailing bytes) is a `LukvError` with code FORMAT whose
 * message starts with `options.name` and says what was found. Values are not checked:
 * NaN is a valid float here; the table readers check what their tables need.
 *
 * @param options `name`: the file name (or another label) every error message starts with
 * @example
 * ```ts
 * const path = "budgets.npy";
 * const { shape, data } = readNpy(await Deno.readFile(path), { name: path }); // shape [99, L, H]
 * ```
 */
export function readNpy(bytes: Uint8Array, options: { name?: string } = {}): NpyArray {
  const { name } = options;
  const fail = (message: string): never => {
    throw npyFormatError("readNpy", name, message);
  };
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    fail("not an .npy file: the magic string \\x93NUMPY is missing");
  }
  const [major, minor] = [bytes[6], bytes[7]];
  if (!(major >= 1 && major <= 3) || minor !== 0) {
    fail(`unsupported .npy format version ${major}.${minor}; expected 1.0, 2.0 or 3.0`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (major > 1 && bytes.length < 12) fail(".npy file is truncated inside its header length");
  const headerStart = major === 1 ? 10 : 12;
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) {
    fail(
      `.npy file is truncated inside its header: ${headerLength} header bytes announced, ${
        bytes.length - headerStart
      } present`,
    );
  }
  let header: string;
  try {
    header = new TextDecoder(major === 3 ? "utf-8" : "latin1", { fatal: true }).decode(
      bytes.subarray(headerStart, dataStart),
    );
  } catch {
    return fail("the format 3.0 header is not valid UTF-8");
  }
  const entries = parseHeader(header, fail);
  const missing = HEADER_KEYS.filter((key) => !entries.has(key));
  const extra = [...entries.keys()].filter((key) => !(HEADER_KEYS as readonly string[]).includes(key));
  if (missing.length > 0 || extra.length > 0) {
    fail(`malformed .npy header: it must hold exactly 'descr', 'fortran_order' and 'shape'; ${
      [
        missing.length > 0 ? `missing ${missing.map((k) => `'${k}'`).join(", ")}` : "",
        extra.length > 0 ? `unexpected ${extra.map((k) => `'${k}'`).join(", ")}` : "",
      ].filter((s) => s !== "").join(", ")
    }`);
  }
  const descr = entries.get("descr"),
    fortran = entries.get("fortran_order"),
    shapeItems = entries.get("shape");
  if (typeof descr !== "string") fail(`'descr' must be a dtype string, got ${JSON.stringify(descr)}`);
  if (typeof fortran !== "boolean") {
    fail(`'fortran_order' must be True or False, got ${JSON.stringify(fortran)}`);
  }
  if (!Array.isArray(shapeItems)) fail(`'shape' must be a tuple, got ${JSON.stringify(shapeItems)}`);
  if (fortran) fail(".npy array is in Fortran order; save it in C order (np.ascontiguousarray)");
  const itemSize = descr === "<f4" ? 4 : descr === "<f8" ? 8 : 0;
  if (itemSize === 0) {
    const bigEndian = /^>f[48]$/.test(descr as string)
      ? " (big-endian: save it with arr.astype('<f4') or '<f8')"
      : "";
    fail(`.npy dtype ${descr} is not supported${bigEndian}; expected <f4 (float32) or <f8 (float64)`);
  }
  const shape = (shapeItems as string[]).map((item) => {
    // Python 2 NumPy wrote long integers with an L suffix, e.g. (3L, 4L).
    const extent = /^\d+L?$/.test(item) ? Number(item.replace("L", "")) : NaN;
    if (!Number.isSafeInteger(extent)) {
      fail(`shape entry ${JSON.stringify(item)} is not a non-negative integer (at most 2^53 - 1)`);
    }
    return extent;
  });
  let count = shape.includes(0) ? 0 : 1;
  for (const extent of count === 0 ? [] : shape) {
    count *= extent;
    if (count > Number.MAX_SAFE_INTEGER) fail(`shape (${shape}) has more than 2^53 - 1 elements`);
  }
  const present = bytes.length - dataStart, needed = count * itemSize;
  if (present < needed) {
    fail(
      `.npy data is truncated: it holds ${present} bytes but shape (${shape}) of ${descr} needs ${needed}`,
    );
  }
  if (present > needed) {
    fail(
      `.npy data holds ${present} bytes but shape (${shape}) of ${descr} needs ${needed}: ${
        present - needed
      } trailing bytes`,
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
