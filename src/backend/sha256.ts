/** SHA-256 as lowercase hex: the one digest lukv writes (source hashes, weights fingerprints). */

/**
 * SHA-256 of the concatenation of `parts`, as 64 lowercase hex digits.
 *
 * @example
 * ```ts
 * await sha256Hex([new TextEncoder().encode("abc")]); // "ba7816bf…"
 * ```
 */
export async function sha256Hex(parts: readonly Uint8Array[]): Promise<string> {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
