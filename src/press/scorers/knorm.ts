/** The Knorm scorer: tokens with small keys are kept (minus the key norm). */

import { required, type Scorer } from "./scorer.ts";

/**
 * Score = -||k_j||.
 *
 * @example
 * ```ts
 * knormScorer().score(state); // Float32Array [kvHeads * T]
 * ```
 */
export function knormScorer(): Scorer {
  return {
    name: "knorm",
    needs: ["keys"],
    params: {},
    score: (state) => {
      const { kvHeads, length, headDim } = state;
      const keys = required(state.keys, "knorm", "keys");
      const out = new Float32Array(kvHeads * length);
      for (let r = 0; r < out.length; r++) {
        let sum = 0;
        for (let d = r * headDim; d < (r + 1) * headDim; d++) sum += keys[d] * keys[d];
        out[r] = -Math.sqrt(sum);
      }
      return out;
    },
  };
}
