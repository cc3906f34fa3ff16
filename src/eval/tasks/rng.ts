/** The task generators' seeded PRNG: one independent stream per (split, task, seed, index). */

/**
 * Four 32-bit hash words of a string (cyrb128), to seed {@linkcode Rng}.
 *
 * @example
 * ```ts
 * hash128("eval/needle/0/0"); // [h1, h2, h3, h4], each in [0, 2^32)
 * ```
 */
export function hash128(text: string): [number, number, number, number] {
  let h1 = 1779033703, h2 = 3144134277, h3 = 1013904242, h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

/**
 * A small deterministic PRNG (sfc32). The same state always gives the same stream;
 * {@linkcode Rng.clone} copies the state, so a generator can retry from the same point.
 *
 * @example
 * ```ts
 * const rng = Rng.forSample("eval", "needle", 7, 0);
 * rng.int(10); // an integer in [0, 10)
 * rng.shuffle(["a", "b", "c"]); // a permutation, in place
 * ```
 */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /**
   * A generator whose state is four 32-bit words, used as they are (hash them first:
   * {@linkcode Rng.forSample}, or {@linkcode hash128}).
   *
   * @example
   * ```ts
   * const rng = new Rng(hash128("any text"));
   * ```
   */
  constructor(state: readonly [number, number, number, number]) {
    [this.#a, this.#b, this.#c, this.#d] = state;
  }

  /**
   * The stream of one sample: its state is a hash of (split, task, seed, index), so a
   * seed under another split or task, or another index, gives an unrelated stream.
   *
   * @example
   * ```ts
   * Rng.forSample("calib", "needle", 1, 0).next() !== Rng.forSample("eval", "needle", 1, 0).next();
   * ```
   */
  static forSample(split: string, task: string, seed: number, index: number): Rng {
    const rng = new Rng(hash128(JSON.stringify(["lukv-tasks", split, task, seed, index])));
    for (let i = 0; i < 12; i++) rng.next();
    return rng;
  }

  /**
   * A uniform float in [0, 1).
   *
   * @example
   * ```ts
   * rng.next(); // 0.7316...
   * ```
   */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /**
   * A uniform integer in [0, n).
   *
   * @example
   * ```ts
   * rng.int(6); // 0..5
   * ```
   */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /**
   * A uniform element of a non-empty list.
   *
   * @example
   * ```ts
   * rng.pick(["a", "b"]); // "a" or "b"
   * ```
   */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /**
   * Shuffles `items` in place (Fisher-Yates) and returns it.
   *
   * @example
   * ```ts
   * rng.shuffle([1, 2, 3]); // e.g. [3, 1, 2]
   * ```
   */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  /**
   * `count` distinct elements of `items`, in random order.
   *
   * @example
   * ```ts
   * rng.sample(["a", "b", "c", "d"], 2); // e.g. ["d", "a"]
   * ```
   */
  sample<T>(items: readonly T[], count: number): T[] {
    if (count > items.length) {
      throw new RangeError(`cannot draw ${count} distinct items from ${items.length}`);
    }
    const copy = [...items];
    for (let i = 0; i < count; i++) {
      const j = i + this.int(copy.length - i);
      [copy[i], copy[j]] = [copy[j], copy[i]];
    }
    return copy.slice(0, count);
  }

  /**
   * A copy with the same state: both continue with the same stream.
   *
   * @example
   * ```ts
   * const retry = rng.clone();
   * ```
   */
  clone(): Rng {
    return new Rng([this.#a, this.#b, this.#c, this.#d]);
  }
}
