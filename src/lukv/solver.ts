/** The marginal-utility greedy of LU-KV: evict the cheapest hull segment of any head first, for every ratio. */

import type { EvictionCurves } from "./curves.ts";
import { budgetRatios, type BudgetTable, RATIO_COUNT } from "./tables.ts";

/** Options of {@linkcode solveBudgets}. */
export interface SolveOptions {
  /** Compete for evictions across every head of the model (`"global"`, default) or within each layer. */
  scope?: "global" | "layer";
  /** No head keeps fewer than `max(round(minKeepFraction * T), sink + window)` tokens. Default 0.01. */
  minKeepFraction?: number;
}

/**
 * Solves the per-head budgets of DESIGN.md 7.5 for the 99 ratios 1% .. 99%.
 *
 * The greedy evicts the token of lowest marginal cost first, ties broken by
 * (cost, layer, head); on convex curves a head's tokens come in hull-segment runs of
 * equal cost, so this walks whole segments through a heap of heads and splits a
 * segment only where a ratio's target falls inside it. The result equals the
 * token-by-token heap algorithm entry for entry, in `O(S log(LH) + 99 LH)` for `S`
 * segments instead of `O(LHT log(LH))`.
 *
 * The target for ratio `r` is `round(r * N)` evicted entries, `N = L * H * T`
 * (per layer: `H * T`), halves rounding up; when every head has reached its minimum
 * the target is not met and the table says what was reached.
 *
 * @param curves from {@linkcode evictionCurves}
 * @returns prune ratios `1 - keep / T`, shape `[99, L, H]`
 * @example
 * ```ts
 * const table = solveBudgets(evictionCurves(oracle, scores, { sink: 4, window: 32 }), { scope: "layer" });
 * ```
 */
export function solveBudgets(curves: EvictionCurves, options: SolveOptions = {}): BudgetTable {
  const { scope = "global", minKeepFraction = 0.01 } = options;
  if (scope !== "global" && scope !== "layer") {
    throw new RangeError(`scope must be "global" or "layer", got ${JSON.stringify(scope)}`);
  }
  if (!(minKeepFraction >= 0 && minKeepFraction <= 1)) {
    throw new RangeError(`minKeepFraction must lie in [0, 1], got ${minKeepFraction}`);
  }
  checkCurves(curves);
  const { layers, heads, length, sink, window } = curves;
  const minKeep = Math.max(Math.round(minKeepFraction * length), sink + window);
  const cap = Math.max(0, length - minKeep);
  const prune = new Float64Array(RATIO_COUNT * layers * heads);
  const groups = scope === "global" ? [[0, layers * heads]] : Array.from(
    { length: layers },
    (_, l) => [l * heads, (l + 1) * heads],
  );
  for (const [first, end] of groups) evictGroup(curves, first, end, cap, prune);
  return { layers, heads, ratios: budgetRatios(), prune };
}

/** Runs the greedy over heads `first .. end - 1`, writing their prune ratios for every row. */
function evictGroup(curves: EvictionCurves, first: number, end: number, cap: number, prune: Float64Array) {
  const { offsets, slopes, lengths, length } = curves;
  const heads = end - first, all = curves.layers * curves.heads;
  const segment = new Int32Array(heads); // current segment of each head (absolute index)
  const usedInSegment = new Int32Array(heads);
  const evicted = new Int32Array(heads);
  const heap = new SegmentHeap(slopes, segment, heads);
  for (let i = 0; i < heads; i++) {
    segment[i] = offsets[first + i];
    if (cap > 0) heap.push(i);
  }
  let total = 0;
  for (let k = 0; k < RATIO_COUNT; k++) {
    const target = Math.round(((k + 1) * heads * length) / 100);
    while (total < target && heap.size > 0) {
      const i = heap.top();
      const s = segment[i];
      const available = Math.min(lengths[s] - usedInSegment[i], cap - evicted[i]);
      const take = Math.min(available, target - total);
      evicted[i] += take;
      usedInSegment[i] += take;
      total += take;
      if (take < available) break; // the target falls inside this segment
      if (evicted[i] === cap || s + 1 === offsets[first + i + 1]) {
        heap.pop();
      } else {
        segment[i] = s + 1;
        usedInSegment[i] = 0;
        heap.siftDownTop(); // its cost rose to the next segment's slope
      }
    }
    const row = k * all + first;
    for (let i = 0; i < heads; i++) prune[row + i] = 1 - (length - evicted[i]) / length;
  }
}

/** A binary min-heap of heads keyed by (slope of the head's current segment, head index). */
class SegmentHeap {
  readonly #items: Int32Array;
  #size = 0;

  constructor(readonly slopes: Float64Array, readonly segment: Int32Array, capacity: number) {
    this.#items = new Int32Array(capacity);
  }

  get size(): number {
    return this.#size;
  }

  top(): number {
    return this.#items[0];
  }

  push(head: number): void {
    const items = this.#items;
    let i = this.#size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(head, items[parent])) break;
      items[i] = items[parent];
      i = parent;
    }
    items[i] = head;
  }

  pop(): void {
    this.#items[0] = this.#items[--this.#size];
    this.siftDownTop();
  }

  siftDownTop(): void {
    const items = this.#items, size = this.#size;
    if (size === 0) return;
    const head = items[0];
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= size) break;
      if (child + 1 < size && this.#less(items[child + 1], items[child])) child++;
      if (!this.#less(items[child], head)) break;
      items[i] = items[child];
      i = child;
    }
    items[i] = head;
  }

  #less(a: number, b: number): boolean {
    const sa = this.slopes[this.segment[a]], sb = this.slopes[this.segment[b]];
    return sa < sb || (sa === sb && a < b);
  }
}

/** Refuses curves that were not built by evictionCurves' rules (ragged, unordered, non-finite). */
function checkCurves(curves: EvictionCurves): void {
  const { layers, heads, length, sink, window, offsets, slopes, lengths } = curves;
  const evictable = length - sink - window;
  if (
    offsets.length !== layers * heads + 1 || offsets[0] !== 0 || offsets[layers * heads] !== slopes.length ||
    slopes.length !== lengths.length
  ) {
    throw new RangeError("eviction curves are inconsistent: offsets, slopes and lengths do not line up");
  }
  if (
    !(evictable >= 1) || !Number.isSafeInteger(sink) || sink < 0 || !Number.isSafeInteger(window) ||
    window < 0
  ) {
    throw new RangeError(
      `eviction curves need sink, window >= 0 with sink + window < length, got ${sink}, ${window}, ${length}`,
    );
  }
  for (let head = 0; head < layers * heads; head++) {
    let sum = 0;
    for (let s = offsets[head]; s < offsets[head + 1]; s++) {
      if (
        !(lengths[s] >= 1) || !Number.isFinite(slopes[s]) || (s > offsets[head] && slopes[s] < slopes[s - 1])
      ) {
        throw new RangeError(
          `eviction curve of head ${head} is not convex: segment ${s} has slope ${slopes[s]}, length ${
            lengths[s]
          }`,
        );
      }
      sum += lengths[s];
    }
    if (sum !== evictable) {
      throw new RangeError(`eviction curve of head ${head} covers ${sum} tokens, expected ${evictable}`);
    }
  }
}
