/** Safetensors files and Hugging Face checkpoint folders (single file or sharded index), fully validated. */

import { DTYPES, type HostArray, hostArray } from "../backend/dtype.ts";
import { LukvError, STATUS } from "../backend/errors.ts";
import { weightsFingerprint } from "./fingerprint.ts";
import { describeValue, joinPath } from "./json_file.ts";

/** The dtypes lukv reads from safetensors files (the float dtypes of `DType`). */
export type WeightDType = "f32" | "f16" | "bf16";

/** One tensor of a safetensors file; `bytes` is a view into the file bytes (no copy). */
export interface WeightTensor {
  /** The tensor's name, e.g. `"model.layers.0.self_attn.q_proj.weight"`. */
  name: string;
  /** Element type (safetensors `F32`, `F16`, `BF16`). */
  dtype: WeightDType;
  /** Row-major extents, e.g. `[out, in]` for a linear weight. */
  shape: number[];
  /** The raw little-endian elements: `product(shape) * sizeof(dtype)` bytes. */
  bytes: Uint8Array;
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
  if (bytes.length < 8) {
    throw formatError(`${file} is truncated: ${bytes.length} bytes, less than its 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    throw formatError(
      `${file} declares a ${declared}-byte header, more than the ${MAX_HEADER_BYTES} allowed`,
    );
  }
  const headerLength = Number(declared);
  if (8 + headerLength > bytes.length) {
    throw formatError(
      `${file} declares a ${headerLength}-byte header but only ${bytes.length - 8} bytes follow its length`,
    );
  }
  const dataStart = 8 + headerLength;
  const header = parseHeaderJson(bytes.subarray(8, dataStart), file);
  const dataLength = bytes.length - dataStart;

  const metadata = parseMetadata(header.__metadata__, file);
  const entries: { name: string; dtype: WeightDType; shape: number[]; begin: number; end: number }[] = [];
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

  const tensors = new Map<string, WeightTensor>();
  for (const { name, dtype, shape, begin, end } of entries) {
    tensors.set(name, { name, dtype, shape, bytes: bytes.subarray(dataStart + begin, dataStart + end) });
  }
  return { tensors, metadata };
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
 * by `model.safetensors.index.json`. Every file is read once and validated on open;
 * `get` checks names and shapes and remembers which tensors were used, so a loader can
 * report tensors it did not expect.
 *
 * @example
 * ```ts
 * const checkpoint = await Checkpoint.open("models/tiny");
 * const q = checkpoint.get("model.layers.0.self_attn.q_proj.weight", [heads * headDim, hidden]);
 * if (checkpoint.unused().length > 0) console.warn("unused:", checkpoint.unused());
 * ```
 */
export class Checkpoint {
  /** The folder the checkpoint was read from. */
  readonly dir: string;
  readonly #tensors: Map<string, { tensor: WeightTensor; file: string }>;
  readonly #used = new Set<string>();

  private constructor(dir: string, tensors: Map<string, { tensor: WeightTensor; file: string }>) {
    this.dir = dir;
    this.#tensors = tensors;
  }

  /**
   * Reads and validates the checkpoint of `dir`. A sharded index must name existing
   * shard files inside `dir`, and every tensor it maps must be in its shard.
   *
   * @example
   * ```ts
   * const checkpoint = await Checkpoint.open("models/Llama-3.2-1B");
   * ```
   */
  static async open(dir: string): Promise<Checkpoint> {
    const single = await readOptional(dir, SINGLE_FILE);
    if (single !== undefined) {
      const tensors = new Map<string, { tensor: WeightTensor; file: string }>();
      for (const [name, tensor] of parseSafetensors(single, SINGLE_FILE).tensors) {
        tensors.set(name, { tensor, file: SINGLE_FILE });
      }
      return new Checkpoint(dir, tensors);
    }
    const indexBytes = await readOptional(dir, INDEX_FILE);
    if (indexBytes === undefined) {
      throw formatError(`${dir} holds neither ${SINGLE_FILE} nor ${INDEX_FILE}`);
    }
    const weightMap = parseIndex(indexBytes);
    const shards = new Map<string, SafetensorsFile>();
    for (const shard of new Set(Object.values(weightMap))) {
      const bytes = await readOptional(dir, shard);
      if (bytes === undefined) {
        throw formatError(`${INDEX_FILE} names shard ${shard}, which is missing from ${dir}`);
      }
      shards.set(shard, parseSafetensors(bytes, shard));
    }
    const tensors = new Map<string, { tensor: WeightTensor; file: string }>();
    for (const [name, shard] of Object.entries(weightMap)) {
      const tensor = shards.get(shard)!.tensors.get(name);
      if (tensor === undefined) {
        throw formatError(`${INDEX_FILE} maps tensor "${name}" to ${shard}, which does not contain it`);
      }
      tensors.set(name, { tensor, file: shard });
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
   * The tensor `name`, marked as used. Missing, or (with `expectedShape`) of another
   * shape: a LukvError (FORMAT) naming the tensor and its file.
   *
   * @example
   * ```ts
   * const embed = checkpoint.get("model.embed_tokens.weight", [vocab, hidden]);
   * ```
   */
  get(name: string, expectedShape?: readonly number[]): WeightTensor {
    const found = this.#tensors.get(name);
    if (found === undefined) {
      throw formatError(`tensor "${name}" is missing from the checkpoint in ${this.dir}`);
    }
    const { tensor, file } = found;
    const sameShape = expectedShape === undefined ||
      (expectedShape.length === tensor.shape.length && expectedShape.every((n, i) => n === tensor.shape[i]));
    if (!sameShape) {
      throw formatError(
        `tensor "${name}" in ${file} has shape [${tensor.shape.join(", ")}], expected [${
          expectedShape!.join(", ")
        }]`,
      );
    }
    this.#used.add(name);
    return tensor;
  }

  /**
   * The weights' fingerprint (see {@linkcode weightsFingerprint}): 64 hex digits that
   * change whenever the weights are retrained. LU-KV profiles record it.
   *
   * @example
   * ```ts
   * const fingerprint = await checkpoint.fingerprint();
   * ```
   */
  fingerprint(): Promise<string> {
    return weightsFingerprint([...this.#tensors.values()].map((entry) => entry.tensor));
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
