/**
 * The reference LU-KV solver: pops one token at a time from a heap keyed by
 * (marginal cost, layer, head), as the official release does. Kept for tests and for
 * bench/solver.bench.ts, never shipped: the segment solver must equal it exactly.
 */

import type { EvictionCurves } from "../../src/lukv/curves.ts";
import type { BudgetTable } from "../../src/lukv/tables.ts";

/** A binary min-heap of [cost, head] pairs: the smallest cost, then the lowest head, first. */
class TokenHeap {
  #items: [number, number][] = [];

  get size(): number {
    return this.#items.length;
  }

  push(item: [number, number]): void {
    const items = this.#items;
    items.push(item);
    for (let i = items.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!before(items[i], items[parent])) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }

  pop(): [number, number] {
    const items = this.#items;
    const top = items[0];
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      for (let i = 0;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < items.length && before(items[l], items[m])) m = l;
        if (r < items.length && before(items[r], items[m])) m = r;
        if (m === i) break;
        [items[i], items[m]] = [items[m], items[i]];
        i = m;
      }
    }
    return top;
  }
}

function before(a: [number, number], b: [number, number]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

/**
 * Token-by-token greedy: same inputs, options and output as `solveBudgets`.
 *
 * @example
 * ```ts
 * assert.deepEqual(solveBudgetsByToken(curves).prune, solveBudgets(curves).prune);
 * ```
 */
export function solveBudgetsByToken(
  curves: EvictionCurves,
  { scope = "global", minKeepFraction = 0.01 }: { scope?: "global" | "layer"; minKeepFraction?: number } = {},
): BudgetTable {
  const { layers, heads, length, sink, window, offsets, slopes, lengths } = curves;
  const all = layers * heads;
  // Every evictable token's marginal cost, in eviction order: the slope of its hull segment.
  const evictable = length - sink - window;
  const cost = new Float64Array(all * evictable);
  for (let head = 0; head < all; head++) {
    let e = head * evictable;
    for (let s = offsets[head]; s < offsets[head + 1]; s++) cost.fill(slopes[s], e, e += lengths[s]);
  }
  const minKeep = Math.max(Math.round(minKeepFraction * length), sink + window);
  const cap = Math.max(0, length - minKeep);
  const prune = new Float64Array(99 * all);
  const groups = scope === "global"
    ? [[0, all]]
    : Array.from({ length: layers }, (_, l) => [l * heads, (l + 1) * heads]);
  for (const [first, end] of groups) {
    const evicted = new Int32Array(all);
    const heap = new TokenHeap();
    if (cap > 0) { for (let head = first; head < end; head++) heap.push([cost[head * evictable], head]); }
    let total = 0;
    for (let k = 1; k <= 99; k++) {
      const target = Math.round((k * (end - first) * length) / 100);
      while (total < target && heap.size > 0) {
        const [, head] = heap.pop();
        evicted[head]++;
        total++;
        if (evicted[head] < cap) heap.push([cost[head * evictable + evicted[head]], head]);
      }
      for (let head = first; head < end; head++) {
        prune[(k - 1) * all + head] = 1 - (length - evicted[head]) / length;
      }
    }
  }
  return { layers, heads, ratios: Float64Array.from({ length: 99 }, (_, k) => (k + 1) / 100), prune };
}
