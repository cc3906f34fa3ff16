/** What a token scorer sees of one layer at the end of prefill, and what it returns. */

import type { Device } from "../../backend/device.ts";
import type { Tensor } from "../../backend/tensor.ts";

/**
 * The prefill statistics a scorer can ask for. Only what a scorer declares is gathered
 * or copied: attention sums come from the attention-scores kernel, query moments from
 * the pre-RoPE queries, keys and values from the cache.
 */
export type ScorerNeed = "window-attention" | "all-attention" | "query-stats" | "keys" | "values";

/** A scorer's settings: numbers, switches and named choices, recorded in profiles and result rows. */
export type ScorerParams = Record<string, number | boolean | string>;

/**
 * One layer's state for scoring. Keys and values stay on the device, in the ragged
 * layout the kernels take: KV head h owns rows `offsets[h] .. offsets[h] + length - 1` of
 * `keys`, `values` `[rows, headDim]` (a dense cache `[kvHeads, capacity, headDim]` is the
 * case `offsets[h] = h * capacity`). Keys are cached after RoPE. Statistics are small
 * host arrays: attention sums `[kvHeads, length]`, query moments.
 */
export interface LayerState {
  /** Where keys and values live, and where scoring kernels run. */
  device: Device;
  /** Decoder layer index. */
  layer: number;
  /** Tokens in the layer's cache. */
  length: number;
  /**
   * The next position (default `length`): during decoding, a head holds fewer tokens
   * than have been seen, and Expected Attention looks ahead from the real position.
   */
  position?: number;
  /** Query heads. */
  heads: number;
  /** KV heads. */
  kvHeads: number;
  /** Head dimension. */
  headDim: number;
  /** RoPE inverse frequencies `[headDim / 2]` (Expected Attention rotates its query statistics). */
  inverseFrequencies: Float64Array;
  /** Keys after RoPE, `[rows, headDim]` on the device (needs `"keys"`). */
  keys?: Tensor<"f32">;
  /** Values, `[rows, headDim]` on the device (needs `"values"`). */
  values?: Tensor<"f32">;
  /** Each KV head's first row in `keys` and `values`, `[kvHeads]` (with `"keys"` or `"values"`). */
  offsets?: Int32Array;
  /**
   * Softmax attention of the last `windowQueries` prompt queries, summed over them, per
   * query head: `[heads, length]` (query head `h * group + g` of KV head h).
   */
  windowAttention?: Float32Array;
  /** How many queries `windowAttention` summed (fewer than the window when the prompt is short). */
  windowQueries?: number;
  /** Softmax attention of every prompt query, summed over queries and each GQA group (H2O). */
  allAttention?: Float32Array;
  /** Mean `[heads, headDim]` and covariance `[heads, headDim, headDim]` of pre-RoPE queries. */
  queryStats?: { mean: Float64Array; covariance: Float64Array; count: number };
}

/**
 * A token scorer: higher score = keep; scores are finite. It declares what it reads;
 * the prefill gathers exactly that.
 *
 * @example
 * ```ts
 * const scores = knormScorer().score(state); // Float32Array [kvHeads * length]
 * ```
 */
export interface Scorer {
  /** Name in press names, profiles and reports, e.g. `"snapkv"`. */
  readonly name: string;
  /** What the prefill must gather. */
  readonly needs: readonly ScorerNeed[];
  /** Queries in the observation window (only for `"window-attention"`). */
  readonly windowQueries?: number;
  /** Leading positions left out of the query statistics (only for `"query-stats"`). */
  readonly querySink?: number;
  /** Every parameter with its value in effect (defaults filled in). */
  readonly params: Readonly<ScorerParams>;
  /** Scores `[kvHeads, length]`, row-major. */
  score(state: LayerState): Float32Array;
}

/**
 * The input a scorer declared it needs, or a RangeError naming it.
 *
 * @example
 * ```ts
 * const keys = required(state.keys, "keydiff", "keys");
 * ```
 */
export function required<T>(value: T | undefined, scorer: string, need: string): T {
  if (value === undefined) throw new RangeError(`${scorer} needs ${need}, which the prefill did not gather`);
  return value;
}

/**
 * Runs a scoring kernel that writes one score per cache row into `out` `[rows]` on the
 * device, over each head's rows but its first `skip` (the kernel gets the shifted
 * `offsets` and `lengths` of what it scores), and returns the scores of each head's rows on
 * the host, `[kvHeads, length]`, the skipped ones 0: the only copy to the host a kernel
 * scorer makes.
 *
 * @example
 * ```ts
 * const scores = rowScores(state, (out, offsets, lengths) => ops.keyScores(out, keys, offsets, lengths, "knorm"));
 * ```
 */
export function rowScores(
  state: LayerState,
  kernel: (out: Tensor<"f32">, offsets: Int32Array, lengths: Int32Array) => void,
  skip = 0,
): Float32Array {
  const { device, kvHeads, length } = state;
  const keys = required(state.keys ?? state.values, "a kernel scorer", "keys or values");
  const offsets = required(state.offsets, "a kernel scorer", "row offsets");
  const scores = new Float32Array(kvHeads * length);
  if (skip >= length) return scores;
  using out = device.zeros("f32", [keys.shape[0]]);
  kernel(out, offsets.map((o) => o + skip), new Int32Array(kvHeads).fill(length - skip));
  const rows = out.toHost();
  for (let h = 0; h < kvHeads; h++) scores.set(rows.subarray(offsets[h], offsets[h] + length), h * length);
  return scores;
}

/**
 * Raises the tokens a scorer always keeps (SnapKV's observation window, Expected
 * Attention's sinks) to one above the head's largest other score: they rank first, as
 * kvpress's "max score" padding makes them, and scores stay finite (the LU-KV curves
 * need finite scores).
 *
 * @param scores `[heads, length]`, changed in place
 * @example
 * ```ts
 * raiseToTop(scores, length, (j) => j >= length - 32);
 * ```
 */
export function raiseToTop(scores: Float32Array, length: number, top: (j: number) => boolean): Float32Array {
  for (let base = 0; base < scores.length; base += length) {
    let max = -Infinity;
    for (let j = 0; j < length; j++) if (!top(j)) max = Math.max(max, scores[base + j]);
    const value = Number.isFinite(max) ? max + 1 : 0;
    for (let j = 0; j < length; j++) if (top(j)) scores[base + j] = value;
  }
  return scores;
}
