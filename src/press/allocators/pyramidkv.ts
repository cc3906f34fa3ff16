/** The PyramidKV allocator: layer budgets that shrink linearly from the bottom layer to the top. */

import type { HeadTable } from "../../lukv/tables.ts";
import { meanKeep } from "./allocator.ts";

/** PyramidKV's settings (kvpress's PyramidKVPress fields). */
export interface PyramidOptions {
  /**
   * How much smaller the top layer's budget is than the mean, >= 1 (default 20, kvpress
   * `beta`).
   */
  beta?: number;
  /**
   * The always-kept tokens the pyramid leaves room for (default 64, kvpress `window_size`;
   * lukv's presses pass their protected tokens, sink + window).
   */
  window?: number;
}

/**
 * PyramidKV (Cai et al., 2024) budgets, as kvpress computes them.
 *
 * With `B = (1 - ratio) * T` the mean keep per head, the top layer keeps `B / beta` and
 * the bottom layer `2B - B / beta`, layer `l` linearly in between, each rounded. When the
 * bottom layer would keep more than `T - window`, it keeps `T - window` and the top
 * `2B - (T - window)`. When the pyramid still does not fit (`T >= bottom >= top >= window`
 * fails: short contexts or high compression), every layer keeps `round(B)`, as kvpress
 * falls back to SnapKV's uniform budget. Every head of a layer keeps its layer's size.
 *
 * @param scores `[L, H, T]`; only the shape is used
 * @returns keep counts `[L * H]`
 * @example
 * ```ts
 * const keep = pyramidKvKeep(scores, 0.5, { beta: 20, window: 32 }); // layer 0 keeps most
 * ```
 */
export function pyramidKvKeep(
  scores: HeadTable,
  compressionRatio: number,
  options: PyramidOptions = {},
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
 * pyramidLayerSizes(4, 1000, 0.5, { window: 32 }); // [968, 656, 344, 32]
 * pyramidLayerSizes(4, 1000, 0.9, { window: 32 }); // [100, 100, 100, 100]: the pyramid does not fit
 * ```
 */
export function pyramidLayerSizes(
  layers: number,
  length: number,
  compressionRatio: number,
  options: PyramidOptions = {},
): number[] {
  const { beta = 20, window = 64 } = options;
  if (!(beta >= 1) || !Number.isFinite(beta)) {
    throw new RangeError(`beta must be a finite number >= 1, got ${beta}`);
  }
  if (!Number.isSafeInteger(window) || window < 0) {
    throw new RangeError(`window must be a non-negative integer, got ${window}`);
  }
  meanKeep({ layers: 1, heads: 1, length, data: new Float32Array(length) }, compressionRatio);
  const mean = (1 - compressionRatio) * length;
  let top = mean / beta, bottom = 2 * mean - top;
  if (bottom >= length - window) [bottom, top] = [length - window, 2 * mean - (length - window)];
  const clamp = (size: number) => Math.min(length, Math.max(1, Math.round(size)));
  if (!(length >= bottom && bottom >= top && top >= window) || layers === 1) {
    return new Array(layers).fill(clamp(mean));
  }
  const step = (bottom - top) / (layers - 1);
  return Array.from({ length: layers }, (_, l) => clamp(bottom - l * step));
}
