/** The H2O scorer: attention accumulated over every prompt query ("heavy hitters"). */

import type { Scorer } from "./scorer.ts";

/**
 * H2O (Zhang et al., 2023): each key's softmax attention summed over all prompt queries
 * and the query heads of its GQA group.
 *
 * @example
 * ```ts
 * h2oScorer().score(state); // Float32Array [kvHeads * T]
 * ```
 */
export function h2oScorer(): Scorer {
  return {
    name: "h2o",
    needs: ["all-attention"],
    params: {},
    score: ({ allAttention }) => {
      if (!allAttention) throw new RangeError("h2o needs the accumulated attention of the prompt");
      return Float32Array.from(allAttention);
    },
  };
}
