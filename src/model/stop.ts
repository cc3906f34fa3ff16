/** Streaming stop-string detection: emit generated text as it arrives, holding back any tail that may start a stop string. */

/**
 * Watches a stream of text pieces for stop strings. {@linkcode StopStrings.push} returns the
 * text that is safe to emit now: everything except the longest tail that could still grow into
 * a stop string. When a stop string completes (possibly across several pieces) `push` returns
 * the text before it with `stopped: true`, and every later push returns `""`. The stop that
 * completes first wins (on the same last character, the one starting earliest), so the result
 * does not depend on how the text was split into pieces. Matching is on UTF-16 code units.
 *
 * @example
 * ```ts
 * const stops = new StopStrings(["</s>", "\n\nUser:"]);
 * stops.push("Hello <");   // { text: "Hello ", stopped: false }  ("<" is held back)
 * stops.push("/s> more");  // { text: "", stopped: true }
 * stops.flush();           // ""
 * ```
 */
export class StopStrings {
  readonly #stops: readonly string[];
  readonly #longest: number;
  #held = "";
  #stopped = false;

  /** `stops` are the strings that end generation; each must be non-empty. */
  constructor(stops: readonly string[]) {
    for (const [i, stop] of stops.entries()) {
      if (typeof stop !== "string") throw new TypeError(`stop string ${i} is not a string: ${stop}`);
      if (stop.length === 0) throw new RangeError(`stop string ${i} is empty`);
    }
    this.#stops = [...stops];
    this.#longest = Math.max(0, ...stops.map((s) => s.length));
  }

  /**
   * Feeds the next piece of generated text; returns what can be emitted now, and whether a
   * stop string has completed (then `text` is what preceded it, and later pushes return `""`).
   *
   * @example
   * ```ts
   * const stops = new StopStrings(["STOP"]);
   * stops.push("abST"); // { text: "ab", stopped: false }
   * stops.push("Xy");   // { text: "STXy", stopped: false }
   * ```
   */
  push(piece: string): { text: string; stopped: boolean } {
    if (this.#stopped) return { text: "", stopped: true };
    if (this.#stops.length === 0) return { text: piece, stopped: false };
    const buffer = this.#held + piece;
    let matchStart = -1;
    let matchEnd = Infinity;
    for (const stop of this.#stops) {
      const start = buffer.indexOf(stop);
      if (start < 0) continue;
      const end = start + stop.length;
      if (end < matchEnd || (end === matchEnd && start < matchStart)) {
        matchStart = start;
        matchEnd = end;
      }
    }
    if (matchStart >= 0) {
      this.#stopped = true;
      this.#held = "";
      return { text: buffer.slice(0, matchStart), stopped: true };
    }
    const heldLength = this.#partialTailLength(buffer);
    this.#held = buffer.slice(buffer.length - heldLength);
    return { text: buffer.slice(0, buffer.length - heldLength), stopped: false };
  }

  /**
   * Ends the stream: returns the held-back tail (it never became a stop string), or `""`
   * once a stop has matched.
   *
   * @example
   * ```ts
   * const stops = new StopStrings(["STOP"]);
   * stops.push("abST"); // { text: "ab", stopped: false }
   * stops.flush();      // "ST"
   * ```
   */
  flush(): string {
    const held = this.#held;
    this.#held = "";
    return held;
  }

  /** The length of the longest suffix of `buffer` that is a proper prefix of some stop string. */
  #partialTailLength(buffer: string): number {
    for (let length = Math.min(this.#longest - 1, buffer.length); length > 0; length--) {
      const tail = buffer.slice(buffer.length - length);
      if (this.#stops.some((stop) => stop.startsWith(tail))) return length;
    }
    return 0;
  }
}
