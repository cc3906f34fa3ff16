/** The KeyDiff scorer: keys unlike the average key are kept (minus the cosine to the mean normalised key). */

import * as ops from "../../backend/ops.ts";
import { required, rowScores, type Scorer } from "./scorer.ts";

/**
 * KeyDiff (Park et al., 2025): score = -cos(k_j / ||k_j||, mean of the head's normalised
 * keys), computed on the device.
 *
 * @example
 * ```ts
 * keyDiffScorer().score(state); // Float32Array [kvHeads * T]
 * ```
 */
export function keyDiffScorer(): Scorer {
  return {
    name: "keydiff",
    needs: ["keys"],
    params: {},
    score: (state) =>
      rowScores(state, (out, offsets, lengths) => {
        ops.keyScores(out, required(state.keys, "keydiff", "keys"), offsets, lengths, "keydiff");
      }),
  };
}
