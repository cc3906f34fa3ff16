/** A scorer's view of one layer during prefill: gathers the statistics it needs from the forward's hooks, then scores. */

import type { Device } from "../backend/device.ts";
import * as ops from "../backend/ops.ts";
import type { Tensor } from "../backend/tensor.ts";
import type { KvShape } from "../cache/dense.ts";
import { QUERY_STATS_SINK } from "./scorers/expected_attention.ts";
import type { LayerState, Scorer } from "./scorers/scorer.ts";

/** The model extents scoring needs. */
export interface ScoringShape extends KvShape {
  /** Query heads. */
  heads: number;
  /** RoPE inverse frequencies `[headDim / 2]`. */
  inverseFrequencies: Float64Array;
}

/**
 * Collects, for one layer of a prefill of `tokens` tokens, what `scorer` needs (window
 * or full attention sums from the attention-scores kernel, pre-RoPE query moments),
 * then scores the layer's dense keys and values. `begin()` starts each layer.
 *
 * @example
 * ```ts
 * const scoring = new LayerScoring(dev, shape, snapKvScorer(), promptLength);
 * scoring.begin();
 * // forward hooks: scoring.queriesBeforeRope(q, pos0); scoring.queriesAfterWrite(q3, pos0, keys);
 * const scores = scoring.score(l, keys, values); // Float32Array [kvHeads * promptLength]
 * ```
 */
export class LayerScoring {
  #window: Float32Array | null = null;
  #all: Float32Array | null = null;
  #moments: { sum: Float64Array; outer: Float64Array; count: number } | null = null;

  /** Scores `tokens` prompt tokens with `scorer`. */
  constructor(
    readonly device: Device,
    readonly shape: ScoringShape,
    readonly scorer: Scorer,
    readonly tokens: number,
  ) {}

  /** Forgets the previous layer's statistics. */
  begin(): void {
    this.#window = this.#all = null;
    this.#moments = null;
  }

  /** Accumulates pre-RoPE query moments `q` `[rows, heads * headDim]` when needed (first positions left out). */
  queriesBeforeRope(q: Tensor<"f32">, pos0: number): void {
    if (!this.scorer.needs.includes("query-stats")) return;
    const { heads, headDim: d } = this.shape;
    const m = this.#moments ??= {
      sum: new Float64Array(heads * d),
      outer: new Float64Array(heads * d * d),
      count: 0,
    };
    const host = q.device.kind === "cpu" ? q.view() : q.toHost();
    for (let r = Math.max(0, QUERY_STATS_SINK - pos0); r < q.shape[0]; r++) {
      m.count++;
      for (let h = 0; h < heads; h++) {
        const row = (r * heads + h) * d;
        for (let a = 0; a < d; a++) {
          const x = host[row + a];
          m.sum[h * d + a] += x;
          const outer = (h * d + a) * d;
          for (let b = 0; b < d; b++) m.outer[outer + b] += x * host[row + b];
        }
      }
    }
  }

  /**
   * Accumulates attention sums of post-RoPE queries `q` `[rows, heads, headDim]` over the
   * dense `keys` `[kvHeads, capacity, headDim]` (which already hold the block): every
   * prompt query (H2O) or those in SnapKV's window.
   */
  queriesAfterWrite(q: Tensor<"f32">, pos0: number, keys: Tensor<"f32">): void {
    const rows = q.shape[0];
    if (this.scorer.needs.includes("all-attention")) {
      this.#all = this.#accumulate(this.#all, q, pos0, 0, rows, keys);
    }
    if (this.scorer.needs.includes("window-attention")) {
      const first = Math.max(0, this.tokens - (this.scorer.windowQueries ?? 32) - pos0);
      if (first < rows) this.#window = this.#accumulate(this.#window, q, pos0, first, rows - first, keys);
    }
  }

  /** The scores `[kvHeads, tokens]` of layer `l` from its dense keys and values `[kvHeads, capacity, headDim]`. */
  score(l: number, keys: Tensor<"f32">, values: Tensor<"f32">): Float32Array {
    const { kvHeads, heads, headDim, inverseFrequencies } = this.shape;
    const state: LayerState = {
      layer: l,
      length: this.tokens,
      heads,
      kvHeads,
      headDim,
      keys: this.#prompt(keys),
      values: this.#prompt(values),
      inverseFrequencies,
      windowAttention: this.#window ?? undefined,
      windowQueries: this.#window ? Math.min(this.tokens, this.scorer.windowQueries ?? 32) : undefined,
      allAttention: this.#all ?? undefined,
      queryStats: this.#moments ? moments(this.#moments, heads, headDim) : undefined,
    };
    return this.scorer.score(state);
  }

  /** The prompt rows of a dense layer `[kvHeads, capacity, headDim]` as a host `[kvHeads, tokens, headDim]`. */
  #prompt(t: Tensor<"f32">): Float32Array {
    const [kvHeads, capacity, headDim] = t.shape;
    const host = t.device.kind === "cpu" ? t.view() : t.toHost();
    if (capacity === this.tokens) return host;
    const out = new Float32Array(kvHeads * this.tokens * headDim);
    for (let h = 0; h < kvHeads; h++) {
      out.set(
        host.subarray(h * capacity * headDim, (h * capacity + this.tokens) * headDim),
        h * this.tokens * headDim,
      );
    }
    return out;
  }

  /** Adds the attention of query rows `first .. first + count` of the block to `into` `[kvHeads, tokens]`. */
  #accumulate(
    into: Float32Array | null,
    q: Tensor<"f32">,
    pos0: number,
    first: number,
    count: number,
    keys: Tensor<"f32">,
  ): Float32Array {
    const { kvHeads } = this.shape;
    const sums = into ?? new Float32Array(kvHeads * this.tokens);
    const visible = pos0 + q.shape[0];
    using out = this.device.zeros("f32", [kvHeads, visible]);
    ops.attentionScores(out, q.rows(first, count), keys, pos0 + first, visible);
    const host = out.toHost();
    for (let h = 0; h < kvHeads; h++) {
      for (let j = 0; j < visible; j++) sums[h * this.tokens + j] += host[h * visible + j];
    }
    return sums;
  }
}

function moments(m: { sum: Float64Array; outer: Float64Array; count: number }, heads: number, d: number) {
  const mean = m.sum.map((s) => s / Math.max(1, m.count));
  const covariance = new Float64Array(heads * d * d);
  for (let h = 0; h < heads; h++) {
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) {
        const i = (h * d + a) * d + b;
        covariance[i] = m.outer[i] / Math.max(1, m.count) - mean[h * d + a] * mean[h * d + b];
      }
    }
  }
  return { mean, covariance, count: m.count };
}
