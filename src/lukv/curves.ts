/** Eviction curves: each head's cumulative oracle loss in score order, relaxed to its lower convex hull. */

import { evictionOrderFor } from "./eviction_order.ts";
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
  const order = evictionOrderFor(scores.data, n);
  const cum = new Float64Array(n + 1);
  const hull = new Int32Array(n + 1), hullSlopes = new Float64Array(n + 1);
  const offsets = new Int32Array(layers * heads + 1);
  const segments = new SegmentBuffer();
  const o = oracle.data;
  for (let head = 0; head < layers * heads; head++) {
    const base = head * length + sink;
    const top = lossHull(o, base, order(base), cum, hull, hullSlopes);
    segments.append(hull, hullSlopes, top);
    offsets[head + 1] = segments.size;
  }
  return { layers, heads, length, sink, window, offsets, ...segments.trimmed() };
}

/**
 * One head's cumulative loss `cum[e]` (oracle mass of its first `e` evicted tokens,
 * `evicted` holding their offsets from `base`) and its lower convex hull, in one pass of
 * Andrew's monotone chain: writes the vertex x's into `hull[0 .. top]` and returns `top`.
 * `hullSlopes[v]` is the slope from vertex `v - 1` to `v`, computed once when `v` is
 * pushed; the turn test compares against it, the very value the segment stores, so the
 * kept slopes strictly increase even where rounding would make a cross-product test
 * disagree. A function of its own so that V8 optimises it whole, not as an OSR'd loop.
 */
function lossHull(
  o: Float32Array | Float64Array,
  base: number,
  evicted: Int32Array,
  cum: Float64Array,
  hull: Int32Array,
  hullSlopes: Float64Array,
): number {
  // The running sum and the top vertex (x, cum, slope into it) are kept in locals.
  let top = 0, y = 0, bx = 0, by = 0, bs = 0;
  for (let x = 1; x <= evicted.length; x++) {
    cum[x] = y += o[base + evicted[x - 1]];
    // Every point is pushed, so the top vertex is x - 1 and the first slope divides by
    // 1: exact without a division. Each pop then tests the slope to the vertex below,
    // and the slope that survives the test is the new segment's.
    let slope = y - by;
    while (top > 0 && slope <= bs) {
      bx = hull[--top];
      by = cum[bx];
      bs = hullSlopes[top];
      slope = (y - by) / (x - bx);
    }
    hull[++top] = bx = x;
    hullSlopes[top] = bs = slope;
    by = y;
  }
  return top;
}

/** Hull segments of every head so far, in typed arrays that double as they fill. */
class SegmentBuffer {
  size = 0;
  #slopes = new Float64Array(1024);
  #lengths = new Int32Array(1024);

  /** Appends the segments between vertices `hull[0 .. top]`, whose slopes are `hullSlopes[1 .. top]`. */
  append(hull: Int32Array, hullSlopes: Float64Array, top: number): void {
    if (this.size + top > this.#slopes.length) {
      const capacity = 2 * Math.max(this.#slopes.length, this.size + top);
      const slopes = new Float64Array(capacity), lengths = new Int32Array(capacity);
      slopes.set(this.#slopes);
      lengths.set(this.#lengths);
      [this.#slopes, this.#lengths] = [slopes, lengths];
    }
    const slopes = this.#slopes, lengths = this.#lengths, start = this.size - 1;
    for (let v = 1; v <= top; v++) {
      slopes[start + v] = hullSlopes[v];
      lengths[start + v] = hull[v] - hull[v - 1];
    }
    this.size += top;
  }

  /** The segments as arrays of their exact length. */
  trimmed(): { slopes: Float64Array; lengths: Int32Array } {
    return { slopes: this.#slopes.slice(0, this.size), lengths: this.#lengths.slice(0, this.size) };
  }
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
  for (let start = 0; start < data.length; start += length) {
    const bad = firstBad(data, start + from, start + to, nonNegative);
    if (bad < 0) continue;
    const i = start / length, j = bad - start, v = data[bad];
    const rule = nonNegative ? "finite and non-negative" : "finite";
    throw new RangeError(
      `${what}[${Math.floor(i / heads)}, ${i % heads}, ${j}] is ${v}; ${what} values must be ${rule}`,
    );
  }
}

/** The index of the first bad value in `data[from .. to - 1]`, or -1; per head, so V8 optimises it whole. */
function firstBad(data: Float32Array | Float64Array, from: number, to: number, nonNegative: boolean): number {
  for (let i = from; i < to; i++) {
    const v = data[i];
    // v - v is 0 for finite v and NaN for NaN and the infinities.
    if (!(v - v === 0) || (nonNegative && v < 0)) return i;
  }
  return -1;
}
