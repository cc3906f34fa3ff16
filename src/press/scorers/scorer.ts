/** What a token scorer sees of one layer at the end of prefill, and what it returns. */

/** The prefill statistics a scorer can ask the forward pass to collect for it. */
export type ScorerNeed = "window-attention" | "all-attention" | "query-stats";

/**
 * One layer's prefill state on the host, for scoring. Keys are cached after RoPE.
 *
 * Shapes: `keys`, `values` `[kvHeads, length, headDim]`; attention sums `[kvHeads, length]`.
 */
export interface LayerState {
  /** Decoder layer index. */
  layer: number;
  /** Tokens in the layer's cache. */
  length: number;
  /** Query heads. */
  heads: number;
  /** KV heads. */
  kvHeads: number;
  /** Head dimension. */
  headDim: number;
  /** Keys after RoPE, `[kvHeads, length, headDim]`. */
  keys: Float32Array;
  /** Values, `[kvHeads, length, headDim]`. */
  values: Float32Array;
  /** RoPE inverse frequencies `[headDim / 2]` (Expected Attention rotates its query statistics). */
  inverseFrequencies: Float64Array;
  /** Softmax attention of the last `windowQueries` prompt queries summed over them and each GQA group. */
  windowAttention?: Float32Array;
  /** How many queries `windowAttention` summed (fewer than the window when the prompt is short). */
  windowQueries?: number;
  /** Softmax attention of every prompt query, summed over queries and each GQA group (H2O). */
  allAttention?: Float32Array;
  /** Mean `[heads, headDim]` and covariance `[heads, headDim, headDim]` of pre-RoPE queries. */
  queryStats?: { mean: Float64Array; covariance: Float64Array; count: number };
}

/**
 * A token scorer: higher score = keep. It declares the statistics it needs; the
 * forward pass collects them during prefill.
 *
 * @example
 * ```ts
 * const scores = knormScorer().score(state); // Float32Array [kvHeads * length]
 * ```
 */
export interface Scorer {
  /** Name in presets, profiles and reports, e.g. `"snapkv"`. */
  name: string;
  /** What the forward pass must collect. */
  needs: readonly ScorerNeed[];
  /** Queries in SnapKV's observation window (only for `"window-attention"`). */
  windowQueries?: number;
  /** Parameters, recorded in profiles. */
  params: Record<string, number>;
  /** Scores `[kvHeads, length]`, row-major. */
  score(state: LayerState): Float32Array;
}
