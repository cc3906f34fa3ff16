/** Decode-time compression: every N generated tokens, the press scores each head's rows again and keeps its share. */

import type { Tensor } from "../backend/tensor.ts";
import type { KeptTokens, RaggedKvCache } from "../cache/ragged.ts";
import type { RunnableModel } from "../model/model.ts";
import type { ForwardObserver } from "../model/observer.ts";
import { scoringShapeOf } from "../model/shape.ts";
import { attentionPerQueryHead } from "../press/attention_sums.ts";
import type { Press } from "../press/press.ts";
import type { LayerState } from "../press/scorers/scorer.ts";
import { keptIndices, protectedCount } from "../press/select.ts";

/**
 * Keeps host copies of the queries of the tokens decoded since the last compression,
 * per layer: pre-RoPE (for query statistics) and post-RoPE (for attention from the
 * recent window). Decode-time scorers read them the way prefill scorers read the prompt's.
 *
 * @example
 * ```ts
 * const recent = new RecentQueries();
 * for (const token of decode(model, cache, logits, { maxNew, pick, observers: [recent] })) { ... }
 * ```
 */
export class RecentQueries implements ForwardObserver {
  /** Per layer, each decoded token's pre-RoPE queries `[heads * headDim]`, oldest first. */
  readonly before: Float32Array[][] = [];
  /** Per layer, each decoded token's post-RoPE queries `[heads * headDim]`, oldest first. */
  readonly after: Float32Array[][] = [];

  /** Records the block's last row (one row per decode step). */
  queriesBeforeRope(l: number, q: Tensor<"f32">): void {
    (this.before[l] ??= []).push(Float32Array.from(q.rows(q.shape[0] - 1, 1).toHost()));
  }

  /** Records the block's last row. */
  queriesAfterWrite(l: number, q: Tensor<"f32">): void {
    (this.after[l] ??= []).push(Float32Array.from(q.rows(q.shape[0] - 1, 1).toHost()));
  }

  /** Forgets everything (after a compression). */
  clear(): void {
    this.before.length = 0;
    this.after.length = 0;
  }
}

/**
 * Compresses a ragged cache during decoding, so that each layer again holds its budget
 * share of all tokens seen so far. The budgets are the press's allocation at `ratio` for
 * a context of `cache.length` tokens (uniform, PyramidKV and LU-KV budgets depend on the
 * length alone); AdaKV's depend on scores, so its layer total is split between the heads
 * as its prefill split them (`prefillCounts`). In every (layer, KV head) above its budget,
 * the press's scorer scores the head's rows from what the recent decoded tokens show
 * (attention of their queries, their query statistics, the keys and values) and the head
 * keeps its best rows, the first `sink` and last `window` protected (the oldest rows are
 * the prompt's sinks, the newest the recent tokens). A head within its budget is left whole.
 *
 * @example
 * ```ts
 * compressDecoded(model, cache, press, 0.5, selections.map((s) => s.counts), recent); // every 64 tokens
 * recent.clear();
 * ```
 */
export function compressDecoded(
  model: RunnableModel,
  cache: RaggedKvCache,
  press: Press,
  ratio: number,
  prefillCounts: readonly Int32Array[],
  recent: RecentQueries,
): void {
  const scorer = press.scorer;
  if (!scorer) throw new RangeError("decode-time compression needs a press with a scorer");
  const { layers, heads, kvHeads, headDim: d, inverseFrequencies } = scoringShapeOf(model.config);
  const group = heads / kvHeads;
  for (let l = 0; l < layers; l++) {
    const budgets = decodeBudgets(press, l, ratio, cache.length, layers, kvHeads, prefillCounts[l]);
    const kept: number[][] = [];
    let changed = false;
    for (let h = 0; h < kvHeads; h++) {
      const rows = cache.headRows(l, h);
      const n = rows.length;
      const target = Math.min(n, Math.max(protectedCount(n, press.protections), budgets[h]));
      if (target >= n) {
        kept.push(Array.from({ length: n }, (_, j) => j));
        continue;
      }
      const state: LayerState = {
        device: model.device,
        layer: l,
        length: n,
        position: cache.length,
        heads: group,
        kvHeads: 1,
        headDim: d,
        inverseFrequencies,
        keys: rows.keys,
        values: rows.values,
        offsets: new Int32Array([0]),
      };
      const after = recent.after[l] ?? [], before = recent.before[l] ?? [];
      const steps = Math.min(after.length, n);
      if (scorer.needs.includes("window-attention") || scorer.needs.includes("all-attention")) {
        const window = Math.min(steps, scorer.windowQueries ?? steps);
        if (window > 0) {
          state.windowAttention = recentAttention(model, rows.keys, after.slice(-window), h, group, d);
          state.windowQueries = window;
        }
        if (steps > 0) {
          state.allAttention = groupSum(
            recentAttention(model, rows.keys, after.slice(-steps), h, group, d),
            n,
          );
        }
      }
      if (scorer.needs.includes("query-stats") && before.length > 0) {
        state.queryStats = groupMoments(before, h, group, d);
      }
      const scores = scorer.score(state);
      const one = keptIndices(scores, new Int32Array([target]), n, press.protections);
      kept.push([...one.indices]);
      changed = true;
    }
    if (changed) cache.recompactLayer(l, flatten(kept));
  }
}

/** Layer `l`'s per-head budgets for `seen` tokens (see {@linkcode compressDecoded}). */
function decodeBudgets(
  press: Press,
  l: number,
  ratio: number,
  seen: number,
  layers: number,
  kvHeads: number,
  prefillCounts: Int32Array,
): Int32Array {
  const counts = press.allocate(
    l,
    new Float32Array(kvHeads * seen),
    { layers, kvHeads, length: seen },
    ratio,
  );
  if (press.allocator !== "adakv") return counts;
  const total = counts.reduce((a, b) => a + b, 0), prefill = prefillCounts.reduce((a, b) => a + b, 0);
  return prefillCounts.map((n) => Math.round((n / prefill) * total));
}

/**
 * Attention `[group, n]` that each query head of KV head `h`'s group pays from the recent
 * decoded queries (rows of `[heads * headDim]`, post-RoPE) to the head's rows, summed
 * over the queries: the recent tokens are the head's last rows, so each sees the rows up
 * to its own.
 */
function recentAttention(
  model: RunnableModel,
  keys: Tensor<"f32">,
  queries: Float32Array[],
  h: number,
  group: number,
  d: number,
): Float32Array {
  const count = queries.length, n = keys.shape[0];
  const q = new Float32Array(count * group * d);
  queries.forEach((row, t) => q.set(row.subarray(h * group * d, (h + 1) * group * d), t * group * d));
  return attentionPerQueryHead(model.device, q, group, keys.reshape([1, n, d]), n - count, n);
}

/** Sums `[group, n]` over the group: `[1, n]`. */
function groupSum(perHead: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < perHead.length; i++) out[i % n] += perHead[i];
  return out;
}

/** Mean and covariance `[group, d]`, `[group, d, d]` of the group's pre-RoPE queries of the recent tokens. */
function groupMoments(
  rows: Float32Array[],
  h: number,
  group: number,
  d: number,
): NonNullable<LayerState["queryStats"]> {
  const mean = new Float64Array(group * d), covariance = new Float64Array(group * d * d);
  for (const row of rows) {
    for (let i = 0; i < group * d; i++) mean[i] += row[h * group * d + i] / rows.length;
  }
  for (const row of rows) {
    for (let g = 0; g < group; g++) {
      const base = (h * group + g) * d;
      for (let a = 0; a < d; a++) {
        const x = row[base + a] - mean[g * d + a];
        for (let b = 0; b < d; b++) {
          covariance[(g * d + a) * d + b] += x * (row[base + b] - mean[g * d + b]) / rows.length;
        }
      }
    }
  }
  return { mean, covariance, count: rows.length };
}

function flatten(perHead: number[][]): KeptTokens {
  const offsets = new Int32Array(perHead.length + 1);
  perHead.forEach((rows, h) => offsets[h + 1] = offsets[h] + rows.length);
  return { indices: Int32Array.from(perHead.flat()), offsets };
}
