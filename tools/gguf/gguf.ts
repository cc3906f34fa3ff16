/** The GGUF v3 container (llama.cpp's model file): typed metadata values, tensor infos, header encoding and parsing. */

/** GGUF's magic, the bytes "GGUF" read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;
/** The format version written and read here. */
export const GGUF_VERSION = 3;
/** Data alignment written to `general.alignment` (and GGUF's default when absent). */
export const GGUF_ALIGNMENT = 32;

/** ggml tensor types this writer produces or reads (ids from ggml.h). */
export const GGML_TYPES = { f32: 0, f16: 1, bf16: 30 } as const;
/** A ggml tensor type's name. */
export type GgmlTypeName = keyof typeof GGML_TYPES;
const GGML_TYPE_BYTES: Record<GgmlTypeName, number> = { f32: 4, f16: 2, bf16: 2 };

/** The metadata value types of GGUF, by their ids in the file. */
export const GGUF_VALUE_TYPES = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

/** A scalar metadata type: everything but `array`. */
export type GgufScalarType = Exclude<keyof typeof GGUF_VALUE_TYPES, "array">;
/** A scalar's JavaScript value: 64-bit integers are bigints so no id loses precision. */
export type GgufScalar = number | bigint | boolean | string;

/**
 * One metadata value with its GGUF type (the type decides the bytes: `llama.block_count`
 * must be a u32, not an f32).
 *
 * @example
 * ```ts
 * const layers: GgufValue = { type: "u32", value: 16 };
 * const tokens: GgufValue = { type: "array", itemType: "string", value: ["a", "b"] };
 * ```
 */
export type GgufValue =
  | { type: GgufScalarType; value: GgufScalar }
  | { type: "array"; itemType: GgufScalarType; value: GgufScalar[] };

/**
 * One tensor's entry in the header: `dims` innermost first (ggml's `ne`), so a Hugging
 * Face linear weight `[out, in]` is `[in, out]`; `offset` is from the data section's start.
 *
 * @example
 * ```ts
 * const info: GgufTensorInfo = { name: "blk.0.attn_q.weight", dims: [1024, 1024], type: "f16", offset: 0 };
 * ```
 */
export interface GgufTensorInfo {
  /** llama.cpp's tensor name, e.g. `"token_embd.weight"`. */
  name: string;
  /** Extents, innermost first. */
  dims: number[];
  /** Element type. */
  type: GgmlTypeName;
  /** Byte offset inside the data section (a multiple of the alignment). */
  offset: number;
}

/**
 * Bytes of a tensor's data: elements times the type's size.
 *
 * @example
 * ```ts
 * ggufTensorBytes({ dims: [4, 2], type: "f16" }); // 16
 * ```
 */
export function ggufTensorBytes(info: Pick<GgufTensorInfo, "dims" | "type">): number {
  return info.dims.reduce((a, b) => a * b, 1) * GGML_TYPE_BYTES[info.type];
}

/**
 * Rounds `n` up to a multiple of `alignment`.
 *
 * @example
 * ```ts
 * alignUp(33, 32); // 64
 * ```
 */
export function alignUp(n: number, alignment: number = GGUF_ALIGNMENT): number {
  return Math.ceil(n / alignment) * alignment;
}

/**
 * Lays tensors out one after the other in the data section, each at an aligned offset.
 * Returns the infos with offsets and the data section's total size.
 *
 * @example
 * ```ts
 * const { infos, dataBytes } = layoutTensors([{ name: "a", dims: [3], type: "f32" }]);
 * // infos[0].offset === 0, dataBytes === 32
 * ```
 */
export function layoutTensors(
  tensors: Omit<GgufTensorInfo, "offset">[],
  alignment: number = GGUF_ALIGNMENT,
): { infos: GgufTensorInfo[]; dataBytes: number } {
  let offset = 0;
  const infos = tensors.map((t) => {
    const info = { ...t, offset };
    offset = alignUp(offset + ggufTensorBytes(t), alignment);
    return info;
  });
  return { infos, dataBytes: offset };
}

/** A growable little-endian byte writer. */
class ByteWriter {
  #bytes = new Uint8Array(1 << 16);
  #view = new DataView(this.#bytes.buffer);
  length = 0;

  #room(n: number): DataView {
    if (this.length + n > this.#bytes.length) {
      const next = new Uint8Array(Math.max(this.#bytes.length * 2, this.length + n));
      next.set(this.#bytes.subarray(0, this.length));
      this.#bytes = next;
      this.#view = new DataView(next.buffer);
    }
    return this.#view;
  }

  scalar(type: GgufScalarType, value: GgufScalar, key: string): void {
    const at = this.length;
    switch (type) {
      case "u8":
      case "i8":
      case "bool":
        this.#room(1)[type === "i8" ? "setInt8" : "setUint8"](at, Number(checkNumber(type, value, key)));
        this.length += 1;
        return;
      case "u16":
      case "i16":
        this.#room(2)[type === "i16" ? "setInt16" : "setUint16"](at, checkNumber(type, value, key), true);
        this.length += 2;
        return;
      case "u32":
      case "i32":
        this.#room(4)[type === "i32" ? "setInt32" : "setUint32"](at, checkNumber(type, value, key), true);
        this.length += 4;
        return;
      case "f32":
      case "f64":
        this.#room(8)[type === "f32" ? "setFloat32" : "setFloat64"](at, checkNumber(type, value, key), true);
        this.length += type === "f32" ? 4 : 8;
        return;
      case "u64":
      case "i64": {
        const big = typeof value === "bigint" ? value : BigInt(checkNumber(type, value, key));
        this.#room(8)[type === "i64" ? "setBigInt64" : "setBigUint64"](at, big, true);
        this.length += 8;
        return;
      }
      case "string": {
        if (typeof value !== "string") {
          throw new TypeError(`GGUF key ${key}: expected a string, got ${value}`);
        }
        const bytes = new TextEncoder().encode(value);
        this.scalar("u64", BigInt(bytes.length), key);
        this.#room(bytes.length);
        this.#bytes.set(bytes, this.length);
        this.length += bytes.length;
        return;
      }
    }
  }

  pad(alignment: number): void {
    const end = alignUp(this.length, alignment);
    this.#room(end - this.length);
    this.#bytes.fill(0, this.length, end);
    this.length = end;
  }

  bytes(): Uint8Array {
    return this.#bytes.slice(0, this.length);
  }
}

const INTEGER_RANGES: Partial<Record<GgufScalarType, [number, number]>> = {
  u8: [0, 255],
  i8: [-128, 127],
  u16: [0, 65535],
  i16: [-32768, 32767],
  u32: [0, 2 ** 32 - 1],
  i32: [-(2 ** 31), 2 ** 31 - 1],
  u64: [0, Number.MAX_SAFE_INTEGER],
  i64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

function checkNumber(type: GgufScalarType, value: GgufScalar, key: string): number {
  const n = typeof value === "boolean" && type === "bool" ? Number(value) : value;
  if (typeof n !== "number" || Number.isNaN(n)) {
    throw new TypeError(`GGUF key ${key}: expected a ${type}, got ${JSON.stringify(String(value))}`);
  }
  const range = INTEGER_RANGES[type];
  if (range && (!Number.isInteger(n) || n < range[0] || n > range[1])) {
    throw new RangeError(`GGUF key ${key}: ${n} is not a ${type}`);
  }
  return n;
}

/**
 * Encodes a GGUF v3 header: magic, version, counts, the metadata in the given order, the
 * tensor infos, and zero padding up to the aligned start of the data section. The
 * tensor data follows, each tensor at its info's offset. `general.alignment`, when given,
 * must match `alignment`.
 *
 * @example
 * ```ts
 * const { infos } = layoutTensors([{ name: "w", dims: [2], type: "f32" }]);
 * const header = encodeGgufHeader(new Map([["general.architecture", { type: "string", value: "llama" }]]), infos);
 * // write header, then the tensor bytes padded to 32
 * ```
 */
export function encodeGgufHeader(
  metadata: Map<string, GgufValue>,
  tensors: GgufTensorInfo[],
  alignment: number = GGUF_ALIGNMENT,
): Uint8Array {
  const declared = metadata.get("general.alignment");
  if (declared !== undefined && declared.value !== alignment) {
    throw new RangeError(`general.alignment is ${declared.value} but the data is aligned to ${alignment}`);
  }
  const w = new ByteWriter();
  w.scalar("u32", GGUF_MAGIC, "magic");
  w.scalar("u32", GGUF_VERSION, "version");
  w.scalar("u64", BigInt(tensors.length), "tensor count");
  w.scalar("u64", BigInt(metadata.size), "metadata count");
  for (const [key, entry] of metadata) {
    w.scalar("string", key, key);
    w.scalar("u32", GGUF_VALUE_TYPES[entry.type], key);
    if (entry.type === "array") {
      w.scalar("u32", GGUF_VALUE_TYPES[entry.itemType], key);
      w.scalar("u64", BigInt(entry.value.length), key);
      for (const item of entry.value) w.scalar(entry.itemType, item, key);
    } else {
      w.scalar(entry.type, entry.value, key);
    }
  }
  for (const t of tensors) {
    if (t.offset % alignment !== 0) {
      throw new RangeError(`tensor ${t.name}: offset ${t.offset} is not aligned`);
    }
    w.scalar("string", t.name, t.name);
    w.scalar("u32", t.dims.length, t.name);
    for (const d of t.dims) w.scalar("u64", BigInt(d), t.name);
    w.scalar("u32", GGML_TYPES[t.type], t.name);
    w.scalar("u64", BigInt(t.offset), t.name);
  }
  w.pad(alignment);
  return w.bytes();
}

/** A parsed GGUF file's header: metadata, tensor infos, and where the data section starts. */
export interface GgufHeader {
  /** Format version (3). */
  version: number;
  /** Metadata in file order. */
  metadata: Map<string, GgufValue>;
  /** Tensor infos in file order. */
  tensors: GgufTensorInfo[];
  /** Byte offset of the data section in the file. */
  dataStart: number;
  /** The alignment in force (`general.alignment`, else 32). */
  alignment: number;
}

/**
 * Parses a GGUF header from the file's first bytes (enough of them to hold the whole
 * header), checking magic, version, value types, tensor types and offsets. Errors say
 * what is wrong and where.
 *
 * @example
 * ```ts
 * const header = parseGgufHeader(await Deno.readFile("model.gguf"));
 * header.metadata.get("llama.block_count"); // { type: "u32", value: 16 }
 * ```
 */
export function parseGgufHeader(bytes: Uint8Array): GgufHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const need = (n: number, what: string) => {
    if (at + n > bytes.length) throw new RangeError(`GGUF: file ends inside ${what} (byte ${at})`);
  };
  const u32 = (what: string) => (need(4, what), at += 4, view.getUint32(at - 4, true));
  const u64 = (what: string) => {
    need(8, what);
    at += 8;
    const n = view.getBigUint64(at - 8, true);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`GGUF: ${what} ${n} is too large`);
    return Number(n);
  };
  const string = (what: string) => {
    const n = u64(what);
    need(n, what);
    at += n;
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(at - n, at));
  };
  const typeName = (id: number, what: string): keyof typeof GGUF_VALUE_TYPES => {
    const name = Object.entries(GGUF_VALUE_TYPES).find(([, v]) => v === id)?.[0];
    if (name === undefined) throw new RangeError(`GGUF: ${what} has unknown value type ${id}`);
    return name as keyof typeof GGUF_VALUE_TYPES;
  };
  const scalar = (type: GgufScalarType, what: string): GgufScalar => {
    const sizes = { u8: 1, i8: 1, bool: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, u64: 8, i64: 8, f64: 8 };
    if (type === "string") return string(what);
    need(sizes[type], what);
    at += sizes[type];
    const p = at - sizes[type];
    switch (type) {
      case "u8":
        return view.getUint8(p);
      case "i8":
        return view.getInt8(p);
      case "bool":
        return view.getUint8(p) !== 0;
      case "u16":
        return view.getUint16(p, true);
      case "i16":
        return view.getInt16(p, true);
      case "u32":
        return view.getUint32(p, true);
      case "i32":
        return view.getInt32(p, true);
      case "f32":
        return view.getFloat32(p, true);
      case "f64":
        return view.getFloat64(p, true);
      case "u64":
        return view.getBigUint64(p, true);
      case "i64":
        return view.getBigInt64(p, true);
    }
  };

  const magic = u32("magic");
  if (magic !== GGUF_MAGIC) throw new RangeError(`GGUF: bad magic 0x${magic.toString(16)}`);
  const version = u32("version");
  if (version !== GGUF_VERSION) throw new RangeError(`GGUF: version ${version}, only 3 is read`);
  const tensorCount = u64("tensor count"), kvCount = u64("metadata count");
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = string(`key ${i}`);
    const type = typeName(u32(key), key);
    if (type === "array") {
      const itemType = typeName(u32(key), key);
      if (itemType === "array") throw new RangeError(`GGUF: ${key} is an array of arrays, not supported`);
      const n = u64(key);
      const value: GgufScalar[] = [];
      for (let j = 0; j < n; j++) value.push(scalar(itemType, key));
      metadata.set(key, { type, itemType, value });
    } else {
      metadata.set(key, { type, value: scalar(type, key) });
    }
  }
  const alignmentValue = metadata.get("general.alignment")?.value ?? GGUF_ALIGNMENT;
  const alignment = Number(alignmentValue);
  const tensors: GgufTensorInfo[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = string(`tensor ${i} name`);
    const nDims = u32(name);
    const dims = Array.from({ length: nDims }, () => u64(name));
    const typeId = u32(name);
    const type = (Object.keys(GGML_TYPES) as GgmlTypeName[]).find((k) => GGML_TYPES[k] === typeId);
    if (type === undefined) {
      throw new RangeError(`GGUF: tensor ${name} has ggml type ${typeId}, not read here`);
    }
    const offset = u64(name);
    if (offset % alignment !== 0) {
      throw new RangeError(`GGUF: tensor ${name} offset ${offset} is not aligned`);
    }
    tensors.push({ name, dims, type, offset });
  }
  return { version, metadata, tensors, dataStart: alignUp(at, alignment), alignment };
}
