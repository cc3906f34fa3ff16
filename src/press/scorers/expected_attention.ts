/** The Expected Attention scorer: attention that future queries are expected to pay, from prompt query statistics. */

import * as ops from "../../backend/ops.ts";
import { raiseToTop, required, rowScores, type Scorer } from "./scorer.ts";

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
 * `k_j . mu / sqrt(d) + k_j^T Sigma k_j / (2d)`; the softmax of those over the keys after
 * the first `nSink` (as kvpress computes it) is averaged over the GQA group, then scaled:
 * `(score + epsilon) * ||v_j||`. The first `nSink` tokens rank first. The rotation is applied on the host (O(d^2) per head: it
 * mixes rotate-half pairs only); the scores are computed on the device.
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
      const { device, heads, headDim: d, inverseFrequencies, length } = state;
      const name = "expected-attention";
      const queryStats = required(state.queryStats, name, "the prompt's query statistics");
      const keys = required(state.keys, name, "keys");
      const { c, s } = averageRotation(inverseFrequencies, d, state.position ?? length, future);
      const mean = new Float32Array(heads * d), cov = new Float32Array(heads * d * d);
      for (let q = 0; q < heads; q++) {
        mean.set(rotate(c, s, queryStats.mean.subarray(q * d, (q + 1) * d)), q * d);
        if (useCovariance) {
          cov.set(conjugate(c, s, queryStats.covariance.subarray(q * d * d, (q + 1) * d * d)), q * d * d);
        }
      }
      using meanT = device.fromArray("f32", mean, [heads, d]);
      using covT = device.fromArray("f32", cov, [heads, d, d]);
      // Without the value norms, unit-norm rows in their place leave the expected attention as it is.
      using units = useVnorm
        ? null
        : device.fromArray("f32", new Float32Array(keys.shape[0] * d).fill(1 / Math.sqrt(d)), keys.shape);
      const values = units ?? required(state.values, name, "values");
      // As kvpress does, the sinks take no part in the softmax: they rank first anyway.
      const scores = rowScores(state, (out, offsets, lengths) => {
        ops.expectedAttentionScores(out, keys, values, offsets, lengths, meanT, covT, useVnorm ? epsilon : 0);
      }, nSink);
      return raiseToTop(scores, length, (j) => j < nSink);
    },
  };
}

/**
 * The RoPE rotation averaged over positions `position .. position + future - 1`: per
 * rotate-half pair (i, i + d/2), its mean cosine `c[i]` and sine `s[i]`.
 */
function averageRotation(inverseFrequencies: Float64Array, d: number, position: number, future: number) {
  const half = d / 2, c = new Float64Array(half), s = new Float64Array(half);
  for (let i = 0; i < half; i++) {
    for (let p = position; p < position + future; p++) {
      c[i] += Math.cos(p * inverseFrequencies[i]);
      s[i] += Math.sin(p * inverseFrequencies[i]);
    }
    c[i] /= future;
    s[i] /= future;
  }
  return { c, s };
}

/**
 * The rotation's entries in row `a`: `R[a][a]` and `R[a][partner]`, partner the other
 * index of a's rotate-half pair (R rotates pair (i, i + d/2) by the mean angle).
 */
function rotationRow(
  c: Float64Array,
  s: Float64Array,
  a: number,
): { self: number; other: number; partner: number } {
  const half = c.length, i = a % half;
  return a < half
    ? { self: c[i], other: -s[i], partner: a + half }
    : { self: c[i], other: s[i], partner: a - half };
}

/** R x, O(d): each output mixes one rotate-half pair. */
function rotate(c: Float64Array, s: Float64Array, x: Float64Array): Float64Array {
  return x.map((_, a) => {
    const r = rotationRow(c, s, a);
    return r.self * x[a] + r.other * x[r.partner];
  });
}

/** R S R^T for a d x d matrix S, O(d^2): each entry mixes four of S's. */
function conjugate(c: Float64Array, s: Float64Array, m: Float64Array): Float64Array {
  const d = 2 * c.length, out = new Float64Array(d * d);
  for (let a = 0; a < d; a++) {
    const ra = rotationRow(c, s, a);
    for (let b = 0; b < d; b++) {
      const rb = rotationRow(c, s, b);
      out[a * d + b] = ra.self * (rb.self * m[a * d + b] + rb.other * m[a * d + rb.partner]) +
        ra.other * (rb.self * m[ra.partner * d + b] + rb.other * m[ra.partner * d + rb.partner]);
    }
  }
  return out;
}
