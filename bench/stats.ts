/**
 * The summaries every interleaved-rounds bench reports: the median of per-round values and
 * "median (min-max)" with their range. Medians of an even count average the middle two.
 *
 * @module
 */

/**
 * The median of `xs` (not empty).
 *
 * @example
 * ```ts
 * median([3, 1, 2]); // 2
 * median([4, 1, 2, 3]); // 2.5
 * ```
 */
export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b), mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * `"median (min-max)"` of `xs` with `digits` decimals.
 *
 * @example
 * ```ts
 * medianRange([1.02, 0.97, 1.1], 2); // "1.02 (0.97-1.10)"
 * ```
 */
export function medianRange(xs: readonly number[], digits: number): string {
  const f = (x: number) => x.toFixed(digits);
  return `${f(median(xs))} (${f(Math.min(...xs))}-${f(Math.max(...xs))})`;
}
