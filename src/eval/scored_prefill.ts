/** A dense cache whose context prefill also scores every token for several scorers, layer by layer. */

import type { Device } from "../backend/device.ts";
import type { Tensor } from "../backend/tensor.ts";
import { DenseKvCache } from "../cache/dense.ts";
import type { LayerKv } from "../cache/kv_cache.ts";
import { LayerScoring, type ScoringShape } from "../press/layer_scoring.ts";
import type { Scorer } from "../press/scorers/scorer.ts";

/**
 * The key under which a scorer's scores are kept: its name and parameters, so that two
 * presses share scores exactly when their scorers would compute the same ones.
 *
 * @example
 * ```ts
 * scorerKey(snapKvScorer()); // 'snapkv{"window":32,"kernel":7}'
 * ```
 */
export function scorerKey(scorer: Scorer): string {
  return `${scorer.name}${JSON.stringify(scorer.params)}`;
}

/**
 * A full cache of `capacity` tokens for one sample. Its first forward run must be the
 * context (`context` tokens): during that run every scorer gathers its statistics from
 * the forward's hooks and scores each layer when the layer is done, so one dense prefill
 * serves every press. Later runs (the question, decoding) are plain dense-cache runs;
 * set `length` back to `context` to forget them.
 *
 * Shapes: `scores(key)[l]` is `[kvHeads, context]`, row-major.
 *
 * @example
 * ```ts
 * using cache = new ScoredPrefillCache(dev, shape, [snapKvScorer(), expectedAttentionScorer()], ids.length, ids.length + 64);
 * forward.run(ids, cache).close();
 * const snap = cache.scores(scorerKey(snapKvScorer())); // Float32Array[] per layer
 * ```
 */
export class ScoredPrefillCache extends DenseKvCache {
  readonly #scorings: Map<string, LayerScoring>;
  readonly #scores = new Map<string, Float32Array[]>();
  readonly #scoringMs = new Map<string, number>();

  /** Scores the `context` first tokens with each distinct scorer of `scorers` (by {@linkcode scorerKey}). */
  constructor(
    device: Device,
    readonly scoringShape: ScoringShape,
    scorers: readonly Scorer[],
    readonly context: number,
    capacity: number,
  ) {
    super(device, scoringShape, capacity);
    if (!Number.isSafeInteger(context) || context < 1 || context > capacity) {
      this.close();
      throw new RangeError(`the context must hold 1 to ${capacity} tokens, got ${context}`);
    }
    this.#scorings = new Map(
      scorers.map((s) => [scorerKey(s), new LayerScoring(device, scoringShape, s, context)]),
    );
    for (const key of this.#scorings.keys()) {
      this.#scores.set(key, []);
      this.#scoringMs.set(key, 0);
    }
  }

  /** The keys of the scorers, in the order first given. */
  get scorerKeys(): string[] {
    return [...this.#scorings.keys()];
  }

  /** Scores per layer `[kvHeads, context]` of scorer `key`, once the context prefill is done. */
  scores(key: string): Float32Array[] {
    const scores = this.#scores.get(key);
    if (!scores || scores.length !== this.shape.layers) {
      throw new RangeError(
        `no scores for ${key}: ${scores ? "the context has not been prefilled" : "unknown"}`,
      );
    }
    return scores;
  }

  /** Milliseconds spent gathering statistics for scorer `key` and scoring, over every layer. */
  scoringMs(key: string): number {
    return this.#scoringMs.get(key) ?? 0;
  }

  /** The first run must be exactly the context. */
  override reserve(count: number): void {
    if (this.#prefilling && count !== this.context) {
      throw new RangeError(`the first run must be the ${this.context}-token context, got ${count} tokens`);
    }
    super.reserve(count);
  }

  /** Layer `l`'s dense view; during the context prefill, each scorer starts the layer afresh. */
  override layer(l: number): LayerKv {
    if (this.#prefilling) this.#each((s) => s.begin());
    return super.layer(l);
  }

  /** Pre-RoPE queries, for query statistics. */
  queriesBeforeRope(_l: number, q: Tensor<"f32">, pos0: number): void {
    if (this.#prefilling) this.#each((s) => s.queriesBeforeRope(q, pos0));
  }

  /** Post-RoPE queries with the layer's keys, for attention statistics. */
  queriesAfterWrite(l: number, q: Tensor<"f32">, pos0: number): void {
    if (this.#prefilling) this.#each((s) => s.queriesAfterWrite(q, pos0, this.keys[l]));
  }

  /** Scores the finished layer with every scorer. */
  endLayer(l: number): void {
    if (!this.#prefilling) return;
    this.#each((s, key) => this.#scores.get(key)![l] = s.score(l, this.keys[l], this.values[l]));
  }

  /** Scoring happens during the first run only, before `advance` records the context. */
  get #prefilling(): boolean {
    return this.length === 0;
  }

  #each(step: (scoring: LayerScoring, key: string) => void): void {
    for (const [key, scoring] of this.#scorings) {
      const started = performance.now();
      step(scoring, key);
      this.#scoringMs.set(key, this.#scoringMs.get(key)! + performance.now() - started);
    }
  }
}
