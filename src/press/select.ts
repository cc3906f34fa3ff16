/** Which tokens each head keeps: the protected sink and window, then the highest scores, in original order. */

/** Tokens always kept: the first `sink` and the last `window` of the context. */
export interface Protections {
  /** Leading tokens (attention sinks). */
  sink: number;
  /** Trailing tokens (the local window, e.g. the question in query-aware compression). */
  window: number;
}

/**
 * Per head, the protected tokens plus the highest-scored others (ties: earlier
 * position first) up to `counts[h]`, as ascending positions.
 *
 * @param scores `[heads, length]`, higher = keep
 * @param counts `[heads]`, each within `[protected, length]` (see {@linkcode protectedCount})
 * @returns `indices` (the kept positions of head 0, then head 1, ...) and `offsets` `[heads + 1]`
 * @example
 * ```ts
 * const { indices, offsets } = keptIndices(scores, counts, 1024, { sink: 4, window: 32 });
 * ```
 */
export function keptIndices(
  scores: Float32Array,
  counts: Int32Array,
  length: number,
  protections: Protections,
): { indices: Int32Array; offsets: Int32Array } {
  const heads = counts.length;
  if (scores.length !== heads * length) {
    throw new RangeError(`scores hold ${scores.length} values, expected ${heads} heads x ${length} tokens`);
  }
  const floor = protectedCount(length, protections);
  const offsets = new Int32Array(heads + 1);
  for (let h = 0; h < heads; h++) {
    if (!Number.isSafeInteger(counts[h]) || counts[h] < floor || counts[h] > length) {
      throw new RangeError(
        `head ${h} keeps ${counts[h]} tokens; it must keep between ${floor} and ${length}`,
      );
    }
    offsets[h + 1] = offsets[h] + counts[h];
  }
  const indices = new Int32Array(offsets[heads]);
  const order = new Int32Array(length);
  const isProtected = (j: number) => j < protections.sink || j >= length - protections.window;
  for (let h = 0; h < heads; h++) {
    const row = h * length;
    for (let j = 0; j < length; j++) order[j] = j;
    order.sort((a, b) =>
      Number(isProtected(b)) - Number(isProtected(a)) || scores[row + b] - scores[row + a] || a - b
    );
    const kept = order.slice(0, counts[h]).sort();
    indices.set(kept, offsets[h]);
  }
  return { indices, offsets };
}

/**
 * How many tokens the protections cover in a context of `length`.
 *
 * @example
 * ```ts
 * protectedCount(1000, { sink: 4, window: 32 }); // 36
 * ```
 */
export function protectedCount(length: number, { sink, window }: Protections): number {
  return Math.min(length, sink + window);
}
