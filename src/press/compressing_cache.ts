/** Prefill that compresses as it goes: each layer's full cache lives only until that layer is done. */

import type { Device } from "../backend/device.ts";
import type { Tensor } from "../backend/tensor.ts";
import { DenseKvCache } from "../cache/dense.ts";
import type { KvCache, LayerKv } from "../cache/kv_cache.ts";
import { type KeptTokens, RaggedKvCache } from "../cache/ragged.ts";
import { LayerScoring, type ScoringShape } from "./layer_scoring.ts";
import type { Press } from "./press.ts";
import { keptIndices } from "./select.ts";

/** The model extents a compressing prefill needs. */
export type CompressionShape = ScoringShape;

/**
 * A KV cache for one prefill of `tokens` tokens that ends up compressed: layer `l`
 * is written into a dense buffer, scored when the forward finishes it, and compacted
 * into {@linkcode CompressingCache.ragged}; then its dense buffer is freed, so only one
 * layer's full cache exists at a time. The statistics the press's scorer needs (window
 * or full attention, query moments) are gathered from the forward's hooks.
 *
 * Decode and question appends then run on `ragged` directly.
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
  readonly #scoring: LayerScoring | null;
  #dense: DenseKvCache | null = null;
  #denseLayer = -1;

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
    this.#scoring = press.scorer ? new LayerScoring(device, shape, press.scorer, tokens) : null;
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
    this.#scoring?.begin();
    return this.#dense.layer(0);
  }

  /** Forwards pre-RoPE queries to the scorer's statistics. */
  queriesBeforeRope(_l: number, q: Tensor<"f32">, pos0: number): void {
    this.#scoring?.queriesBeforeRope(q, pos0);
  }

  /** Forwards post-RoPE queries (with the layer's keys) to the scorer's statistics. */
  queriesAfterWrite(_l: number, q: Tensor<"f32">, pos0: number): void {
    if (this.#dense) this.#scoring?.queriesAfterWrite(q, pos0, this.#dense.keys[0]);
  }

  /** Scores the finished layer, keeps its budget per head, compacts it and frees the dense buffer. */
  endLayer(l: number): void {
    const dense = this.#dense;
    if (!dense || this.#denseLayer !== l) throw new RangeError(`layer ${l} was not written`);
    const { kvHeads, layers } = this.shape;
    const length = this.tokens;
    const scores = this.#scoring?.score(l, dense.keys[0], dense.values[0]) ??
      new Float32Array(kvHeads * length);
    const { sink, window } = this.press.protections;
    for (let h = 0; h < kvHeads; h++) {
      for (let j = 0; j < length; j++) {
        if (j < sink || j >= length - window) scores[h * length + j] = Infinity;
      }
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
}
