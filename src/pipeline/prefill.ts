/** The two prefills: dense with scores for any number of presses, or compressed layer by layer for one. */

import type { Tensor } from "../backend/tensor.ts";
import { DenseKvCache } from "../cache/dense.ts";
import type { KvCache, LayerKv } from "../cache/kv_cache.ts";
import { RaggedKvCache } from "../cache/ragged.ts";
import type { RunnableModel } from "../model/model.ts";
import type { ForwardObserver } from "../model/observer.ts";
import { scoringShapeOf } from "../model/shape.ts";
import type { LayerSelection, Press } from "../press/press.ts";
import { ScoreRecorder, scorerKey } from "../press/score_recorder.ts";
import type { Scorer } from "../press/scorers/scorer.ts";
import { append } from "./steps.ts";

/** A dense prefill and what it scored. */
export interface ScoredPrefill {
  /** The full cache, with room for `capacity` tokens. */
  cache: DenseKvCache;
  /** Per scored length (`scoredLengths`, in order), each scorer's scores of that many first positions. */
  recorders: ScoreRecorder[];
  /** Logits `[vocab]` after the last prefilled token. */
  logits: Float32Array;
}

/**
 * Prefills `ids` into a dense cache of `capacity` tokens while every scorer scores the
 * first `n` of them for each `n` of `scoredLengths` (default: all of them). One prefill
 * serves every press built on these scorers, and both protocols: scored at the context's
 * length, a question that follows is not seen (query-agnostic); at the whole length, it
 * is (query-aware).
 *
 * @example
 * ```ts
 * using done = scoredPrefill(model, prompt, { scorers: [snapKvScorer()], capacity: prompt.length + 64 });
 * const scores = done.recorders[0].scores(scorerKey(snapKvScorer())); // [kvHeads, T] per layer
 * ```
 */
export function scoredPrefill(
  model: RunnableModel,
  ids: Int32Array,
  options: {
    scorers: readonly Scorer[];
    capacity: number;
    scoredLengths?: readonly number[];
    observers?: readonly ForwardObserver[];
  },
): ScoredPrefill & Disposable {
  const { layers, kvHeads, headDim } = model.config;
  const cache = new DenseKvCache(model.device, { layers, kvHeads, headDim }, options.capacity);
  try {
    const layers = { keys: (l: number) => cache.keys[l], values: (l: number) => cache.values[l] };
    const recorders = (options.scoredLengths ?? [ids.length]).map((length) =>
      new ScoreRecorder(model.device, scoringShapeOf(model.config), options.scorers, length, layers)
    );
    try {
      const logits = append(model, cache, ids, [...recorders, ...options.observers ?? []]);
      return { cache, recorders, logits, [Symbol.dispose]: () => cache.close() };
    } finally {
      recorders.forEach((r) => r[Symbol.dispose]());
    }
  } catch (error) {
    cache.close();
    throw error;
  }
}

/** A compressed prefill's result. */
export interface CompressedPrefill {
  /** The compressed cache, the caller's to close. */
  cache: RaggedKvCache;
  /** What the press kept of each layer. */
  selections: LayerSelection[];
  /** Logits `[vocab]` after the last prefilled token. */
  logits: Float32Array;
  /** Milliseconds gathering the scorer's statistics and scoring (part of the prefill). */
  scoringMs: number;
  /** Milliseconds choosing and copying the kept tokens, the device synchronised (part of the prefill). */
  compactMs: number;
}

/**
 * Prefills `ids` and compresses each layer with `press` at `ratio` as soon as the layer
 * is done, so only one layer's full cache ever exists; `growth` free rows per head are
 * left for what follows.
 *
 * @example
 * ```ts
 * const { cache, selections, logits } = compressedPrefill(model, ids, makePress("snapkv"), 0.8, 64);
 * ```
 */
export function compressedPrefill(
  model: RunnableModel,
  ids: Int32Array,
  press: Press,
  ratio: number,
  growth: number,
  observers: readonly ForwardObserver[] = [],
): CompressedPrefill {
  const { layers, kvHeads } = model.config;
  const cache = new RaggedKvCache(model.device, model.config, growth);
  using staging = new OneLayerCache(model, ids.length);
  try {
    using recorder = new ScoreRecorder(
      model.device,
      scoringShapeOf(model.config),
      press.scorer ? [press.scorer] : [],
      ids.length,
      staging,
    );
    const key = press.scorer ? scorerKey(press.scorer) : "";
    const selections: LayerSelection[] = [];
    let compactMs = 0;
    const compactor: ForwardObserver = {
      layerDone: (l) => {
        model.device.synchronize(); // the layer's queued forward work is not compaction
        const started = performance.now();
        const scores = press.scorer ? recorder.layerScores(key, l) : new Float32Array(kvHeads * ids.length);
        selections[l] = press.select(l, scores, { layers, kvHeads, length: ids.length }, ratio);
        cache.compactLayer(l, staging.keys(l), staging.values(l), selections[l].kept);
        staging.release();
        model.device.synchronize();
        compactMs += performance.now() - started;
      },
    };
    const logits = append(model, staging, ids, [recorder, ...observers, compactor]);
    cache.advance(ids.length);
    return { cache, selections, logits, scoringMs: key ? recorder.scoringMs(key) : 0, compactMs };
  } catch (error) {
    cache.close();
    throw error;
  }
}

/** A dense cache of one layer at a time: layer l's buffer lives from `layer(l)` until `release()`. */
class OneLayerCache implements KvCache {
  length = 0;
  #dense: DenseKvCache | null = null;
  #layer = -1;

  constructor(readonly model: RunnableModel, readonly tokens: number) {}

  reserve(count: number): void {
    if (this.length !== 0 || count !== this.tokens) {
      throw new RangeError(`a compressing prefill takes exactly ${this.tokens} tokens once`);
    }
  }

  layer(l: number): LayerKv {
    const { kvHeads, headDim } = this.model.config;
    this.release();
    this.#dense = new DenseKvCache(this.model.device, { layers: 1, kvHeads, headDim }, this.tokens);
    this.#layer = l;
    return this.#dense.layer(0);
  }

  keys(l: number): Tensor<"f32"> {
    return this.#current(l).keys[0];
  }

  values(l: number): Tensor<"f32"> {
    return this.#current(l).values[0];
  }

  release(): void {
    this.#dense?.close();
    this.#dense = null;
  }

  advance(count: number): void {
    this.length += count;
  }

  bytes(): number {
    return this.#dense?.bytes() ?? 0;
  }

  close(): void {
    this.release();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #current(l: number): DenseKvCache {
    if (!this.#dense || this.#layer !== l) throw new RangeError(`layer ${l} is not being prefilled`);
    return this.#dense;
  }
}
