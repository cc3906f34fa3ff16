/** Compressing a cache that exists: a dense prefill into a ragged cache, or a ragged cache again during decoding. */

import type { DenseKvCache } from "../cache/dense.ts";
import { RaggedKvCache } from "../cache/ragged.ts";
import type { LayerSelection, Press } from "../press/press.ts";

/**
 * Compresses the first `length` tokens of every layer of a dense cache with `press` at
 * `ratio`, from each layer's scores `[kvHeads, length]`, into a new ragged cache with
 * `growth` free rows per head. The dense cache is left intact, so one scored prefill
 * serves many presses and ratios.
 *
 * @example
 * ```ts
 * using ragged = compressDense(done.cache, context.length, scores, makePress("adakv-snapkv"), 0.8, 64).cache;
 * ```
 */
export function compressDense(
  dense: DenseKvCache,
  length: number,
  scores: readonly Float32Array[],
  press: Press,
  ratio: number,
  growth: number,
): { cache: RaggedKvCache; selections: LayerSelection[] } {
  const { layers, kvHeads } = dense.shape;
  if (!Number.isSafeInteger(length) || length < 1 || length > dense.length) {
    throw new RangeError(`cannot compress ${length} tokens of a cache holding ${dense.length}`);
  }
  const cache = new RaggedKvCache(dense.device, dense.shape, growth);
  try {
    const selections = scores.map((layerScores, l) => {
      const selection = press.select(l, layerScores, { layers, kvHeads, length }, ratio);
      cache.compactLayer(l, dense.keys[l], dense.values[l], selection.kept);
      return selection;
    });
    cache.advance(length);
    return { cache, selections };
  } catch (error) {
    cache.close();
    throw error;
  }
}
