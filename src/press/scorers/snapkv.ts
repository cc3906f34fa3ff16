/** The SnapKV scorer: attention from the prompt's last queries, smoothed by max-pooling. */

import { raiseToTop, required, type Scorer } from "./scorer.ts";

/** SnapKV's settings. */
export interface SnapKvParams {
  /**
   * Observation window: the last prompt queries whose attention is summed (default 32,
   * the SnapKV paper's and official code's `window_size`; kvpress's SnapKVPress uses 64).
   */
  window?: number;
  /**
   * Max-pooling kernel along the sequence, odd (default 7, SnapKV's official
   * `kernel_size`; kvpress's SnapKVPress uses 5).
   */
  kernel?: number;
}

/**
 * SnapKV (Li et al., 2024): the softmax attention of the last `window` prompt queries
 * to each earlier key, summed over the window and the GQA group, max-pooled along the
 * sequence with `kernel` (same padding), divided by the queries summed. The window's own
 * tokens rank first.
 *
 * @example
 * ```ts
 * const scorer = snapKvScorer({ window: 32, kernel: 7 });
 * ```
 */
export function snapKvScorer(params: SnapKvParams = {}): Scorer {
  const { window = 32, kernel = 7 } = params;
  if (!Number.isSafeInteger(window) || window < 1) {
    throw new RangeError(`snapkv window must be a positive integer, got ${window}`);
  }
  if (!Number.isSafeInteger(kernel) || kernel < 1 || kernel % 2 === 0) {
    throw new RangeError(`snapkv kernel must be a positive odd integer, got ${kernel}`);
  }
  return {
    name: "snapkv",
    needs: ["window-attention"],
    windowQueries: window,
    params: { window, kernel },
    score: ({ kvHeads, heads, length, windowAttention, windowQueries }) => {
      const attention = required(windowAttention, "snapkv", "the window attention of the prompt");
      const queries = required(windowQueries, "snapkv", "the window's query count");
      const group = heads / kvHeads, half = (kernel - 1) / 2;
      const out = new Float32Array(kvHeads * length);
      const observed = length - queries;
      for (let h = 0; h < kvHeads; h++) {
        const row = h * length;
        for (let j = 0; j < observed; j++) {
          let best = -Infinity;
          for (let i = Math.max(0, j - half); i <= Math.min(observed - 1, j + half); i++) {
            best = Math.max(best, attention[row + i]);
          }
          out[row + j] = best / (queries * group);
        }
      }
      return raiseToTop(out, length, (j) => j >= observed);
    },
  };
}
