/** A weights fingerprint: which trained weights a derived artefact (an LU-KV profile) belongs to. */

import { sha256Hex } from "../backend/sha256.ts";
import type { TensorInfo } from "./safetensors.ts";

/** Tensors up to this many bytes are hashed whole; larger ones by {@linkcode SLICES} evenly spaced slices. */
const WHOLE_BYTES = 64 * 1024;
const SLICES = 64;
const SLICE_BYTES = 1024;

/**
 * SHA-256 (hex) over every tensor's name, dtype and shape, and its bytes: all of them up to
 * 64 KiB, else 64 evenly spaced 1 KiB slices (so a multi-gigabyte checkpoint costs a few
 * MiB of hashing, not a full read). Retraining or fine-tuning rewrites every element of the
 * tensors it touches, so any slice of them changes; the fingerprint tells a stale profile
 * from a fresh one, it is not an integrity check of the file. Tensor order does not matter.
 *
 * @example
 * ```ts
 * const { tensors } = parseSafetensors(await Deno.readFile("models/tiny/model.safetensors"));
 * await weightsFingerprint(tensors.values(), (t, at, n) => t.bytes.subarray(at, at + n)); // "3f9a…"
 * ```
 *
 * @param bytesAt reads `length` bytes of a tensor from byte `at` (from memory or a file)
 */
export async function weightsFingerprint<T extends TensorInfo>(
  tensors: Iterable<T>,
  bytesAt: (tensor: T, at: number, length: number) => Uint8Array,
): Promise<string> {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const tensor of sorted) {
    const { name, dtype, shape, byteLength } = tensor;
    parts.push(encoder.encode(`${JSON.stringify([name, dtype, shape, byteLength])}\n`));
    if (byteLength <= WHOLE_BYTES) {
      parts.push(bytesAt(tensor, 0, byteLength));
      continue;
    }
    for (let i = 0; i < SLICES; i++) {
      const at = Math.floor((i * (byteLength - SLICE_BYTES)) / (SLICES - 1));
      parts.push(bytesAt(tensor, at, SLICE_BYTES));
    }
  }
  return await sha256Hex(parts);
}
