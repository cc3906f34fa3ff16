/** The SnapKV scorer: attention from the prompt's last queries, smoothed by pooling. */

import { raiseToTop, required, type Scorer } from "./scorer.ts";

/** SnapKV's settings. */
export interface SnapKvParams {
  /**
   * Observation window: the last prompt queries whose attention is averaged (default 32,
   * the SnapKV paper's and official code's `window_size`; kvpress's SnapKVPress uses 64).
   */
  window?: number;
  /**
   * Pooling kernel along the sequence, odd (default 7, SnapKV's official `kernel_size`;
   * kvpress's SnapKVPress uses 5).
   */
  kernel?: number;
  /**
   * `"max"` (default, SnapKV's official `pooling="maxpool"`) or `"avg"` (kvpress's
   * `avg_pool1d`, zero padding counted, as `count_include_pad` does).
   */
  pooling?: string;
}

/**
 * SnapKV (Li et al., 2024): per query head, the softmax attention of the last `window`
 * prompt queries to each earlier key, averaged over the window and pooled along the
 * sequence with `kernel` (same padding); then averaged over the query heads of each GQA
 * group, as kvpress does (SnapKV issue 22). Pooling before the group average matters for
 * max pooling, which does not commute with it. The window's own tokens rank first.
 *
 * @example
 * ```ts
 * const scorer = snapKvScorer({ window: 64, kernel: 5, pooling: "avg" }); // kvpress's settings
 * ```
 */
export function snapKvScorer(params: SnapKvParams = {}): Scorer {
  const { window = 32, kernel = 7, pooling = "max" } = params;
  if (!Number.isSafeInteger(window) || window < 1) {
    throw new RangeError(`snapkv window must be a positive integer, got ${window}`);
  }
  if (!Number.isSafeInteger(kernel) || kernel < 1 || kernel % 2 === 0) {
    throw new RangeError(`snapkv kernel must be a positive odd integer, got ${kernel}`);
  }
  if (pooling !== "max" && pooling !== "avg") {
    throw new RangeError(`snapkv pooling must be "max" or "avg", got ${JSON.stringify(pooling)}`);
  }
  return {
    name: "snapkv",
    needs: ["window-attention"],
    windowQueries: window,
    params: { window, kernel, pooling },
    score: ({ kvHeads, heads, length, windowAttention, windowQueries }) => {
      const attention = required(windowAttention, "snapkv", "the window attention of the prompt");
      const queries = required(windowQueries, "snapkv", "the window's query count");
      const group = heads / kvHeads, half = (kernel - 1) / 2;
      const out = new Float32Array(kvHeads * length);
      const observed = length - queries;
      for (let q = 0; q < heads; q++) {
        const row = q * length, into = Math.floor(q / group) * length;
        for (let j = 0; j < observed; j++) {
          let pooled = pooling === "max" ? -Infinity : 0;
          for (let i = Math.max(0, j - half); i <= Math.min(observed - 1, j + half); i++) {
            pooled = pooling === "max" ? Math.max(pooled, attention[row + i]) : pooled + attention[row + i];
          }
          out[into + j] += (pooling === "max" ? pooled : pooled / kernel) / (queries * group);
        }
      }
      return raiseToTop(out, length, (j) => j >= observed);
    },
  };
}
