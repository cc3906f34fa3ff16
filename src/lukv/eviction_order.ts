/** The order in which a head's evictable tokens go: ascending score, equal scores the later position first. */

/** Radix digits of the float32 keys: three passes of 11 bits cover 32. */
const DIGIT_BITS = 11, BUCKETS = 1 << DIGIT_BITS, PASSES = 3;

/**
 * Makes an orderer for the heads of one score table: called with the offset `base` of a
 * head's first evictable position, it returns that head's `n` positions (as offsets
 * `0 .. n - 1` from `base`) in eviction order, lowest score first, equal scores the later
 * position first: the reverse of DESIGN.md 7.3's ranking (score descending, the earlier
 * position ranking higher). The returned array is reused by the next call.
 *
 * Where every score is a float32 (scorer output, or float64 values that are float32
 * exactly), each score becomes its order-preserving 32-bit key and a stable LSD radix
 * sort of the keys over positions laid out last-first gives the order without a single
 * comparison; otherwise a comparator sort does. -0 and +0 tie. Scores must not be NaN.
 *
 * @param scores the whole `[L, H, T]` score data
 * @param n evictable tokens per head
 * @example
 * ```ts
 * const order = evictionOrderFor(Float32Array.of(0, 3, 1, 3), 4);
 * order(0); // Int32Array [0, 2, 3, 1]: score 0, score 1, then the two 3s, position 3 before position 1
 * ```
 */
export function evictionOrderFor(
  scores: Float32Array | Float64Array,
  n: number,
): (base: number) => Int32Array {
  if (scores instanceof Float64Array && scores.some((x) => Math.fround(x) !== x)) {
    return byComparator(scores, n);
  }
  return byRadix(scores, n);
}

function byComparator(scores: Float64Array, n: number): (base: number) => Int32Array {
  const order = new Int32Array(n);
  return (base) => {
    for (let r = 0; r < n; r++) order[r] = r;
    return order.sort((a, b) => scores[base + a] - scores[base + b] || b - a);
  };
}

function byRadix(scores: Float32Array | Float64Array, n: number): (base: number) => Int32Array {
  const single = new Float32Array(n);
  const buffers: RadixBuffers = {
    single,
    bits: new Int32Array(single.buffer),
    keys: [new Int32Array(n), new Int32Array(n)],
    orders: [new Int32Array(n), new Int32Array(n)],
    counts: new Int32Array(PASSES * BUCKETS),
  };
  return (base) => radixOrder(scores, base, buffers);
}

/** Scratch space of {@linkcode radixOrder} for heads of `n` positions: two key and two order arrays for the passes. */
interface RadixBuffers {
  single: Float32Array;
  bits: Int32Array;
  keys: [Int32Array, Int32Array];
  orders: [Int32Array, Int32Array];
  counts: Int32Array;
}

/**
 * The eviction order of the head starting at `base`, by LSD radix sort; returns one of
 * `buffers.orders`. A module-level function rather than the closure's body, so that V8
 * optimises one copy for every table.
 */
function radixOrder(scores: Float32Array | Float64Array, base: number, buffers: RadixBuffers): Int32Array {
  const { single, bits, counts } = buffers, n = single.length;
  let [keys, spareKeys] = buffers.keys, [order, spareOrder] = buffers.orders;
  single.set(scores.subarray(base, base + n));
  counts.fill(0);
  for (let r = 0; r < n; r++) {
    // +0 for -0 (they tie), then the float's sign-magnitude bits made monotone as an
    // unsigned number (every bit flipped for a negative, the sign bit for a positive).
    // Kept in int32 arithmetic: uint32 values above 2^31 would make V8 compute in doubles.
    const raw = bits[r], b = raw === -0x80000000 ? 0 : raw;
    const key = b ^ ((b >> 31) | 0x80000000);
    // Last position first: the stable passes keep that order among equal keys.
    keys[n - 1 - r] = key;
    order[n - 1 - r] = r;
    counts[key & (BUCKETS - 1)]++;
    counts[BUCKETS + ((key >>> DIGIT_BITS) & (BUCKETS - 1))]++;
    counts[2 * BUCKETS + (key >>> (2 * DIGIT_BITS))]++;
  }
  for (let pass = 0; pass < PASSES; pass++) {
    const shift = pass * DIGIT_BITS, first = pass * BUCKETS;
    if (counts[first + ((keys[0] >>> shift) & (BUCKETS - 1))] === n) continue; // one digit for all: no-op
    for (let d = 0, start = 0; d < BUCKETS; d++) {
      const count = counts[first + d];
      counts[first + d] = start;
      start += count;
    }
    for (let i = 0; i < n; i++) {
      const key = keys[i], slot = counts[first + ((key >>> shift) & (BUCKETS - 1))]++;
      spareKeys[slot] = key;
      spareOrder[slot] = order[i];
    }
    const swapKeys = keys, swapOrder = order;
    keys = spareKeys;
    spareKeys = swapKeys;
    order = spareOrder;
    spareOrder = swapOrder;
  }
  return order;
}
