/** The Expected Attention scorer: attention that future queries are expected to pay, from prompt query statistics. */

import type { Scorer } from "./scorer.ts";

/** Leading positions left out of the query statistics (attention sinks distort them). */
export const QUERY_STATS_SINK = 4;

/**
 * Expected Attention (Devoto et al., 2025): queries are modelled as Gaussian with the
 * mean `mu` and covariance `Sigma` of the prompt's pre-RoPE queries (leaving out the
 * first 4 positions), rotated by the RoPE matrix averaged over the next `future`
 * positions. Per query head the expected logit of key j is
 * `k_j . mu / sqrt(d) + k_j^T Sigma k_j / (2d)`; the softmax of those over the keys is
 * averaged over the GQA group, then scaled: `(score + epsilon) * ||v_j||`. The first
 * 4 tokens get the maximum score.
 *
 * @example
 * ```ts
 * const scorer = expectedAttentionScorer({ future: 512 });
 * ```
 */
export function expectedAttentionScorer(options: { future?: number; epsilon?: number } = {}): Scorer {
  const { future = 512, epsilon = 0 } = options;
  if (!Number.isSafeInteger(future) || future < 1) {
    throw new RangeError(`future must be a positive integer, got ${future}`);
  }
  return {
    name: "expected-attention",
    needs: ["query-stats"],
    params: { future, epsilon },
    score: (state) => {
      const { kvHeads, heads, length, headDim: d, keys, values, queryStats, inverseFrequencies } = state;
      if (!queryStats) throw new RangeError("expected-attention needs the prompt's query statistics");
      const group = heads / kvHeads, half = d / 2;
      // The RoPE rotation averaged over positions length .. length + future - 1 (rotate-half pairs i, i + d/2).
      const c = new Float64Array(half), s = new Float64Array(half);
      for (let i = 0; i < half; i++) {
        for (let p = length; p < length + future; p++) {
          c[i] += Math.cos(p * inverseFrequencies[i]);
          s[i] += Math.sin(p * inverseFrequencies[i]);
        }
        c[i] /= future;
        s[i] /= future;
      }
      const rotation = new Float64Array(d * d);
      for (let i = 0; i < half; i++) {
        rotation[i * d + i] = c[i];
        rotation[i * d + i + half] = -s[i];
        rotation[(i + half) * d + i] = s[i];
        rotation[(i + half) * d + i + half] = c[i];
      }
      const out = new Float32Array(kvHeads * length);
      const logits = new Float64Array(length);
      for (let q = 0; q < heads; q++) {
        const h = Math.floor(q / group);
        const mu = rotate(rotation, queryStats.mean.subarray(q * d, (q + 1) * d), d);
        const sigma = conjugate(rotation, queryStats.covariance.subarray(q * d * d, (q + 1) * d * d), d);
        let max = -Infinity;
        for (let j = 0; j < length; j++) {
          const k = keys.subarray((h * length + j) * d, (h * length + j + 1) * d);
          let linear = 0, quadratic = 0;
          for (let a = 0; a < d; a++) {
            linear += k[a] * mu[a];
            let row = 0;
            for (let b = 0; b < d; b++) row += sigma[a * d + b] * k[b];
            quadratic += k[a] * row;
          }
          logits[j] = linear / Math.sqrt(d) + quadratic / (2 * d);
          max = Math.max(max, logits[j]);
        }
        let sum = 0;
        for (let j = 0; j < length; j++) sum += logits[j] = Math.exp(logits[j] - max);
        for (let j = 0; j < length; j++) out[h * length + j] += logits[j] / sum / group;
      }
      for (let h = 0; h < kvHeads; h++) {
        for (let j = 0; j < length; j++) {
          const v = values.subarray((h * length + j) * d, (h * length + j + 1) * d);
          let norm = 0;
          for (let a = 0; a < d; a++) norm += v[a] * v[a];
          const i = h * length + j;
          out[i] = j < QUERY_STATS_SINK ? Infinity : (out[i] + epsilon) * Math.sqrt(norm);
        }
      }
      return out;
    },
  };
}

/** R x for a d x d matrix R. */
function rotate(r: Float64Array, x: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d);
  for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) out[a] += r[a * d + b] * x[b];
  return out;
}

/** R S R^T for d x d matrices. */
function conjugate(r: Float64Array, s: Float64Array, d: number): Float64Array {
  const rs = new Float64Array(d * d), out = new Float64Array(d * d);
  for (let a = 0; a < d; a++) {
    for (let b = 0; b < d; b++) {
      let sum = 0;
      for (let k = 0; k < d; k++) sum += r[a * d + k] * s[k * d + b];
      rs[a * d + b] = sum;
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = 0; b < d; b++) {
      let sum = 0;
      for (let k = 0; k < d; k++) sum += rs[a * d + k] * r[b * d + k];
      out[a * d + b] = sum;
    }
  }
  return out;
}
