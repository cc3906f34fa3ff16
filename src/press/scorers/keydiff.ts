/** The KeyDiff scorer: keys unlike the average key are kept (minus the cosine to the mean normalised key). */

import { required, type Scorer } from "./scorer.ts";

/**
 * Score = -cos(k_j / ||k_j||, mean of the normalised keys of the head).
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
    score: (state) => {
      const { kvHeads, length, headDim } = state;
      const keys = required(state.keys, "keydiff", "keys");
      const out = new Float32Array(kvHeads * length);
      const unit = new Float64Array(length * headDim), mean = new Float64Array(headDim);
      for (let h = 0; h < kvHeads; h++) {
        mean.fill(0);
        for (let j = 0; j < length; j++) {
          const base = (h * length + j) * headDim;
          let norm = 0;
          for (let d = 0; d < headDim; d++) norm += keys[base + d] ** 2;
          norm = Math.sqrt(norm) || 1;
          for (let d = 0; d < headDim; d++) mean[d] += unit[j * headDim + d] = keys[base + d] / norm;
        }
        let meanNorm = 0;
        for (let d = 0; d < headDim; d++) meanNorm += mean[d] ** 2;
        meanNorm = Math.sqrt(meanNorm) || 1;
        for (let j = 0; j < length; j++) {
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += unit[j * headDim + d] * mean[d];
          out[h * length + j] = -dot / meanNorm;
        }
      }
      return out;
    },
  };
}
