/** The H2O scorer: attention accumulated over every prompt query ("heavy hitters"). */

import { required, type Scorer } from "./scorer.ts";

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
    score: ({ allAttention }) => Float32Array.from(required(allAttention, "h2o", "the prompt's attention")),
  };
}
