/** Eviction curves: each head's cumulative oracle loss in score order, relaxed to its lower convex hull. */

import { checkHeadTable, type HeadTable } from "./tables.ts";

/** The protected tokens that are never evicted: the first `sink` and the last `window`. */
export interface Protection {
  /** Leading tokens always kept (attention sinks). */
  sink: number;
  /** Trailing tokens always kept (the local window). */
  window: number;
}

/**
 * Every head's convexified eviction curve, as hull segments.
 *
 * Head `i = l * heads + h` owns segments `offsets[i] .. offsets[i + 1] - 1`, in
 * eviction order. Segment `s` covers `lengths[s]` consecutive evictions that each
 * cost `slopes[s]` oracle mass; within a head the slopes strictly increase and the
 * lengths sum to `length - sink - window`.
 *
 * @example
 * ```ts
 * const curves = evictionCurves(oracle, scores, { sink: 4, window: 32 });
 * const first = curves.offsets[0], last = curves.offsets[1] - 1;
 * console.log(curves.slopes[first], curves.slopes[last]); // cheapest and dearest eviction of head (0, 0)
 * ```
 */
export interface EvictionCurves extends Protection {
  /** Decoder layers `L`. */
  layers: number;
  /** KV heads per layer `H`. */
  heads: number;
  /** Context tokens `T` of the profiled sample. */
  length: number;
  /** `[L * H + 1]` segment ranges per head. */
  offsets: Int32Array;
  /** Marginal oracle loss of each eviction in the segment. */
  slopes: Float64Array;
  /** Evictions in the segment (>= 1). */
  lengths: Int32Array;
}

/**
 * Builds every head's eviction curve (DESIGN.md 7.3–7.4), in float64.
 *
 * Per head, the positions `sink <= j < T - window` are ranked by score, highest first
 * (equal scores: the earlier position ranks higher); eviction takes the lowest-ranked
 * token first, and `cum[e]` is the oracle mass of the first `e` evicted tokens. The
 * curve kept is the lower convex hull of the points `(e, cum[e])` (Andrew's monotone
 * chain), as segments of constant marginal cost.
 *
 * @param oracle long-horizon utilities `[L, H, T]`: finite and non-negative
 * @param scores scorer scores `[L, H, T]` at the end of prefill, higher = keep: finite at the
 *   evictable positions (protected ones are never read, so they may hold e.g. +Infinity)
 * @param protection `sink + window` must leave at least one evictable token
 * @example
 * ```ts
 * const curves = evictionCurves(oracle, scores, { sink: 4, window: 32 });
 * const table = solveBudgets(curves);
 * ```
 */
export function evictionCurves(oracle: HeadTable, scores: HeadTable, protection: Protection): EvictionCurves {
  checkHeadTable(oracle, "oracle");
  checkHeadTable(scores, "scores");
  const { layers, heads, length } = oracle;
  if (scores.layers !== layers || scores.heads !== heads || scores.length !== length) {
    throw new RangeError(
      `oracle is [${layers}, ${heads}, ${length}] but scores are [${scores.layers}, ${scores.heads}, ${scores.length}]`,
    );
  }
  const { sink, window } = protection;
  if (!Number.isSafeInteger(sink) || sink < 0 || !Number.isSafeInteger(window) || window < 0) {
    throw new RangeError(`sink and window must be non-negative integers, got ${sink} and ${window}`);
  }
  if (sink + window >= length) {
    throw new RangeError(`sink + window (${sink + window}) must be less than the context length ${length}`);
  }
  checkValues(oracle, "oracle", true, 0, length);
  checkValues(scores, "scores", false, sink, length - window);

  const n = length - sink - window;
  const order = new Int32Array(n);
  const rank = rankerFor(scores.data, n);
  const cum = new Float64Array(n + 1);
  const hull = new Int32Array(n + 1);
  const offsets = new Int32Array(layers * heads + 1);
  const slopes: number[] = [];
  const lengths: number[] = [];
  for (let head = 0; head < layers * heads; head++) {
    const base = head * length + sink;
    const s = scores.data, o = oracle.data;
    rank(s, base, order);
    for (let e = 1; e <= n; e++) cum[e] = cum[e - 1] + o[base + order[n - e]];
    const vertices = lowerHull(cum, hull);
    for (let v = 1; v < vertices; v++) {
      const a = hull[v - 1], b = hull[v];
      slopes.push((cum[b] - cum[a]) / (b - a));
      lengths.push(b - a);
    }
    offsets[head + 1] = slopes.length;
  }
  return {
    layers,
    heads,
    length,
    sink,
    window,
    offsets,
    slopes: Float64Array.from(slopes),
    lengths: Int32Array.from(lengths),
  };
}

/** Positions a key packs below the score: 2^21, so a 32-bit score key and a position fit a double exactly. */
const PACK = 2 ** 21;

/**
 * A ranking of `n` positions of a head by score, descending, ties broken by the earlier
 * position (which ranks higher, so it is evicted later): writes the positions in rank
 * order into `order`. Where every score is a float32 (scorer output, or float64 values
 * that are float32 exactly) and `n` fits 21 bits, each position becomes one double, its
 * score's order-preserving bits times 2^21 plus the position, and a numeric sort of
 * those (native, no comparator) gives the ranking; otherwise a comparator sort does.
 */
function rankerFor(
  data: Float32Array | Float64Array,
  n: number,
): (s: Float32Array | Float64Array, base: number, order: Int32Array) => void {
  const byComparator = (s: Float32Array | Float64Array, base: number, order: Int32Array) => {
    for (let r = 0; r < n; r++) order[r] = r;
    order.sort((a, b) => s[base + b] - s[base + a] || a - b);
  };
  if (n > PACK || (data instanceof Float64Array && data.some((x) => Math.fround(x) !== x))) {
    return byComparator;
  }
  const single = new Float32Array(n), bits = new Uint32Array(single.buffer), keys = new Float64Array(n);
  return (s, base, order) => {
    single.set(s.subarray(base, base + n));
    for (let r = 0; r < n; r++) {
      // +0 for -0 (they tie), then the float's sign-magnitude bits made monotone, then reversed (descending).
      const b = single[r] === 0 ? 0 : bits[r];
      const ascending = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
      keys[r] = (0xffffffff - ascending) * PACK + r;
    }
    keys.sort();
    for (let r = 0; r < n; r++) order[r] = keys[r] % PACK;
  };
}

/**
 * Lower convex hull of the points `(x, y[x])`, x = 0 .. y.length - 1, by monotone chain;
 * writes the vertex x's into `hull` and returns their count. The turn test compares the
 * slopes exactly as the solver will compute them, so the stored slopes are strictly
 * increasing even where rounding would make a cross-product test disagree.
 */
function lowerHull(y: Float64Array, hull: Int32Array): number {
  let top = 0;
  hull[0] = 0;
  for (let x = 1; x < y.length; x++) {
    while (top > 0) {
      const a = hull[top - 1], b = hull[top];
      if ((y[x] - y[b]) / (x - b) > (y[b] - y[a]) / (b - a)) break;
      top--;
    }
    hull[++top] = x;
  }
  return top + 1;
}

/**
 * Throws a RangeError at the first NaN or infinite value (or negative one, for the
 * oracle) among positions `from .. to - 1` of every head; the others are never read.
 */
function checkValues(
  { heads, length, data }: HeadTable,
  what: string,
  nonNegative: boolean,
  from: number,
  to: number,
): void {
  for (let i = 0; i < data.length; i++) {
    if (i % length < from || i % length >= to) continue;
    const v = data[i];
    if (Number.isFinite(v) && (!nonNegative || v >= 0)) continue;
    const l = Math.floor(i / (heads * length)), h = Math.floor(i / length) % heads, j = i % length;
    const rule = nonNegative ? "finite and non-negative" : "finite";
    throw new RangeError(`${what}[${l}, ${h}, ${j}] is ${v}; ${what} values must be ${rule}`);
  }
}
