/** The PyramidKV allocator: layer budgets that shrink linearly from the bottom layer to the top. */

import { checkCompressionRatio, type HeadTable } from "../../lukv/tables.ts";
import { meanKeep } from "./allocator.ts";

/**
 * PyramidKV (Cai et al., 2024) budgets, with the formula kvpress uses.
 *
 * With `B = (1 - ratio) * T` the mean keep per head, the top layer keeps
 * `top = B / beta` and the bottom layer `bottom = 2B - top`; layer `l` keeps
 * `bottom - l * (bottom - top) / (L - 1)`, so the mean over layers is `B`. When
 * `bottom` would exceed `T` the pyramid is flattened just enough to fit
 * (`bottom = T`, `top = 2B - T`) instead of falling back to uniform. The layer sizes
 * are rounded by largest remainder (ties: lower layer) so that all layers together
 * keep `round(L * B)` per head; every head of a layer keeps its layer's size, at least 1.
 *
 * @param scores `[L, H, T]`; only the shape is used
 * @param options `beta` >= 1: how much smaller the top layer's budget is than the mean (default 20)
 * @returns keep counts `[L * H]`
 * @example
 * ```ts
 * const keep = pyramidKvKeep(scores, 0.8, { beta: 20 }); // layer 0 keeps most
 * ```
 */
export function pyramidKvKeep(
  scores: HeadTable,
  compressionRatio: number,
  options: { beta?: number } = {},
): Int32Array {
  meanKeep(scores, compressionRatio);
  const { layers, heads, length } = scores;
  const sizes = pyramidLayerSizes(layers, length, compressionRatio, options);
  const keep = new Int32Array(layers * heads);
  for (let l = 0; l < layers; l++) keep.fill(sizes[l], l * heads, (l + 1) * heads);
  return keep;
}

/**
 * The per-head keep count of every layer under {@linkcode pyramidKvKeep}'s formula, from
 * the shape alone (what a press needs when it compresses one layer at a time).
 *
 * @returns `[layers]` keep counts, each in [1, length]
 * @example
 * ```ts
 * pyramidLayerSizes(4, 100, 0.5); // [98, 66, 34, 2]
 * ```
 */
export function pyramidLayerSizes(
  layers: number,
  length: number,
  compressionRatio: number,
  options: { beta?: number } = {},
): number[] {
  const { beta = 20 } = options;
  if (!(beta >= 1) || !Number.isFinite(beta)) {
    throw new RangeError(`beta must be a finite number >= 1, got ${beta}`);
  }
  checkCompressionRatio(compressionRatio);
  const mean = (1 - compressionRatio) * length;
  let top = mean / beta, bottom = 2 * mean - top;
  if (bottom > length) [bottom, top] = [length, 2 * mean - length];
  const ideal = Array.from(
    { length: layers },
    (_, l) => layers === 1 ? mean : bottom - (l * (bottom - top)) / (layers - 1),
  );
  const sizes = ideal.map(Math.floor);
  const byFraction = ideal.map((_, l) => l).sort((a, b) =>
    (ideal[b] - sizes[b]) - (ideal[a] - sizes[a]) || a - b
  );
  const remainder = Math.round(layers * mean) - sizes.reduce((a, b) => a + b, 0);
  for (let rank = 0; rank < remainder; rank++) sizes[byFraction[rank]]++;
  return sizes.map((size) => Math.min(length, Math.max(1, size)));
}
