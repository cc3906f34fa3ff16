/** One layer of a press applied to scores already computed: protect, allocate, select, and compact into a ragged cache. */

import type { Tensor } from "../backend/tensor.ts";
import type { KeptTokens, RaggedKvCache } from "../cache/ragged.ts";
import type { Press, PressShape } from "./press.ts";
import { keptIndices } from "./select.ts";

/** What {@linkcode compactScoredLayer} chose for one layer. */
export interface LayerCompaction {
  /** Keep counts `[kvHeads]`. */
  counts: Int32Array;
  /** The kept positions of each head. */
  kept: KeptTokens;
}

/**
 * Compresses layer `l` of a dense cache into `ragged` with `press` at `ratio`, from the
 * layer's scores `[kvHeads, length]` (higher = keep) of its first `shape.length` tokens:
 * the press's protected positions are raised to +Infinity (on a copy: `scores` is left as
 * it was, so several presses can share one scorer's scores), the press allocates the keep
 * counts, {@linkcode keptIndices} picks the tokens, and the ragged layer copies them out of
 * the dense keys and values `[kvHeads, capacity, headDim]`, which stay intact. This is
 * what the compressing prefill does at the end of each layer, for callers that score a
 * dense prefill once and compress it several ways (the evaluation harness).
 *
 * @example
 * ```ts
 * using ragged = new RaggedKvCache(dev, { layers, kvHeads, headDim }, 64);
 * for (let l = 0; l < layers; l++) {
 *   compactScoredLayer(ragged, l, dense.keys[l], dense.values[l], scores[l], press, 0.8, { layers, kvHeads, length });
 * }
 * ragged.advance(length);
 * ```
 */
export function compactScoredLayer(
  ragged: RaggedKvCache,
  l: number,
  keys: Tensor<"f32">,
  values: Tensor<"f32">,
  scores: Float32Array,
  press: Press,
  ratio: number,
  shape: PressShape,
): LayerCompaction {
  const { kvHeads, length } = shape;
  if (scores.length !== kvHeads * length) {
    throw new RangeError(`layer ${l}: ${scores.length} scores, expected ${kvHeads} heads x ${length} tokens`);
  }
  const protectedScores = Float32Array.from(scores);
  const { sink, window } = press.protections;
  for (let h = 0; h < kvHeads; h++) {
    for (let j = 0; j < length; j++) {
      if (j < sink || j >= length - window) protectedScores[h * length + j] = Infinity;
    }
  }
  const counts = press.allocate(l, protectedScores, shape, ratio);
  const kept = keptIndices(protectedScores, counts, length, press.protections);
  ragged.compactLayer(l, keys, values, kept);
  return { counts, kept };
}
