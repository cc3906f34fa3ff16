/** The uniform allocator: every head keeps the same number of tokens. */

import type { HeadTable } from "../../lukv/tables.ts";
import { meanKeep } from "./allocator.ts";

/**
 * Every head keeps `round((1 - ratio) * T)` tokens (at least 1).
 *
 * @param scores `[L, H, T]`; only the shape is used
 * @returns keep counts `[L * H]`
 * @example
 * ```ts
 * uniformKeep({ layers: 2, heads: 2, length: 100, data: new Float32Array(400) }, 0.75); // Int32Array [25, 25, 25, 25]
 * ```
 */
export function uniformKeep(scores: HeadTable, compressionRatio: number): Int32Array {
  return new Int32Array(scores.layers * scores.heads).fill(meanKeep(scores, compressionRatio));
}
