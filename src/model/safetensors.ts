/** Safetensors files and Hugging Face checkpoint folders (single file or sharded index), fully validated. */

import { DTYPES, type HostArray, hostArray } from "../backend/dtype.ts";
import { LukvError, STATUS } from "../backend/errors.ts";
import { weightsFingerprint } from "./fingerprint.ts";
import { describeValue, joinPath } from "./json_file.ts";

/** The dtypes lukv reads from safetensors files (the float dtypes of `DType`). */
export type WeightDType = "f32" | "f16" | "bf16";

/** What a safetensors header says of one tensor. */
export interface TensorInfo {
  /** The tensor's name, e.g. `"model.layers.0.self_attn.q_proj.weight"`. */
  name: string;
  /** Element type (safetensors `F32`, `F16`, `BF16`). */
  dtype: WeightDType;
  /** Row-major extents, e.g. `[out, in]` for a linear weight. */
  shape: number[];
  /** `product(shape) * sizeof(dtype)`. */
  byteLength: number;
}

/** One tensor of a safetensors file held in memory; `bytes` is a view into the file bytes (no copy). */
export interface WeightTensor extends TensorInfo {
  /** The raw little-endian elements: `byteLength` bytes. */
  bytes: Uint8Array;
}

/** One tensor of a checkpoint on disk: where its bytes lie, not the bytes. */
export interface StoredTensor extends TensorInfo {
  /** The file's name inside the checkpoint folder, e.g. `"model-00001-of-00002.safetensors"`. */
  file: string;
  /** The file's path (folder joined with `file`). */
  path: string;
  /** Where the tensor's bytes start in the file. */
  offset: number;
}

/** A parsed safetensors file: its tensors by name and its optional `__metadata__`. */
export interface SafetensorsFile {
  /** Tensors by name, in header order. */
  tensors: Map<string, WeightTensor>;
  /** The header's `__metadata__` (string to string); empty when absent. */
  metadata: Record<string, string>;
}

/** Largest header lukv accepts (the Rust `safetensors` crate's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

const FILE_DTYPES: Readonly<Record<string, WeightDType>> = { F32: "f32", F16: "f16", BF16: "bf16" };
const SINGLE_FILE = "model.safetensors";
const INDEX_FILE = "model.safetensors.index.json";
const OP = "safetensors";

function formatError(message: string): LukvError {
  return new LukvError(OP, STATUS.FORMAT, message);
}

/**
 * Parses a safetensors file held in memory. The header is checked completely before any
 * tensor is exposed: its length fits the file (and {@linkcode MAX_HEADER_BYTES}), it is a
 * UTF-8 JSON object, every entry has a supported dtype, a shape of non-negative integers,
 * and `data_offsets` inside the data region whose span is exactly `product(shape) *
 * sizeof(dtype)` bytes, and no two spans overlap. Any violation is a LukvError (FORMAT)
 * naming `file` and the tensor. Tensor bytes are subarrays of `bytes` (no copy).
 *
 * @example
 * ```ts
 * const { tensors } = parseSafetensors(await Deno.readFile("model.safetensors"));
 * const embed = tensors.get("model.embed_tokens.weight"); // shape [vocab, hidden]
 * ```
 */
export function parseSafetensors(bytes: Uint8Array, file = SINGLE_FILE): SafetensorsFile {
  const { dataStart, entries, metadata } = parseHeader(
    bytes,
    headerLength(bytes, bytes.length, file),
    bytes.length,
    file,
  );
  const tensors = new Map<string, WeightTensor>();
  for (const { name, dtype, shape, begin, end } of entries) {
    tensors.set(name, {
      name,
      dtype,
      shape,
      byteLength: end - begin,
      bytes: bytes.subarray(dataStart + begin, dataStart + end),
    });
  }
  return { tensors, metadata };
}

/** The header length a file's first 8 bytes declare, checked against the file's size. */
function headerLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8 || prefix.length < 8) {
    throw formatError(`${file} is truncated: ${fileSize} bytes, less than its 8-byte header length`);
  }
  const declared = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    throw formatError(
      `${file} declares a ${declared}-byte header, more than the ${MAX_HEADER_BYTES} allowed`,
    );
  }
  const length = Number(declared);
  if (8 + length > fileSize) {
    throw formatError(
      `${file} declares a ${length}-byte header but only ${fileSize - 8} bytes follow its length`,
    );
  }
  return length;
}

interface HeaderEntry {
  name: string;
  dtype: WeightDType;
  shape: number[];
  /** Byte offsets relative to the data region. */
  begin: number;
  end: number;
}

/**
 * Validates the header held in `prefix` (the file's first `8 + length` bytes at least)
 * against a file of `fileSize` bytes.
 */
function parseHeader(
  prefix: Uint8Array,
  length: number,
  fileSize: number,
  file: string,
): { dataStart: number; entries: HeaderEntry[]; metadata: Record<string, string> } {
  const dataStart = 8 + length;
  const header = parseHeaderJson(prefix.subarray(8, dataStart), file);
  const dataLength = fileSize - dataStart;

  const metadata = parseMetadata(header.__metadata__, file);
  const entries: HeaderEntry[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    entries.push({ name, ...parseEntry(name, entry, dataLength, file) });
  }

  const spans = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < spans.length; i++) {
    const [previous, next] = [spans[i - 1], spans[i]];
    if (next.begin < previous.end) {
      throw formatError(
        `${file}: tensor "${next.name}" (bytes ${next.begin}..${next.end}) overlaps tensor "${previous.name}" ` +
          `(bytes ${previous.begin}..${previous.end})`,
      );
    }
  }
  return { dataStart, entries, metadata };
}

function parseHeaderJson(headerBytes: Uint8Array, file: string): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
  } catch {
    throw formatError(`${file}: the header is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    throw formatError(`${file}: the header is not valid JSON: ${(error as Error).message}`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw formatError(`${file}: the header must be a JSON object, got ${describeValue(header)}`);
  }
  return header as Record<string, unknown>;
}

function parseMetadata(metadata: unknown, file: string): Record<string, string> {
  if (metadata === undefined) return {};
  const isStringMap = metadata !== null && typeof metadata === "object" && !Array.isArray(metadata) &&
    Object.values(metadata).every((v) => typeof v === "string");
  if (!isStringMap) {
    throw formatError(`${file}: __metadata__ must map strings to strings, got ${describeValue(metadata)}`);
  }
  return { ...(metadata as Record<string, string>) };
}

function parseEntry(
  name: string,
  entry: unknown,
  dataLength: number,
  file: string,
): { dtype: WeightDType; shape: number[]; begin: number; end: number } {
  const where = `${file}: tensor "${name}"`;
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
    throw formatError(`${where}: expected {dtype, shape, data_offsets}, got ${describeValue(entry)}`);
  }
  const { dtype: fileDType, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof fileDType !== "string") {
    throw formatError(`${where}: dtype must be a string, got ${describeValue(fileDType)}`);
  }
  const dtype = Object.hasOwn(FILE_DTYPES, fileDType) ? FILE_DTYPES[fileDType] : undefined;
  if (dtype === undefined) {
    throw formatError(
      `${where} has dtype ${fileDType}, which lukv does not read (supported: ${
        Object.keys(FILE_DTYPES).join(", ")
      })`,
    );
  }
  if (!Array.isArray(shape) || !shape.every((n) => Number.isSafeInteger(n) && n >= 0)) {
    throw formatError(`${where}: shape must be a list of non-negative integers, got ${describeValue(shape)}`);
  }
  const count = shape.reduce((a: number, b: number) => a * b, 1);
  if (!Number.isSafeInteger(count * DTYPES[dtype].bytes)) {
    throw formatError(`${where}: shape ${describeValue(shape)} is too large`);
  }
  const isOffsetPair = Array.isArray(offsets) && offsets.length === 2 &&
    offsets.every((n) => Number.isSafeInteger(n) && n >= 0);
  if (!isOffsetPair) {
    throw formatError(
      `${where}: data_offsets must be [begin, end] byte offsets, got ${describeValue(offsets)}`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataLength) {
    throw formatError(
      `${where}: data_offsets [${begin}, ${end}] lie outside the ${dataLength}-byte data region`,
    );
  }
  if (end - begin !== count * DTYPES[dtype].bytes) {
    throw formatError(
      `${where}: shape ${describeValue(shape)} of ${fileDType} needs ${count * DTYPES[dtype].bytes} bytes ` +
        `but data_offsets [${begin}, ${end}] span ${end - begin}`,
    );
  }
  return { dtype, shape: shape as number[], begin, end };
}

/**
 * The elements of a tensor as float32 (f16 through `Float16Array`, bf16 by a 16-bit
 * shift). For an f32 tensor whose bytes are 4-byte aligned the result is a view that
 * shares memory with the file bytes; otherwise it is a fresh array.
 *
 * @example
 * ```ts
 * const norm = toFloat32(checkpoint.get("model.norm.weight", [hidden])); // Float32Array [hidden]
 * ```
 */
export function toFloat32(tensor: WeightTensor): Float32Array {
  switch (tensor.dtype) {
    case "f32":
      return hostView(tensor) as Float32Array;
    case "f16": {
      const bytes = aligned(tensor.bytes, 2);
      return new Float32Array(new Float16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2));
    }
    case "bf16": {
      const words = hostView(tensor) as Uint16Array;
      const out = new Uint32Array(words.length);
      for (let i = 0; i < words.length; i++) out[i] = words[i] << 16;
      return new Float32Array(out.buffer);
    }
  }
}

/**
 * The elements of a tensor in their file dtype: a Float32Array for f32, the raw 16-bit
 * words (Uint16Array) for f16 and bf16, ready to upload without conversion. A view of
 * the file bytes when they are aligned, otherwise a copy.
 *
 * @example
 * ```ts
 * const w = checkpoint.get("lm_head.weight", [vocab, hidden]);
 * const words = hostView(w); // Uint16Array [vocab * hidden] when w.dtype is "bf16"
 * ```
 */
export function hostView(tensor: WeightTensor): HostArray<WeightDType> {
  const size = DTYPES[tensor.dtype].bytes;
  const bytes = aligned(tensor.bytes, size);
  return hostArray(tensor.dtype, bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.length / size);
}

function aligned(bytes: Uint8Array, size: number): Uint8Array {
  return bytes.byteOffset % size === 0 ? bytes : bytes.slice();
}

/**
 * The weights of a Hugging Face model folder: `model.safetensors`, or the shards listed
 * by `model.safetensors.index.json`. Opening reads and validates every file's header
 * only; tensors stay on disk until a loader maps them (`Device.mapFile`) or
 * {@linkcode Checkpoint.read}s them. `get` checks names and shapes and remembers which
 * tensors were used, so a loader can report tensors it did not expect.
 *
 * @example
 * ```ts
 * const checkpoint = await Checkpoint.open("models/tiny");
 * const q = checkpoint.get("model.layers.0.self_attn.q_proj.weight", [heads * headDim, hidden]);
 * const values = toFloat32(checkpoint.read(q)); // Float32Array [heads * headDim * hidden]
 * if (checkpoint.unused().length > 0) console.warn("unused:", checkpoint.unused());
 * ```
 */
export class Checkpoint {
  /** The folder the checkpoint was read from. */
  readonly dir: string;
  readonly #tensors: Map<string, StoredTensor>;
  readonly #used = new Set<string>();

  private constructor(dir: string, tensors: Map<string, StoredTensor>) {
    this.dir = dir;
    this.#tensors = tensors;
  }

  /**
   * Reads and validates the headers of the checkpoint of `dir`. A sharded index must
   * name existing shard files inside `dir`, and every tensor it maps must be in its shard.
   *
   * @example
   * ```ts
   * const checkpoint = await Checkpoint.open("models/Llama-3.2-1B");
   * ```
   */
  static async open(dir: string): Promise<Checkpoint> {
    const single = await readHeader(dir, SINGLE_FILE);
    if (single !== undefined) return new Checkpoint(dir, single);
    const indexBytes = await readOptional(dir, INDEX_FILE);
    if (indexBytes === undefined) {
      throw formatError(`${dir} holds neither ${SINGLE_FILE} nor ${INDEX_FILE}`);
    }
    const weightMap = parseIndex(indexBytes);
    const shards = new Map<string, Map<string, StoredTensor>>();
    for (const shard of new Set(Object.values(weightMap))) {
      const tensors = await readHeader(dir, shard);
      if (tensors === undefined) {
        throw formatError(`${INDEX_FILE} names shard ${shard}, which is missing from ${dir}`);
      }
      shards.set(shard, tensors);
    }
    const tensors = new Map<string, StoredTensor>();
    for (const [name, shard] of Object.entries(weightMap)) {
      const tensor = shards.get(shard)!.get(name);
      if (tensor === undefined) {
        throw formatError(`${INDEX_FILE} maps tensor "${name}" to ${shard}, which does not contain it`);
      }
      tensors.set(name, tensor);
    }
    return new Checkpoint(dir, tensors);
  }

  /**
   * Every tensor name, sorted.
   *
   * @example
   * ```ts
   * checkpoint.names().filter((n) => n.startsWith("model.layers.0."));
   * ```
   */
  names(): string[] {
    return [...this.#tensors.keys()].sort();
  }

  /**
   * Whether the checkpoint holds `name` (e.g. `lm_head.weight`, absent with tied embeddings).
   *
   * @example
   * ```ts
   * const head = checkpoint.has("lm_head.weight") ? "lm_head.weight" : "model.embed_tokens.weight";
   * ```
   */
  has(name: string): boolean {
    return this.#tensors.has(name);
  }

  /**
   * The file (inside {@linkcode Checkpoint.dir}) that holds `name`, or undefined.
   *
   * @example
   * ```ts
   * checkpoint.fileOf("model.norm.weight"); // "model-00002-of-00002.safetensors"
   * ```
   */
  fileOf(name: string): string | undefined {
    return this.#tensors.get(name)?.file;
  }

  /**
   * The tensor `name` (where it lies, not its bytes), marked as used. Missing, or (with
   * `expectedShape`) of another shape: a LukvError (FORMAT) naming the tensor and its file.
   *
   * @example
   * ```ts
   * const embed = checkpoint.get("model.embed_tokens.weight", [vocab, hidden]);
   * ```
   */
  get(name: string, expectedShape?: readonly number[]): StoredTensor {
    const tensor = this.#tensors.get(name);
    if (tensor === undefined) {
      throw formatError(`tensor "${name}" is missing from the checkpoint in ${this.dir}`);
    }
    const sameShape = expectedShape === undefined ||
      (expectedShape.length === tensor.shape.length && expectedShape.every((n, i) => n === tensor.shape[i]));
    if (!sameShape) {
      throw formatError(
        `tensor "${name}" in ${tensor.file} has shape [${tensor.shape.join(", ")}], expected [${
          expectedShape!.join(", ")
        }]`,
      );
    }
    this.#used.add(name);
    return tensor;
  }

  /**
   * A tensor's bytes, read from its file in one call. A file that changed since
   * {@linkcode Checkpoint.open} and now ends early is a LukvError (FORMAT).
   *
   * @example
   * ```ts
   * const norm = toFloat32(checkpoint.read(checkpoint.get("model.norm.weight", [hidden])));
   * ```
   */
  read(tensor: StoredTensor): WeightTensor {
    using file = openFile(tensor.path, tensor.file, this.dir);
    return { ...tensor, bytes: readAt(file, tensor.offset, tensor.byteLength, tensor.file) };
  }

  /**
   * The weights' fingerprint (see {@linkcode weightsFingerprint}): 64 hex digits that
   * change whenever the weights are retrained. LU-KV profiles record it. It reads a few
   * slices of each tensor, not the whole files.
   *
   * @example
   * ```ts
   * const fingerprint = await checkpoint.fingerprint();
   * ```
   */
  async fingerprint(): Promise<string> {
    const files = new Map<string, Deno.FsFile>();
    try {
      return await weightsFingerprint(this.#tensors.values(), (tensor, at, length) => {
        let file = files.get(tensor.path);
        if (file === undefined) files.set(tensor.path, file = openFile(tensor.path, tensor.file, this.dir));
        return readAt(file, tensor.offset + at, length, tensor.file);
      });
    } finally {
      for (const file of files.values()) file.close();
    }
  }

  /**
   * Names of the tensors never fetched with `get`, sorted: after loading a model, the
   * weights its architecture did not expect.
   *
   * @example
   * ```ts
   * const extra = checkpoint.unused(); // e.g. ["model.layers.0.self_attn.rotary_emb.inv_freq"]
   * ```
   */
  unused(): string[] {
    return this.names().filter((name) => !this.#used.has(name));
  }
}

/** The tensors a safetensors file's header describes, or undefined when the file does not exist. */
async function readHeader(dir: string, name: string): Promise<Map<string, StoredTensor> | undefined> {
  const path = joinPath(dir, name);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw formatError(`${name} in ${dir} cannot be read: ${(error as Error).message}`);
  }
  using _ = file;
  const size = (await file.stat()).size;
  const length = headerLength(readAt(file, 0, Math.min(8, size), name), size, name);
  const prefix = readAt(file, 0, 8 + length, name);
  const { dataStart, entries } = parseHeader(prefix, length, size, name);
  return new Map(entries.map(({ name: tensor, dtype, shape, begin, end }) => [tensor, {
    name: tensor,
    dtype,
    shape,
    byteLength: end - begin,
    file: name,
    path,
    offset: dataStart + begin,
  }]));
}

function openFile(path: string, name: string, dir: string): Deno.FsFile {
  try {
    return Deno.openSync(path);
  } catch (error) {
    throw formatError(`${name} in ${dir} cannot be read: ${(error as Error).message}`);
  }
}

/** `length` bytes of `file` from `offset`, read until complete; an early end is a FORMAT error. */
function readAt(file: Deno.FsFile, offset: number, length: number, name: string): Uint8Array {
  const out = new Uint8Array(length);
  file.seekSync(offset, Deno.SeekMode.Start);
  for (let at = 0; at < length;) {
    const read = file.readSync(out.subarray(at));
    if (read === null) {
      throw formatError(
        `${name} ends at byte ${offset + at}, before the ${length} bytes expected from ${offset}`,
      );
    }
    at += read;
  }
  return out;
}

async function readOptional(dir: string, name: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(joinPath(dir, name));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw formatError(`${name} in ${dir} cannot be read: ${(error as Error).message}`);
  }
}

function parseIndex(bytes: Uint8Array): Record<string, string> {
  let index: unknown;
  try {
    index = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw formatError(`${INDEX_FILE} is not valid JSON: ${(error as Error).message}`);
  }
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (weightMap === null || typeof weightMap !== "object" || Array.isArray(weightMap)) {
    throw formatError(`${INDEX_FILE}: field \`weight_map\` must map tensor names to shard files`);
  }
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== "string" || !isPlainRelativePath(shard)) {
      throw formatError(
        `${INDEX_FILE}: tensor "${name}" maps to ${describeValue(shard)}, not a shard file inside the folder`,
      );
    }
  }
  return weightMap as Record<string, string>;
}

function isPlainRelativePath(path: string): boolean {
  if (path === "" || /^([\\/]|[A-Za-z]:)/.test(path)) return false;
  return path.split(/[\\/]/).every((part) => part !== "" && part !== "." && part !== "..");
}
