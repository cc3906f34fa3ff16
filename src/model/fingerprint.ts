/** A weights fingerprint: which trained weights a derived artefact (an LU-KV profile) belongs to. */

import { sha256Hex } from "../backend/sha256.ts";
import type { WeightTensor } from "./safetensors.ts";

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
 * await weightsFingerprint(tensors.values()); // "3f9a…" (64 hex digits)
 * ```
 */
export async function weightsFingerprint(tensors: Iterable<WeightTensor>): Promise<string> {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const { name, dtype, shape, bytes } of sorted) {
    parts.push(encoder.encode(`${JSON.stringify([name, dtype, shape, bytes.length])}\n`));
    if (bytes.length <= WHOLE_BYTES) {
      parts.push(bytes);
      continue;
    }
    for (let i = 0; i < SLICES; i++) {
      const at = Math.floor((i * (bytes.length - SLICE_BYTES)) / (SLICES - 1));
      parts.push(bytes.subarray(at, at + SLICE_BYTES));
    }
  }
  return await sha256Hex(parts);
}
