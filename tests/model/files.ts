/** Test helpers: safetensors files written byte by byte (including ones whose header lies), temporary model folders. */

/** One tensor to write: the dtype as the file spells it, its shape and its raw bytes. */
export interface TensorSpec {
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

/**
 * A safetensors file from a header (an object, serialised as JSON, or raw text or bytes) and the
 * data region; the header is padded with spaces to a multiple of 8 bytes, as the
 * reference writer does. `declaredLength` overrides the 8-byte length prefix.
 */
export function safetensorsBytes(header: unknown, data: Uint8Array, declaredLength?: bigint): Uint8Array {
  let headerBytes = header instanceof Uint8Array
    ? header
    : new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const padded = new Uint8Array(Math.ceil(headerBytes.length / 8) * 8).fill(0x20);
  padded.set(headerBytes);
  headerBytes = padded;
  const out = new Uint8Array(8 + headerBytes.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  out.set(data, 8 + headerBytes.length);
  return out;
}

/** A well-formed safetensors file: tensors laid out back to back in the given order. */
export function buildSafetensors(
  tensors: Record<string, TensorSpec>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = metadata === undefined ? {} : { __metadata__: metadata };
  let offset = 0;
  for (const [name, { dtype, shape, data }] of Object.entries(tensors)) {
    header[name] = { dtype, shape, data_offsets: [offset, offset + data.length] };
    offset += data.length;
  }
  const data = new Uint8Array(offset);
  offset = 0;
  for (const { data: bytes } of Object.values(tensors)) {
    data.set(bytes, offset);
    offset += bytes.length;
  }
  return safetensorsBytes(header, data);
}

/** Little-endian float32 bytes. */
export function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

/** Little-endian float16 bytes. */
export function f16Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float16Array(values).buffer);
}

/** Writes `files` (name to bytes or text) into a fresh temporary folder, runs `fn` on it, then removes it. */
export async function withFolder(
  files: Record<string, Uint8Array | string>,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lukv_model_test_" });
  try {
    for (const [name, content] of Object.entries(files)) {
      if (typeof content === "string") await Deno.writeTextFile(`${dir}/${name}`, content);
      else await Deno.writeFile(`${dir}/${name}`, content);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Little-endian bfloat16 bytes (the high half of each float32, truncated). */
export function bf16Bytes(values: number[]): Uint8Array {
  const words = new Uint32Array(new Float32Array(values).buffer);
  return new Uint8Array(Uint16Array.from(words, (w) => w >>> 16).buffer);
}
