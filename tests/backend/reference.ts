/** Plain float64 TypeScript references for every native op, plus random inputs. */

/** A seeded PRNG (mulberry32) so a failing case can be replayed from its seed. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A fresh seed per run: parity is tested on new inputs every time. */
export function freshSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/** n uniform values in [-scale, scale). */
export function uniform(rand: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rand() * 2 - 1) * scale;
  return out;
}

/** max |a - ref| / max |ref|: an error relative to the output's scale. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let diff = 0, scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return Number.isNaN(diff) ? Infinity : diff / Math.max(scale, 1e-30);
}

/** y [m, n] = x [m, k] . w [n, k]^T + bias [n]. */
export function matmul(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | null,
  m: number,
  n: number,
  k: number,
): Float64Array {
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = bias ? bias[j] : 0;
      for (let p = 0; p < k; p++) sum += x[i * k + p] * w[j * k + p];
      y[i * n + j] = sum;
    }
  }
  return y;
}

/** RMSNorm of each row of x [rows, dim]. */
export function rmsnorm(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  rows: number,
  dim: number,
  eps: number,
) {
  const y = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let i = 0; i < dim; i++) sum += x[r * dim + i] ** 2;
    const inv = 1 / Math.sqrt(sum / dim + eps);
    for (let i = 0; i < dim; i++) y[r * dim + i] = x[r * dim + i] * inv * weight[i];
  }
  return y;
}

/** Rotate-half RoPE of x [rows, heads, headDim] at positions pos0 + r. */
export function rope(
  x: ArrayLike<number>,
  cos: ArrayLike<number>,
  sin: ArrayLike<number>,
  rows: number,
  heads: number,
  headDim: number,
  pos0: number,
): Float64Array {
  const half = headDim / 2;
  const y = Float64Array.from(x);
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < heads; h++) {
      const base = (r * heads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const c = cos[(pos0 + r) * half + i], s = sin[(pos0 + r) * half + i];
        const a = x[base + i], b = x[base + i + half];
        y[base + i] = a * c - b * s;
        y[base + i + half] = b * c + a * s;
      }
    }
  }
  return y;
}

/** silu(gate) * up. */
export function siluMul(gate: ArrayLike<number>, up: ArrayLike<number>): Float64Array {
  return Float64Array.from(gate, (g, i) => (g / (1 + Math.exp(-g))) * up[i]);
}

/** Softmax of each row of x [rows, cols]. */
export function softmax(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity, sum = 0;
    for (let i = 0; i < cols; i++) max = Math.max(max, x[r * cols + i]);
    for (let i = 0; i < cols; i++) sum += y[r * cols + i] = Math.exp(x[r * cols + i] - max);
    for (let i = 0; i < cols; i++) y[r * cols + i] /= sum;
  }
  return y;
}

/**
 * Causal GQA attention: q [tokens, qHeads, d], k/v [kvHeads, capacity, d]; query t at
 * position kvLen - tokens + t.
 */
export function attention(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  shape: {
    tokens: number;
    kvLen: number;
    capacity: number;
    qHeads: number;
    kvHeads: number;
    headDim: number;
  },
  scale: number,
): Float64Array {
  const { tokens, kvLen, capacity, qHeads, kvHeads, headDim: d } = shape;
  const group = qHeads / kvHeads;
  const out = new Float64Array(tokens * qHeads * d);
  for (let t = 0; t < tokens; t++) {
    for (let h = 0; h < qHeads; h++) {
      const qBase = (t * qHeads + h) * d, kvBase = Math.floor(h / group) * capacity * d;
      const visible = kvLen - tokens + t + 1;
      const scores = new Float64Array(visible);
      for (let s = 0; s < visible; s++) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += q[qBase + i] * k[kvBase + s * d + i];
        scores[s] = dot * scale;
      }
      const p = softmax(scores, 1, visible);
      for (let s = 0; s < visible; s++) {
        for (let i = 0; i < d; i++) out[qBase + i] += p[s] * v[kvBase + s * d + i];
      }
    }
  }
  return out;
}

const U64 = (1n << 64n) - 1n;

/**
 * lukv_fill_random's values as f32: element i of SplitMix64 seeded with `seed`, its top
 * 24 bits centred and scaled by scale * 2^-23 with one f32 rounding (as in ffi/lukv.h).
 */
export function randomUniform(seed: bigint, count: number, scale: number): Float32Array {
  const step = Math.fround(Math.fround(scale) * 2 ** -23);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    let z = (seed + BigInt(i + 1) * 0x9e3779b97f4a7c15n) & U64;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & U64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & U64;
    z ^= z >> 31n;
    out[i] = (Number(z >> 40n) - 8388608) * step; // exact in float64; the store rounds once
  }
  return out;
}

/** Round-to-nearest-even bf16 bits of each value. */
export function toBf16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  return Uint16Array.from(bits, (b) => (b + 0x7fff + ((b >>> 16) & 1)) >>> 16);
}

/** The f32 values of bf16 bits. */
export function fromBf16(bits: Uint16Array): Float32Array {
  return new Float32Array(Uint32Array.from(bits, (b) => b << 16).buffer);
}

/** IEEE binary16 bits of each value (round to nearest even), via Float16Array. */
export function toF16(values: Float32Array): Uint16Array {
  return new Uint16Array(Float16Array.from(values).buffer);
}

/** The f32 values of f16 bits. */
export function fromF16(bits: Uint16Array): Float32Array {
  return Float32Array.from(new Float16Array(bits.buffer, bits.byteOffset, bits.length));
}

/**
 * Ragged compaction: dst [dstRows, d] (a copy of `initial`) with, for head h, rows
 * dstOffsets[h] + i <- src [heads, capacity, d] row indices[indexOffsets[h] + i].
 */
export function kvGather(
  initial: ArrayLike<number>,
  src: ArrayLike<number>,
  indices: Int32Array,
  indexOffsets: Int32Array,
  dstOffsets: Int32Array,
  capacity: number,
  d: number,
): Float64Array {
  const dst = Float64Array.from(initial);
  for (let h = 0; h + 1 < indexOffsets.length; h++) {
    for (let i = indexOffsets[h]; i < indexOffsets[h + 1]; i++) {
      const to = (dstOffsets[h] + i - indexOffsets[h]) * d, from = (h * capacity + indices[i]) * d;
      for (let x = 0; x < d; x++) dst[to + x] = src[from + x];
    }
  }
  return dst;
}

/**
 * Decode attention (one query per head, q [qHeads, d]) over the dense cache
 * k, v [kvHeads, capacity, d] restricted to each KV head's kept rows `kept[h]`.
 */
export function attentionKept(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  kept: readonly (readonly number[])[],
  capacity: number,
  qHeads: number,
  d: number,
  scale: number,
): Float64Array {
  const group = qHeads / kept.length;
  const out = new Float64Array(qHeads * d);
  for (let h = 0; h < qHeads; h++) {
    const rows = kept[Math.floor(h / group)], base = Math.floor(h / group) * capacity * d;
    const scores = Float64Array.from(rows, (row) => {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += q[h * d + i] * k[base + row * d + i];
      return dot * scale;
    });
    const p = softmax(scores, 1, rows.length);
    rows.forEach((row, s) => {
      for (let i = 0; i < d; i++) out[h * d + i] += p[s] * v[base + row * d + i];
    });
  }
  return out;
}

/**
 * Summed causal attention probabilities: out [kvHeads, kvLen] (a copy of `initial`) plus,
 * for each query t of q [tokens, qHeads, d] at position qPos0 + t and each query head
 * of KV head h's group, softmax(scale * q.k) over keys 0 .. qPos0 + t of k [kvHeads,
 * capacity, d].
 */
export function attentionScores(
  initial: ArrayLike<number>,
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  shape: {
    tokens: number;
    qPos0: number;
    kvLen: number;
    capacity: number;
    qHeads: number;
    kvHeads: number;
    headDim: number;
  },
  scale: number,
): Float64Array {
  const { tokens, qPos0, kvLen, capacity, qHeads, kvHeads, headDim: d } = shape;
  const group = qHeads / kvHeads;
  const out = Float64Array.from(initial);
  for (let t = 0; t < tokens; t++) {
    for (let h = 0; h < qHeads; h++) {
      const kvHead = Math.floor(h / group), visible = qPos0 + t + 1;
      const scores = new Float64Array(visible);
      for (let s = 0; s < visible; s++) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += q[(t * qHeads + h) * d + i] * k[(kvHead * capacity + s) * d + i];
        scores[s] = dot * scale;
      }
      const p = softmax(scores, 1, visible);
      for (let s = 0; s < visible; s++) out[kvHead * kvLen + s] += p[s];
    }
  }
  return out;
}

/**
 * LU-KV oracle utility of one decode step: out [kvHeads, ctxLen] (a copy of `initial`)
 * with out[h, j] = max(out[h, j], p_i[j] * weights[i, j]) for every query head i of KV
 * head h's group, where p_i is the full attention row softmax(scale * q_i.k) of q
 * [qHeads, d] over keys 0 .. kvLen - 1 of k [kvHeads, capacity, d].
 */
export function attentionOracle(
  initial: ArrayLike<number>,
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  weights: ArrayLike<number>,
  shape: {
    kvLen: number;
    ctxLen: number;
    capacity: number;
    qHeads: number;
    kvHeads: number;
    headDim: number;
  },
  scale: number,
): Float64Array {
  const { kvLen, ctxLen, capacity, qHeads, kvHeads, headDim: d } = shape;
  const group = qHeads / kvHeads;
  const out = Float64Array.from(initial);
  for (let i = 0; i < qHeads; i++) {
    const kvHead = Math.floor(i / group);
    const scores = new Float64Array(kvLen);
    for (let s = 0; s < kvLen; s++) {
      let dot = 0;
      for (let x = 0; x < d; x++) dot += q[i * d + x] * k[(kvHead * capacity + s) * d + x];
      scores[s] = dot * scale;
    }
    const p = softmax(scores, 1, kvLen);
    for (let j = 0; j < ctxLen; j++) {
      const at = kvHead * ctxLen + j;
      out[at] = Math.max(out[at], p[j] * weights[i * ctxLen + j]);
    }
  }
  return out;
}

/** The spans of a ragged layer: KV head h owns rows offsets[h] .. offsets[h] + lengths[h] - 1. */
export interface RaggedSpans {
  offsets: Int32Array;
  lengths: Int32Array;
  /** Rows of the layer buffer (rows no head owns included). */
  rows: number;
}

/**
 * Moments of shifted queries: sum [heads, d] and outer [heads, d, d] (copies of the
 * initial values) plus, over the rows of q [rows, heads, d], x and x x^T with x = q[r, h]
 * - shift[h].
 */
export function queryMoments(
  initialSum: ArrayLike<number>,
  initialOuter: ArrayLike<number>,
  q: ArrayLike<number>,
  shift: ArrayLike<number>,
  rows: number,
  heads: number,
  d: number,
): { sum: Float64Array; outer: Float64Array } {
  const sum = Float64Array.from(initialSum), outer = Float64Array.from(initialOuter);
  const x = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < heads; h++) {
      for (let a = 0; a < d; a++) x[a] = q[(r * heads + h) * d + a] - shift[h * d + a];
      for (let a = 0; a < d; a++) {
        sum[h * d + a] += x[a];
        for (let b = 0; b < d; b++) outer[(h * d + a) * d + b] += x[a] * x[b];
      }
    }
  }
  return { sum, outer };
}

/**
 * Expected Attention scores [spans.rows] of a ragged layer k, v [rows, d] (NaN for rows
 * no head owns): for query head i of KV head h, p_i = softmax over h's rows j of
 * k_j . mean_i / sqrt(d) + k_j^T cov_i k_j / (2d), with mean [qHeads, d] and cov [qHeads,
 * d, d]; row j of h gets (mean over h's query heads of p_ij + epsilon) * ||v_j||.
 */
export function expectedAttentionScores(
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  spans: RaggedSpans,
  mean: ArrayLike<number>,
  cov: ArrayLike<number>,
  qHeads: number,
  d: number,
  epsilon: number,
): Float64Array {
  const { offsets, lengths, rows } = spans;
  const kvHeads = offsets.length, group = qHeads / kvHeads;
  const out = new Float64Array(rows).fill(NaN);
  for (let h = 0; h < kvHeads; h++) {
    const n = lengths[h], probabilities = new Float64Array(n);
    for (let g = 0; g < group; g++) {
      const i = h * group + g;
      const logits = new Float64Array(n);
      for (let j = 0; j < n; j++) {
        const key = (offsets[h] + j) * d;
        let linear = 0, quadratic = 0;
        for (let a = 0; a < d; a++) {
          linear += k[key + a] * mean[i * d + a];
          let row = 0;
          for (let b = 0; b < d; b++) row += cov[(i * d + a) * d + b] * k[key + b];
          quadratic += k[key + a] * row;
        }
        logits[j] = linear / Math.sqrt(d) + quadratic / (2 * d);
      }
      const p = softmax(logits, 1, n);
      for (let j = 0; j < n; j++) probabilities[j] += p[j] / group;
    }
    for (let j = 0; j < n; j++) {
      const row = offsets[h] + j;
      let norm = 0;
      for (let a = 0; a < d; a++) norm += v[row * d + a] ** 2;
      out[row] = (probabilities[j] + epsilon) * Math.sqrt(norm);
    }
  }
  return out;
}

/**
 * Key-only scores [spans.rows] of a ragged layer k [rows, d] (NaN for rows no head owns):
 * "knorm" -||k_j||; "keydiff" -cos(k_j / ||k_j||, mean of h's normalised keys), a zero
 * key counting as norm 1 and a zero mean giving 0.
 */
export function keyScores(
  k: ArrayLike<number>,
  spans: RaggedSpans,
  d: number,
  mode: "knorm" | "keydiff",
): Float64Array {
  const { offsets, lengths, rows } = spans;
  const out = new Float64Array(rows).fill(NaN);
  const norm = (row: number) => {
    let sum = 0;
    for (let a = 0; a < d; a++) sum += k[row * d + a] ** 2;
    return Math.sqrt(sum);
  };
  for (let h = 0; h < offsets.length; h++) {
    const first = offsets[h], end = offsets[h] + lengths[h];
    const mean = new Float64Array(d);
    for (let row = first; row < end; row++) {
      const n = norm(row) || 1;
      for (let a = 0; a < d; a++) mean[a] += k[row * d + a] / n;
    }
    const meanNorm = Math.hypot(...mean) || 1;
    for (let row = first; row < end; row++) {
      if (mode === "knorm") {
        out[row] = -norm(row);
        continue;
      }
      let dot = 0;
      for (let a = 0; a < d; a++) dot += k[row * d + a] * mean[a];
      out[row] = -dot / (norm(row) || 1) / meanNorm;
    }
  }
  return out;
}
