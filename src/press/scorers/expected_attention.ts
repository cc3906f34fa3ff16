/** The Expected Attention scorer: attention that future queries are expected to pay, from prompt query statistics. */

import { raiseToTop, required, type Scorer } from "./scorer.ts";

/** Expected Attention's settings (kvpress's ExpectedAttentionPress fields, camel-cased). */
export interface ExpectedAttentionParams {
  /** Future positions the RoPE rotation is averaged over (default 512, kvpress `n_future_positions`). */
  future?: number;
  /**
   * Leading tokens left out of the query statistics and always ranked first (default 4,
   * kvpress `n_sink`).
   */
  nSink?: number;
  /**
   * Added to the expected attention before the value-norm rescaling (default 0.02, the
   * LU-KV release's setting; kvpress's class default is 0 and its `expected_attention`
   * evaluation preset uses 0.01). At 0, a head whose expected attention is near zero
   * everywhere ranks its tokens by noise: most of LU-KV's accuracy hid behind this.
   */
  epsilon?: number;
  /** Add the covariance term to the expected logits (default true, kvpress `use_covariance`). */
  useCovariance?: boolean;
  /** Rescale by the value norms, `(score + epsilon) * ||v||` (default true, kvpress `use_vnorm`). */
  useVnorm?: boolean;
}

/**
 * Expected Attention (Devoto et al., 2025): queries are modelled as Gaussian with the
 * mean `mu` and covariance `Sigma` of the prompt's pre-RoPE queries (leaving out the
 * first `nSink` positions), rotated by the RoPE matrix averaged over the next `future`
 * positions. Per query head the expected logit of key j is
 * `k_j . mu / sqrt(d) + k_j^T Sigma k_j / (2d)`; the softmax of those over the keys is
 * averaged over the GQA group, then scaled: `(score + epsilon) * ||v_j||`. The first
 * `nSink` tokens rank first.
 *
 * @example
 * ```ts
 * const scorer = expectedAttentionScorer({ future: 512, epsilon: 0.02 });
 * ```
 */
export function expectedAttentionScorer(params: ExpectedAttentionParams = {}): Scorer {
  const { future = 512, nSink = 4, epsilon = 0.02, useCovariance = true, useVnorm = true } = params;
  if (!Number.isSafeInteger(future) || future < 1) {
    throw new RangeError(`expected-attention future must be a positive integer, got ${future}`);
  }
  if (!Number.isSafeInteger(nSink) || nSink < 0) {
    throw new RangeError(`expected-attention nSink must be a non-negative integer, got ${nSink}`);
  }
  if (!Number.isFinite(epsilon) || epsilon < 0) {
    throw new RangeError(`expected-attention epsilon must be a finite number >= 0, got ${epsilon}`);
  }
  return {
    name: "expected-attention",
    needs: useVnorm ? ["query-stats", "keys", "values"] : ["query-stats", "keys"],
    querySink: nSink,
    params: { future, nSink, epsilon, useCovariance, useVnorm },
    score: (state) => {
      const { kvHeads, heads, length, headDim: d, inverseFrequencies } = state;
      const name = "expected-attention";
      const queryStats = required(state.queryStats, name, "the prompt's query statistics");
      const keys = required(state.keys, name, "keys");
      const group = heads / kvHeads;
      const rotation = averageRotation(inverseFrequencies, d, state.position ?? length, future);
      const out = new Float32Array(kvHeads * length);
      const logits = new Float64Array(length);
      for (let q = 0; q < heads; q++) {
        const h = Math.floor(q / group);
        const mu = rotate(rotation, queryStats.mean.subarray(q * d, (q + 1) * d), d);
        const sigma = useCovariance
          ? conjugate(rotation, queryStats.covariance.subarray(q * d * d, (q + 1) * d * d), d)
          : null;
        let max = -Infinity;
        for (let j = 0; j < length; j++) {
          const k = keys.subarray((h * length + j) * d, (h * length + j + 1) * d);
          let linear = 0, quadratic = 0;
          for (let a = 0; a < d; a++) {
            linear += k[a] * mu[a];
            if (!sigma) continue;
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
      if (useVnorm) {
        const values = required(state.values, name, "values");
        for (let i = 0; i < out.length; i++) {
          let norm = 0;
          for (let a = i * d; a < (i + 1) * d; a++) norm += values[a] * values[a];
          out[i] = (out[i] + epsilon) * Math.sqrt(norm);
        }
      }
      return raiseToTop(out, length, (j) => j < nSink);
    },
  };
}

/**
 * The RoPE rotation averaged over positions `position .. position + future - 1`, as a
 * `d x d` matrix (rotate-half pairs i, i + d/2).
 */
function averageRotation(inverseFrequencies: Float64Array, d: number, position: number, future: number) {
  const half = d / 2;
  const rotation = new Float64Array(d * d);
  for (let i = 0; i < half; i++) {
    let c = 0, s = 0;
    for (let p = position; p < position + future; p++) {
      c += Math.cos(p * inverseFrequencies[i]);
      s += Math.sin(p * inverseFrequencies[i]);
    }
    c /= future;
    s /= future;
    rotation[i * d + i] = c;
    rotation[i * d + i + half] = -s;
    rotation[(i + half) * d + i] = s;
    rotation[(i + half) * d + i + half] = c;
  }
  return rotation;
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
