/** Scoring during a prefill: a forward observer that gathers what each scorer needs and scores every layer. */

import type { Device } from "../backend/device.ts";
import * as ops from "../backend/ops.ts";
import type { Tensor } from "../backend/tensor.ts";
import type { ForwardObserver } from "../model/observer.ts";
import type { ScoringShape } from "../model/shape.ts";
import { attentionPerQueryHead } from "./attention_sums.ts";
import type { LayerState, Scorer } from "./scorers/scorer.ts";

/** Where the recorder reads a layer's dense keys and values `[kvHeads, capacity, headDim]`. */
export interface DenseLayers {
  /** Keys of layer `l` after RoPE. */
  keys(l: number): Tensor<"f32">;
  /** Values of layer `l`. */
  values(l: number): Tensor<"f32">;
}

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
 * Pre-RoPE query moments accumulated on the device: `sum` `[heads, headDim]` and `outer`
 * `[heads, headDim, headDim]` of `x = q - shift`, over `count` rows.
 */
interface Moments extends Disposable {
  sum: Tensor<"f32">;
  outer: Tensor<"f32">;
  shift: Tensor<"f32">;
  count: number;
}

/** One layer's statistics, shared by the scorers that need the same ones. */
interface LayerStats {
  rows: number;
  /** Window attention sums per query head `[heads, tokens]` by window size. */
  windows: Map<number, Float32Array>;
  /** Attention sums of every query `[kvHeads, tokens]`. */
  all: Float32Array | null;
  /** Pre-RoPE query moments by the leading positions left out. */
  moments: Map<number, Moments>;
}

/**
 * Watches the forward runs that fill the first `tokens` positions of a dense cache (one
 * run, or a context then a question) and, as soon as a layer holds all `tokens`, scores
 * it with every scorer: `scores(key)[l]` is `[kvHeads, tokens]`. Statistics are gathered
 * once for all scorers that need them, on the device: window or full attention sums
 * from the attention-scores kernel, pre-RoPE query moments from the query-moments kernel.
 * Scorers read keys and values where they are; only scores and small statistics reach
 * the host. Put it before any observer that uses the scores in `layerDone`.
 *
 * @example
 * ```ts
 * const recorder = new ScoreRecorder(dev, shape, [snapKvScorer()], ids.length, {
 *   keys: (l) => cache.keys[l], values: (l) => cache.values[l],
 * });
 * forward.run(ids, cache, [recorder]).close();
 * const scores = recorder.scores(scorerKey(snapKvScorer())); // Float32Array[] per layer
 * ```
 */
export class ScoreRecorder implements ForwardObserver, Disposable {
  readonly #scorers: Map<string, Scorer>;
  readonly #scores = new Map<string, Float32Array[]>();
  readonly #ms = new Map<string, number>();
  readonly #stats: (LayerStats | null)[];
  readonly #scored: boolean[];

  /** Scores the first `tokens` positions with each distinct scorer (by {@linkcode scorerKey}). */
  constructor(
    readonly device: Device,
    readonly shape: ScoringShape,
    scorers: readonly Scorer[],
    readonly tokens: number,
    readonly layers: DenseLayers,
  ) {
    if (!Number.isSafeInteger(tokens) || tokens < 1) {
      throw new RangeError(`scoring needs a positive number of tokens, got ${tokens}`);
    }
    this.#scorers = new Map(scorers.map((s) => [scorerKey(s), s]));
    for (const key of this.#scorers.keys()) {
      this.#scores.set(key, []);
      this.#ms.set(key, 0);
    }
    this.#stats = new Array(shape.layers).fill(null);
    this.#scored = new Array(shape.layers).fill(false);
  }

  /** Scores per layer `[kvHeads, tokens]` of scorer `key`, once every layer is scored. */
  scores(key: string): Float32Array[] {
    const scores = this.#scores.get(key);
    if (!scores || !this.#scored.every(Boolean)) {
      throw new RangeError(
        `no scores for ${key}: ${scores ? "the prefill has not reached them" : "unknown"}`,
      );
    }
    return scores;
  }

  /** Scores of layer `l` by scorer `key`, once that layer is scored. */
  layerScores(key: string, l: number): Float32Array {
    const scores = this.#scores.get(key)?.[l];
    if (!scores) throw new RangeError(`layer ${l} has no ${key} scores yet`);
    return scores;
  }

  /** Milliseconds spent on scorer `key`: its statistics (shared ones counted for each user) and scoring. */
  scoringMs(key: string): number {
    return this.#ms.get(key) ?? 0;
  }

  /** Accumulates pre-RoPE query moments of `q` `[rows, heads * headDim]` for the scorers that need them. */
  queriesBeforeRope(l: number, q: Tensor<"f32">, pos0: number): void {
    const sinks = this.#users("query-stats").map((s) => s.querySink ?? 0);
    if (sinks.length === 0 || pos0 >= this.tokens) return;
    this.#timed("query-stats", () => {
      const stats = this.#layer(l);
      const rows = Math.min(q.shape[0], this.tokens - pos0);
      for (const sink of new Set(sinks)) {
        const first = Math.max(0, sink - pos0);
        if (first >= rows) continue;
        const block = q.rows(first, rows - first);
        let m = stats.moments.get(sink);
        if (!m) stats.moments.set(sink, m = this.#moments(block));
        ops.queryMoments(m.sum, m.outer, block, m.shift);
        m.count += rows - first;
      }
    });
  }

  /** Accumulates attention sums of post-RoPE queries `[rows, heads, headDim]` (all, or the window's). */
  queriesAfterWrite(l: number, q: Tensor<"f32">, pos0: number): void {
    if (pos0 >= this.tokens) return;
    const rows = Math.min(q.shape[0], this.tokens - pos0);
    const stats = this.#layer(l);
    stats.rows = pos0 + rows;
    if (this.#users("all-attention").length > 0) {
      this.#timed("all-attention", () => stats.all = this.#accumulate(stats.all, l, q, pos0, 0, rows));
    }
    const windows = new Set(this.#users("window-attention").map((s) => s.windowQueries ?? 32));
    for (const window of windows) {
      const first = Math.max(0, this.tokens - window - pos0);
      if (first >= rows) continue;
      this.#timed("window-attention", () => {
        const { heads } = this.shape, visible = pos0 + rows;
        const block = q.rows(first, rows - first);
        const host = block.device.kind === "cpu" ? block.view() : block.toHost();
        const sums = attentionPerQueryHead(
          this.device,
          host,
          heads,
          this.layers.keys(l),
          pos0 + first,
          visible,
        );
        const into = stats.windows.get(window) ?? new Float32Array(heads * this.tokens);
        for (let i = 0; i < heads; i++) {
          for (let j = 0; j < visible; j++) into[i * this.tokens + j] += sums[i * visible + j];
        }
        stats.windows.set(window, into);
      });
    }
  }

  /** Scores layer `l` with every scorer once it holds all `tokens`. */
  layerDone(l: number): void {
    const stats = this.#stats[l];
    if (!stats || stats.rows < this.tokens || this.#scored[l]) return;
    const { kvHeads, heads, headDim, inverseFrequencies } = this.shape;
    const flat = (t: Tensor<"f32">) => t.reshape([t.shape[0] * t.shape[1], headDim]);
    const keys = flat(this.layers.keys(l)), values = flat(this.layers.values(l));
    const capacity = this.layers.keys(l).shape[1];
    const offsets = Int32Array.from({ length: kvHeads }, (_, h) => h * capacity);
    const moments = new Map([...stats.moments].map(([sink, m]) => [sink, centre(m, heads, headDim)]));
    for (const m of stats.moments.values()) m[Symbol.dispose]();
    this.device.synchronize();
    for (const [key, scorer] of this.#scorers) {
      const started = performance.now();
      const window = scorer.windowQueries ?? 32;
      const queryStats = moments.get(scorer.querySink ?? 0);
      const state: LayerState = {
        device: this.device,
        layer: l,
        length: this.tokens,
        heads,
        kvHeads,
        headDim,
        inverseFrequencies,
        keys: scorer.needs.includes("keys") ? keys : undefined,
        values: scorer.needs.includes("values") ? values : undefined,
        offsets,
        windowAttention: stats.windows.get(window),
        windowQueries: stats.windows.has(window) ? Math.min(this.tokens, window) : undefined,
        allAttention: stats.all ?? undefined,
        queryStats: scorer.needs.includes("query-stats") ? queryStats : undefined,
      };
      this.#scores.get(key)![l] = scorer.score(state);
      this.#ms.set(key, this.#ms.get(key)! + performance.now() - started);
    }
    this.#stats[l] = null;
    this.#scored[l] = true;
  }

  /** Frees the statistics of layers never scored (a prefill that failed half-way). */
  [Symbol.dispose](): void {
    for (const stats of this.#stats) for (const m of stats?.moments.values() ?? []) m[Symbol.dispose]();
    this.#stats.fill(null);
  }

  #users(need: Scorer["needs"][number]): Scorer[] {
    return [...this.#scorers.values()].filter((s) => s.needs.includes(need));
  }

  #layer(l: number): LayerStats {
    return this.#stats[l] ??= { rows: 0, windows: new Map(), all: null, moments: new Map() };
  }

  /**
   * Runs `step`, adding its time to every scorer that needs `need`. The device is
   * synchronised on both sides, so the forward's queued work is not counted as scoring.
   */
  #timed(need: Scorer["needs"][number], step: () => void): void {
    this.device.synchronize();
    const started = performance.now();
    step();
    this.device.synchronize();
    const ms = performance.now() - started;
    for (const [key, scorer] of this.#scorers) {
      if (scorer.needs.includes(need)) this.#ms.set(key, this.#ms.get(key)! + ms);
    }
  }

  /** Zeroed moments whose shift is the mean of `block` `[rows, heads * headDim]` (the layer's first rows). */
  #moments(block: Tensor<"f32">): Moments {
    const { heads, headDim: d } = this.shape;
    const host = block.device.kind === "cpu" ? block.view() : block.toHost();
    const rows = block.shape[0], mean = new Float32Array(heads * d);
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < heads * d; i++) mean[i] += host[r * heads * d + i] / rows;
    }
    const sum = this.device.zeros("f32", [heads, d]), outer = this.device.zeros("f32", [heads, d, d]);
    const shift = this.device.fromArray("f32", mean, [heads, d]);
    return {
      sum,
      outer,
      shift,
      count: 0,
      [Symbol.dispose]: () => [sum, outer, shift].forEach((t) => t.close()),
    };
  }

  /** Adds the attention of query rows `first .. first + count` of the block to `into` `[kvHeads, tokens]`. */
  #accumulate(
    into: Float32Array | null,
    l: number,
    q: Tensor<"f32">,
    pos0: number,
    first: number,
    count: number,
  ): Float32Array {
    const { kvHeads } = this.shape;
    const sums = into ?? new Float32Array(kvHeads * this.tokens);
    const visible = pos0 + first + count;
    using out = this.device.zeros("f32", [kvHeads, visible]);
    ops.attentionScores(out, q.rows(first, count), this.layers.keys(l), pos0 + first, visible);
    const host = out.toHost();
    for (let h = 0; h < kvHeads; h++) {
      for (let j = 0; j < visible; j++) sums[h * this.tokens + j] += host[h * visible + j];
    }
    return sums;
  }
}

/** Mean and covariance (float64, host) from moments accumulated about a shift. */
function centre(m: Moments, heads: number, d: number): NonNullable<LayerState["queryStats"]> {
  const n = Math.max(1, m.count);
  const sum = m.sum.toHost(), outer = m.outer.toHost(), shift = m.shift.toHost();
  const shifted = Float64Array.from(sum, (x) => x / n);
  const covariance = new Float64Array(heads * d * d);
  for (let h = 0; h < heads; h++) {
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) {
        const i = (h * d + a) * d + b;
        covariance[i] = outer[i] / n - shifted[h * d + a] * shifted[h * d + b];
      }
    }
  }
  return { mean: shifted.map((x, i) => x + shift[i]), covariance, count: m.count };
}
