/**
 * Expected Attention's statistics per layer on the CPU, the native kernels against the
 * JavaScript they replace, as ratios within one run: (a) the pre-RoPE query moments of a
 * whole prompt (the f64 loop of `queriesBeforeRope` in src/press/layer_scoring.ts at
 * 6597010) and (b) the scores of a layer (`expectedAttentionScorer().score` of
 * src/press/scorers/expected_attention.ts at c844d07) against `lukv_expected_attention_scores`
 * plus the copy of the scores to the host. Both JavaScript versions are copied here as they
 * were, so that the baseline stays put while the scorers move onto the kernels.
 */

import { openDevice } from "../src/backend/device.ts";
import * as ops from "../src/backend/ops.ts";
import type { Tensor } from "../src/backend/tensor.ts";

/** Leading positions left out of the query statistics, and ranked first (as the scorer did). */
const SINK = 4;
/** Future positions the RoPE rotation is averaged over (the scorer's default). */
const FUTURE = 512;
const EPSILON = 0.02;

const CASES = [
  { tokens: 2048, qHeads: 8, kvHeads: 2, headDim: 64 },
  { tokens: 4096, qHeads: 32, kvHeads: 8, headDim: 128 },
];

const dev = await openDevice("cpu");
console.error(`device: ${dev.selection}`);

/** A deterministic pseudo-random array uniform in [-scale, scale) (mulberry32). */
function uniform(n: number, seed: number, scale = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296 * 2 - 1) * scale;
  }
  return out;
}

/** Before: `LayerScoring.queriesBeforeRope`'s loop over q [rows, heads * d] at position pos0, in f64. */
function momentsJs(q: Float32Array, rows: number, heads: number, d: number, pos0: number) {
  const m = { sum: new Float64Array(heads * d), outer: new Float64Array(heads * d * d), count: 0 };
  for (let r = Math.max(0, SINK - pos0); r < rows; r++) {
    m.count++;
    for (let h = 0; h < heads; h++) {
      const row = (r * heads + h) * d;
      for (let a = 0; a < d; a++) {
        const x = q[row + a];
        m.sum[h * d + a] += x;
        const outer = (h * d + a) * d;
        for (let b = 0; b < d; b++) m.outer[outer + b] += x * q[row + b];
      }
    }
  }
  return m;
}

/** Mean [heads, d] and covariance [heads, d, d] from the moments (as `LayerScoring` made them). */
function statistics(m: ReturnType<typeof momentsJs>, heads: number, d: number) {
  const mean = m.sum.map((s) => s / m.count);
  const covariance = new Float64Array(heads * d * d);
  for (let h = 0; h < heads; h++) {
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) {
        const i = (h * d + a) * d + b;
        covariance[i] = m.outer[i] / m.count - mean[h * d + a] * mean[h * d + b];
      }
    }
  }
  return { mean, covariance };
}

/** The RoPE rotation averaged over positions length .. length + FUTURE - 1, d x d (rotate-half). */
function averageRotation(inverseFrequencies: Float64Array, d: number, length: number): Float64Array {
  const half = d / 2, rotation = new Float64Array(d * d);
  for (let i = 0; i < half; i++) {
    let c = 0, s = 0;
    for (let p = length; p < length + FUTURE; p++) {
      c += Math.cos(p * inverseFrequencies[i]);
      s += Math.sin(p * inverseFrequencies[i]);
    }
    c /= FUTURE, s /= FUTURE;
    rotation[i * d + i] = c;
    rotation[i * d + i + half] = -s;
    rotation[(i + half) * d + i] = s;
    rotation[(i + half) * d + i + half] = c;
  }
  return rotation;
}

/** R x. */
function rotate(r: Float64Array, x: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d);
  for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) out[a] += r[a * d + b] * x[b];
  return out;
}

/** R S R^T. */
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

/** A layer on the host as the scorer got it: keys and values [kvHeads, length, headDim]. */
interface ScoredLayer {
  length: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  keys: Float32Array;
  values: Float32Array;
  inverseFrequencies: Float64Array;
  queryStats: { mean: Float64Array; covariance: Float64Array };
}

/** Before: the scorer's `score(state)` with covariance and value norms, sinks ranked first. */
function expectedAttentionJs(state: ScoredLayer): Float32Array {
  const { kvHeads, heads, length, headDim: d, keys, values, queryStats, inverseFrequencies } = state;
  const group = heads / kvHeads;
  const rotation = averageRotation(inverseFrequencies, d, length);
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
  for (let i = 0; i < out.length; i++) {
    let norm = 0;
    for (let a = i * d; a < (i + 1) * d; a++) norm += values[a] * values[a];
    out[i] = (out[i] + EPSILON) * Math.sqrt(norm);
  }
  for (let base = 0; base < out.length; base += length) {
    let max = -Infinity;
    for (let j = SINK; j < length; j++) max = Math.max(max, out[base + j]);
    for (let j = 0; j < SINK; j++) out[base + j] = max + 1;
  }
  return out;
}

/** The rotated statistics the kernel takes: R mean and R cov R^T per query head, as f32 tensors. */
function rotatedStatistics(layer: ScoredLayer): { mean: Tensor; cov: Tensor } {
  const { heads, headDim: d, length, queryStats, inverseFrequencies } = layer;
  const rotation = averageRotation(inverseFrequencies, d, length);
  const mean = new Float32Array(heads * d), cov = new Float32Array(heads * d * d);
  for (let q = 0; q < heads; q++) {
    mean.set(rotate(rotation, queryStats.mean.subarray(q * d, (q + 1) * d), d), q * d);
    cov.set(conjugate(rotation, queryStats.covariance.subarray(q * d * d, (q + 1) * d * d), d), q * d * d);
  }
  return { mean: dev.fromArray("f32", mean, [heads, d]), cov: dev.fromArray("f32", cov, [heads, d, d]) };
}

for (const { tokens, qHeads, kvHeads, headDim: d } of CASES) {
  const shape = `T=${tokens}, ${qHeads}/${kvHeads} heads, d=${d}`;
  // Both sides of a group take the same inputs; the JavaScript of the large case (seconds
  // an iteration) runs a few times only.
  const slow = tokens > 2048 ? { n: 3, warmup: 1 } : { n: 10, warmup: 2 };

  const q = dev.fromArray("f32", uniform(tokens * qHeads * d, 1), [tokens, qHeads * d]);
  const prompt = q.rows(SINK, tokens - SINK);
  const shift = dev.zeros("f32", [qHeads, d]);
  const sum = dev.empty("f32", [qHeads, d]), outer = dev.empty("f32", [qHeads, d, d]);
  const momentsGroup = `query moments, ${shape}`;
  Deno.bench(
    `JS f64 loop (queriesBeforeRope), ${shape}`,
    { group: momentsGroup, baseline: true, ...slow },
    () => {
      momentsJs(q.view(), tokens, qHeads, d, 0);
    },
  );
  Deno.bench(`lukv_query_moments, ${shape}`, { group: momentsGroup }, () => {
    sum.fill(0);
    outer.fill(0);
    ops.queryMoments(sum, outer, prompt, shift);
  });

  const layer: ScoredLayer = {
    length: tokens,
    heads: qHeads,
    kvHeads,
    headDim: d,
    keys: uniform(kvHeads * tokens * d, 2),
    values: uniform(kvHeads * tokens * d, 3),
    inverseFrequencies: Float64Array.from({ length: d / 2 }, (_, i) => 500000 ** (-2 * i / d)),
    queryStats: statistics(momentsJs(q.view(), tokens, qHeads, d, 0), qHeads, d),
  };
  const flat = [kvHeads * tokens, d];
  const k = dev.fromArray("f32", layer.keys, flat), v = dev.fromArray("f32", layer.values, flat);
  const { mean, cov } = rotatedStatistics(layer);
  const offsets = Int32Array.from({ length: kvHeads }, (_, h) => h * tokens);
  const lengths = new Int32Array(kvHeads).fill(tokens);
  const scores = dev.empty("f32", [kvHeads * tokens]);
  // Both sides compute the same scores (the scorer ranks its sink tokens first instead).
  ops.expectedAttentionScores(scores, k, v, offsets, lengths, mean, cov, EPSILON);
  const native = scores.toHost(), js = expectedAttentionJs(layer);
  let diff = 0, scale = 0;
  for (let i = 0; i < js.length; i++) {
    if (i % tokens < SINK) continue;
    diff = Math.max(diff, Math.abs(native[i] - js[i]));
    scale = Math.max(scale, Math.abs(js[i]));
  }
  console.error(`${shape}: kernel vs JS scorer, max relative difference ${(diff / scale).toExponential(1)}`);
  const scoringGroup = `expected attention scores, ${shape}`;
  Deno.bench(`JS scorer (expectedAttentionScorer), ${shape}`, {
    group: scoringGroup,
    baseline: true,
    ...slow,
  }, () => {
    expectedAttentionJs(layer);
  });
  Deno.bench(`lukv_expected_attention_scores + toHost, ${shape}`, { group: scoringGroup }, () => {
    ops.expectedAttentionScores(scores, k, v, offsets, lengths, mean, cov, EPSILON);
    scores.toHost();
  });
  // Its share of the JS scorer: still done on the host before the kernel, O(heads d^3).
  Deno.bench(`JS RoPE-averaged rotation of mean and cov alone, ${shape}`, { group: scoringGroup }, () => {
    const rotation = averageRotation(layer.inverseFrequencies, d, tokens);
    for (let i = 0; i < qHeads; i++) {
      rotate(rotation, layer.queryStats.mean.subarray(i * d, (i + 1) * d), d);
      conjugate(rotation, layer.queryStats.covariance.subarray(i * d * d, (i + 1) * d * d), d);
    }
  });
}
