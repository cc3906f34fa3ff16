/** The SnapKV scorer: attention from the prompt's last queries, smoothed by max-pooling. */

import type { Scorer } from "./scorer.ts";

/**
 * SnapKV (Li et al., 2024): the softmax attention of the last `window` prompt queries
 * to each earlier key, averaged over the window and the GQA group, then max-pooled
 * along the sequence with `kernel` (same padding). The window's own tokens get the
 * maximum score.
 *
 * @example
 * ```ts
 * const scorer = snapKvScorer({ window: 32, kernel: 7 });
 * ```
 */
export function snapKvScorer(options: { window?: number; kernel?: number } = {}): Scorer {
  const { window = 32, kernel = 7 } = options;
  if (!Number.isSafeInteger(window) || window < 1) {
    throw new RangeError(`window must be a positive integer, got ${window}`);
  }
  if (!Number.isSafeInteger(kernel) || kernel < 1 || kernel % 2 === 0) {
    throw new RangeError(`kernel must be a positive odd integer, got ${kernel}`);
  }
  return {
    name: "snapkv",
    needs: ["window-attention"],
    windowQueries: window,
    params: { window, kernel },
    score: ({ kvHeads, heads, length, windowAttention, windowQueries }) => {
      if (!windowAttention || !windowQueries) {
        throw new RangeError("snapkv needs the window attention of the prompt");
      }
      const group = heads / kvHeads, half = (kernel - 1) / 2;
      const out = new Float32Array(kvHeads * length);
      const observed = length - windowQueries;
      for (let h = 0; h < kvHeads; h++) {
        const row = h * length;
        for (let j = 0; j < length; j++) {
          if (j >= observed) {
            out[row + j] = Infinity;
            continue;
          }
          let best = -Infinity;
          for (let i = Math.max(0, j - half); i <= Math.min(observed - 1, j + half); i++) {
            best = Math.max(best, windowAttention[row + i]);
          }
          out[row + j] = best / (windowQueries * group);
        }
      }
      return out;
    },
  };
}
