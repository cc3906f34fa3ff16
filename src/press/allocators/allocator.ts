/** What a budget allocator is: per-head keep counts from prefill scores and a global compression ratio. */

import { checkCompressionRatio, checkHeadTable, type HeadTable } from "../../lukv/tables.ts";

/**
 * Turns scorer scores `[L, H, T]` and a global compression ratio into keep counts
 * `[L * H]` (row-major `[L, H]`), each in [1, T]. The press keeps each head's
 * highest-scored tokens up to its count.
 *
 * @example
 * ```ts
 * const keep: Int32Array = uniformKeep(scores, 0.8);
 * ```
 */
export type Allocator = (scores: HeadTable, compressionRatio: number) => Int32Array;

/**
 * The average keep count per head, `round((1 - ratio) * T)` clamped to [1, T], after
 * checking the scores' shape, that no score is NaN, and the ratio.
 *
 * @example
 * ```ts
 * meanKeep(scores, 0.75); // 256 for T = 1024
 * ```
 */
export function meanKeep(scores: HeadTable, compressionRatio: number): number {
  checkHeadTable(scores, "scores");
  checkCompressionRatio(compressionRatio);
  const nan = scores.data.findIndex(Number.isNaN);
  if (nan >= 0) {
    const { heads, length } = scores;
    const at = `${Math.floor(nan / (heads * length))}, ${Math.floor(nan / length) % heads}, ${nan % length}`;
    throw new RangeError(`scores[${at}] is NaN`);
  }
  return Math.min(scores.length, Math.max(1, Math.round((1 - compressionRatio) * scores.length)));
}
