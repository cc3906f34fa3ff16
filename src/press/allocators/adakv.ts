/** The AdaKV allocator: within each layer, the heads share a budget by a top-k over all their scores. */

import type { HeadTable } from "../../lukv/tables.ts";
import { meanKeep } from "./allocator.ts";

/**
 * AdaKV (Feng et al., 2024) budgets with its safeguard, as kvpress applies them.
 *
 * Per layer, with `B = round((1 - ratio) * T)`, every head first keeps its
 * `floor(alpha * B)` highest-scored tokens; the rest of the layer's `H * B` budget goes
 * to the highest scores left over all heads of the layer. Order: score descending,
 * then earlier position, then lower head. Scores may be infinite (protected tokens),
 * never NaN.
 *
 * @param scores `[L, H, T]` scorer scores, higher = keep
 * @param options `alpha` in [0, 1]: the share of the mean budget every head is guaranteed (default 0.2)
 * @returns keep counts `[L * H]`; each layer's counts sum to `H * B`
 * @example
 * ```ts
 * const keep = adaKvKeep(snapScores, 0.8); // heads with peaked scores get less
 * ```
 */
export function adaKvKeep(
  scores: HeadTable,
  compressionRatio: number,
  options: { alpha?: number } = {},
): Int32Array {
  const { alpha = 0.2 } = options;
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`alpha must lie in [0, 1], got ${alpha}`);
  const budget = meanKeep(scores, compressionRatio);
  const { layers, heads, length, data } = scores;
  const safe = Math.floor(alpha * budget);
  const keep = new Int32Array(layers * heads);
  const order = new Int32Array(heads * length);
  const seen = new Int32Array(heads);
  for (let l = 0; l < layers; l++) {
    const base = l * heads * length;
    for (let i = 0; i < order.length; i++) order[i] = i;
    // Index i = h * T + j; a head's tokens keep their own (score, position) order inside
    // the layer order, so a head's first `safe` tokens met below are its safeguard.
    order.sort((a, b) =>
      data[base + b] - data[base + a] || a % length - b % length ||
      Math.floor(a / length) - Math.floor(b / length)
    );
    seen.fill(0);
    let shared = heads * (budget - safe);
    for (let i = 0; i < order.length && shared > 0; i++) {
      const h = Math.floor(order[i] / length);
      if (seen[h]++ < safe) continue; // inside the head's safeguard, granted below
      keep[l * heads + h]++;
      shared--;
    }
    for (let h = 0; h < heads; h++) keep[l * heads + h] += safe;
  }
  return keep;
}
