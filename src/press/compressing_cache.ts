/** Prefill that compresses as it goes: each layer's full cache lives only until that layer is done. */

import type { Device } from "../backend/device.ts";
import * as ops from "../backend/ops.ts";
import type { Tensor } from "../backend/tensor.ts";
import { DenseKvCache, type KvShape } from "../cache/dense.ts";
import type { KvCache, LayerKv } from "../cache/kv_cache.ts";
import { type KeptTokens, RaggedKvCache } from "../cache/ragged.ts";
import type { Press } from "./press.ts";
import { QUERY_STATS_SINK } from "./scorers/expected_attention.ts";
import type { LayerState } from "./scorers/scorer.ts";
import { keptIndices } from "./select.ts";

/** The model extents a compressing prefill needs. */
export interface CompressionShape extends KvShape {
  /** Query heads. */
  heads: number;
  /** RoPE inverse frequencies `[headDim / 2]`. */
  inverseFrequencies: Float64Array;
}

/**
 * A KV cache for one prefill of `tokens` tokens that ends up compressed: layer `l`
 * is written into a dense buffer, scored when the forward finishes it, and compacted
 * into {@linkcode CompressingCache.ragged}; then its dense buffer is freed, so only one
 * layer's full cache exists at a time. The statistics the press's scorer needs (window
 * or full attention, query moments) are gathered from the forward's hooks.
 *
 * When the ragged cache already holds earlier tokens (a second call), this is not the
 * class to use: decode and question appends run on `ragged` directly.
 *
 * @example
 * ```ts
 * using prefill = new CompressingCache(dev, shape, makePress("snapkv"), 0.8, prompt.length);
 * forward.run(prompt, prefill).close();
 * const cache = prefill.ragged; // decode on this
 * ```
 */
export class CompressingCache implements KvCache {
  /** Prefill pushes blocks of rows. */
  readonly maxRows: number = Infinity;
  /** The compressed result, filled layer by layer. */
  readonly ragged: RaggedKvCache;
  /** Keep counts `[kvHeads]` chosen for each layer. */
  readonly counts: Int32Array[] = [];
  /** The kept positions of each layer's heads. */
  readonly kept: KeptTokens[] = [];
  #dense: DenseKvCache | null = null;
  #denseLayer = -1;
  #window: Float32Array | null = null;
  #all: Float32Array | null = null;
  #moments: { sum: Float64Array; outer: Float64Array; count: number } | null = null;

  /**
   * Prepares the prefill of `tokens` tokens with `press` at `ratio`; `growth` free rows
   * per head are reserved for decoding (default 64).
   */
  constructor(
    readonly device: Device,
    readonly shape: CompressionShape,
    readonly press: Press,
    readonly ratio: number,
    readonly tokens: number,
    growth?: number,
  ) {
    this.ragged = new RaggedKvCache(device, shape, growth);
  }

  /** Tokens already in the ragged cache. */
  get length(): number {
    return this.ragged.length;
  }

  /** Only one prefill of exactly `tokens` tokens. */
  reserve(count: number): void {
    if (this.ragged.length !== 0 || count !== this.tokens) {
      throw new RangeError(`a compressing prefill takes exactly ${this.tokens} tokens once`);
    }
  }

  /** Layer `l` writes into its own dense buffer (allocated now, freed at endLayer). */
  layer(l: number): LayerKv {
    const { kvHeads, headDim } = this.shape;
    this.#dense?.close();
    this.#dense = new DenseKvCache(this.device, { layers: 1, kvHeads, headDim }, this.tokens);
    this.#denseLayer = l;
    this.#window = this.#all = null;
    this.#moments = null;
    return this.#dense.layer(0);
  }

  /** Accumulates pre-RoPE query moments when the scorer needs them (first positions left out). */
  queriesBeforeRope(_l: number, q: Tensor<"f32">, pos0: number): void {
    if (!this.press.scorer?.needs.includes("query-stats")) return;
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

  /** Accumulates attention sums (all prompt queries, or those of SnapKV's window) once the block's keys exist. */
  queriesAfterWrite(_l: number, q: Tensor<"f32">, pos0: number): void {
    const scorer = this.press.scorer;
    if (!scorer || !this.#dense) return;
    const rows = q.shape[0];
    if (scorer.needs.includes("all-attention")) {
      this.#all = this.#accumulate(this.#all, q, pos0, 0, rows);
    }
    if (scorer.needs.includes("window-attention")) {
      const first = Math.max(0, this.tokens - (scorer.windowQueries ?? 32) - pos0);
      if (first < rows) this.#window = this.#accumulate(this.#window, q, pos0, first, rows - first);
    }
  }

  /** Scores the finished layer, keeps its budget per head, compacts it and frees the dense buffer. */
  endLayer(l: number): void {
    const dense = this.#dense;
    if (!dense || this.#denseLayer !== l) throw new RangeError(`layer ${l} was not written`);
    const { kvHeads, heads, headDim, layers, inverseFrequencies } = this.shape;
    const length = this.tokens;
    let scores: Float32Array;
    if (this.press.scorer) {
      const state: LayerState = {
        layer: l,
        length,
        heads,
        kvHeads,
        headDim,
        keys: hostOf(dense.keys[0]),
        values: hostOf(dense.values[0]),
        inverseFrequencies,
        windowAttention: this.#window ?? undefined,
        windowQueries: this.#window
          ? Math.min(this.tokens, this.press.scorer.windowQueries ?? 32)
          : undefined,
        allAttention: this.#all ?? undefined,
        queryStats: this.#moments ? moments(this.#moments, heads, headDim) : undefined,
      };
      scores = this.press.scorer.score(state);
      const { sink, window } = this.press.protections;
      for (let h = 0; h < kvHeads; h++) {
        for (let j = 0; j < length; j++) {
          if (j < sink || j >= length - window) scores[h * length + j] = Infinity;
        }
      }
    } else {
      scores = new Float32Array(kvHeads * length);
    }
    const counts = this.press.allocate(l, scores, { layers, kvHeads, length }, this.ratio);
    this.counts[l] = counts;
    this.kept[l] = keptIndices(scores, counts, length, this.press.protections);
    this.ragged.compactLayer(l, dense.keys[0], dense.values[0], this.kept[l]);
    dense.close();
    this.#dense = null;
  }

  /** Records the prefill's tokens in the ragged cache. */
  advance(count: number): void {
    this.ragged.advance(count);
  }

  /** Bytes held now: the ragged layers plus the dense layer in flight. */
  bytes(): number {
    return this.ragged.bytes() + (this.#dense?.bytes() ?? 0);
  }

  /** Frees the dense buffer in flight (the ragged cache is the caller's to close). */
  close(): void {
    this.#dense?.close();
    this.#dense = null;
  }

  /** Called by `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Adds the attention of query rows `first .. first + count` of the block to `into` `[kvHeads, tokens]`. */
  #accumulate(
    into: Float32Array | null,
    q: Tensor<"f32">,
    pos0: number,
    first: number,
    count: number,
  ): Float32Array {
    const { kvHeads } = this.shape;
    const sums = into ?? new Float32Array(kvHeads * this.tokens);
    const visible = pos0 + q.shape[0];
    using out = this.device.zeros("f32", [kvHeads, visible]);
    ops.attentionScores(out, q.rows(first, count), this.#dense!.keys[0], pos0 + first, visible);
    const host = out.toHost();
    for (let h = 0; h < kvHeads; h++) {
      for (let j = 0; j < visible; j++) sums[h * this.tokens + j] += host[h * visible + j];
    }
    return sums;
  }
}

function hostOf(t: Tensor<"f32">): Float32Array {
  return t.device.kind === "cpu" ? t.view() : t.toHost();
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
