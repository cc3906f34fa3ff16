/** Next-token sampling from a logits row: greedy argmax, or temperature with top-k and top-p, and a seeded PRNG. */

/**
 * How {@linkcode sampleToken} picks a token. `temperature` 0 or absent is greedy (argmax);
 * `topK` and `topP` only apply when sampling (`temperature > 0`), top-k first, then top-p
 * over the renormalised survivors, as Hugging Face's logits warpers do.
 *
 * @example
 * ```ts
 * const options: SamplingOptions = { temperature: 0.7, topK: 40, topP: 0.9 };
 * ```
 */
export interface SamplingOptions {
  /** Finite, `>= 0`; 0 or absent means greedy. Logits are divided by it before the softmax. */
  temperature?: number;
  /** Positive integer: keep only the `topK` largest logits (ties: lower index first). Absent: off. */
  topK?: number;
  /** In `(0, 1]`: keep the smallest most-probable prefix whose mass is `>= topP`. Absent or 1: off. */
  topP?: number;
}

/**
 * A seeded mulberry32 generator of uniform floats in `[0, 1)`: small, fast and the same
 * sequence on every platform for the same seed. The seed is a safe integer; its high bits
 * are mixed into the 32-bit state, so there are 2^32 distinct streams.
 *
 * @example
 * ```ts
 * const random = seededRandom(42);
 * const x = random(); // 0 <= x < 1, the same on every run
 * ```
 */
export function seededRandom(seed: number): () => number {
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(`seed must be a safe integer, got ${seed}`);
  }
  let state = (seed >>> 0) ^ Math.imul(Math.floor(seed / 0x100000000) | 0, 0x9e3779b9);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  };
}

/**
 * The next token id from one logits row `[vocabSize]`.
 *
 * - Greedy (`temperature` 0 or absent): the argmax, the lowest index on ties; O(V), no allocation.
 * - Otherwise: softmax of `logits / temperature` (in float64) restricted to the `topK` largest
 *   logits (ties at the boundary: lower index first), then to the smallest prefix of the
 *   descending-probability order whose renormalised mass is `>= topP` (at least one token),
 *   then one draw of `random()`. O(V log k) with top-k, O(V log V) with top-p alone, O(V) with neither.
 *
 * `-Infinity` logits are masked tokens and never sampled; NaN or `+Infinity` logits, an empty
 * or fully masked row, and bad options are `RangeError`s.
 *
 * @example
 * ```ts
 * const random = seededRandom(0);
 * const greedy = sampleToken(logits, {}, random);
 * const token = sampleToken(logits, { temperature: 0.8, topK: 50, topP: 0.95 }, random);
 * ```
 */
export function sampleToken(
  logits: Float32Array,
  options: SamplingOptions,
  random: () => number,
): number {
  const { temperature = 0, topK, topP = 1 } = options;
  if (!Number.isFinite(temperature) || temperature < 0) {
    throw new RangeError(`temperature must be a finite number >= 0, got ${temperature}`);
  }
  if (topK !== undefined && (!Number.isSafeInteger(topK) || topK <= 0)) {
    throw new RangeError(`topK must be a positive integer, got ${topK}`);
  }
  if (!(topP > 0 && topP <= 1)) {
    throw new RangeError(`topP must be in (0, 1], got ${topP}`);
  }
  if (logits.length === 0) throw new RangeError("logits must not be empty");

  let best = 0;
  let finiteCount = 0;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i];
    if (Number.isNaN(x)) throw new RangeError(`logit at index ${i} is NaN`);
    if (x === Infinity) throw new RangeError(`logit at index ${i} is +Infinity`);
    if (x !== -Infinity) finiteCount++;
    if (x > logits[best]) best = i;
  }
  if (finiteCount === 0) throw new RangeError("every logit is -Infinity: no token can be chosen");
  if (temperature === 0) return best;

  let candidates: Uint32Array;
  if (topK !== undefined && topK < finiteCount) {
    candidates = topKIndices(logits, topK);
  } else {
    candidates = new Uint32Array(finiteCount);
    for (let i = 0, n = 0; i < logits.length; i++) if (logits[i] !== -Infinity) candidates[n++] = i;
    // Only top-p needs the descending order; plain sampling is order-independent.
    if (topP < 1) candidates.sort((a, b) => logits[b] - logits[a] || a - b);
  }

  const maxLogit = logits[best];
  const weights = new Float64Array(candidates.length);
  let total = 0;
  for (let j = 0; j < candidates.length; j++) {
    weights[j] = Math.exp((logits[candidates[j]] - maxLogit) / temperature);
    total += weights[j];
  }

  let kept = candidates.length;
  let keptMass = total;
  if (topP < 1) {
    // Summed in the same order as `total`, so with topP near 1 the last prefix still qualifies.
    let mass = 0;
    for (let j = 0; j < candidates.length; j++) {
      mass += weights[j];
      if (mass >= topP * total) {
        kept = j + 1;
        keptMass = mass;
        break;
      }
    }
  }

  const u = random();
  if (!(u >= 0 && u < 1)) throw new RangeError(`random() must return a number in [0, 1), got ${u}`);
  const target = u * keptMass;
  let mass = 0;
  for (let j = 0; j < kept; j++) {
    mass += weights[j];
    if (target < mass) return candidates[j];
  }
  // Rounding can leave `target` a hair above the summed mass: the last kept token with weight wins.
  for (let j = kept - 1; j >= 0; j--) if (weights[j] > 0) return candidates[j];
  return candidates[0];
}

/**
 * The indices of the `k` largest logits, best first (ties: lower index first), by a size-`k`
 * min-heap whose root is the worst kept candidate: O(V log k). Requires `k` <= the number of
 * non-masked logits.
 */
function topKIndices(logits: Float32Array, k: number): Uint32Array {
  /** Whether token `a` ranks strictly above token `b`. */
  const better = (a: number, b: number) => logits[a] > logits[b] || (logits[a] === logits[b] && a < b);
  const heap = new Uint32Array(k);
  let size = 0;
  const siftDown = (start: number) => {
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let worst = i;
      if (left < size && better(heap[worst], heap[left])) worst = left;
      if (right < size && better(heap[worst], heap[right])) worst = right;
      if (worst === i) return;
      [heap[i], heap[worst]] = [heap[worst], heap[i]];
      i = worst;
    }
  };
  for (let i = 0; i < logits.length; i++) {
    if (logits[i] === -Infinity) continue;
    if (size < k) {
      let c = size++;
      heap[c] = i;
      while (c > 0) {
        const parent = (c - 1) >> 1;
        if (!better(heap[parent], heap[c])) break;
        [heap[parent], heap[c]] = [heap[c], heap[parent]];
        c = parent;
      }
    } else if (better(i, heap[0])) {
      heap[0] = i;
      siftDown(0);
    }
  }
  return heap.sort((a, b) => (better(a, b) ? -1 : 1));
}

/**
 * Greedy choice: the highest logit, the lowest id on ties (`sampleToken` without
 * temperature), for protocols that decode greedily (evaluation, profiling, benchmarks).
 *
 * @example
 * ```ts
 * greedyToken(new Float32Array([0.1, 2, 2])); // 1
 * ```
 */
export function greedyToken(logits: Float32Array): number {
  return sampleToken(logits, {}, () => 0);
}
