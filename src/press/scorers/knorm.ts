/** The Knorm scorer: tokens with small keys are kept (minus the key norm). */

import * as ops from "../../backend/ops.ts";
import { required, rowScores, type Scorer } from "./scorer.ts";

/**
 * Score = -||k_j|| (Devoto et al., 2024), computed on the device.
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
    score: (state) =>
      rowScores(state, (out, offsets, lengths) => {
        ops.keyScores(out, required(state.keys, "knorm", "keys"), offsets, lengths, "knorm");
      }),
  };
}
