/** Decoding: one token at a time from the logits after the prompt, each fed back through the cache. */

import type { KvCache } from "../cache/kv_cache.ts";
import type { RunnableModel } from "../model/model.ts";
import type { ForwardObserver } from "../model/observer.ts";
import { append } from "./steps.ts";

/** Options of {@linkcode decode}. */
export interface DecodeOptions {
  /** Most tokens to produce. */
  maxNew: number;
  /** Picks the next token from logits `[vocab]` (greedy, sampling, ...). */
  pick: (logits: Float32Array) => number;
  /** Token ids that end decoding; the one met is neither yielded nor fed back. */
  eos?: ReadonlySet<number>;
  /** Observers of each fed-back token's forward (e.g. the LU-KV oracle). */
  observers?: readonly ForwardObserver[];
  /** Sees each logits row a token is picked from: step 0 is `first`, step 1 the first fed-back token's. */
  onLogits?: (logits: Float32Array, step: number) => void;
  /** Called after each token is fed back, with the tokens produced so far (e.g. to compress every N). */
  afterStep?: (produced: number) => void;
}

/** Time spent in one decoding. */
export interface DecodeTimes {
  /** Milliseconds picking tokens and running the forward of fed-back tokens. */
  ms: number;
  /** Forward passes run (tokens fed back). */
  steps: number;
}

/**
 * Yields tokens picked from `first` (the logits after the prompt) and from the logits of
 * each token fed back through `cache`; the last token is not fed back, and an EOS id ends
 * decoding unyielded. A consumer that stops early stops the decoding. `times` is updated
 * as it goes.
 *
 * @example
 * ```ts
 * const times = { ms: 0, steps: 0 };
 * for (const token of decode(model, cache, logits, { maxNew: 32, pick: greedyToken }, times)) tokens.push(token);
 * ```
 */
export function* decode(
  model: RunnableModel,
  cache: KvCache,
  first: Float32Array,
  options: DecodeOptions,
  times: DecodeTimes = { ms: 0, steps: 0 },
): Generator<number> {
  const { maxNew, pick, eos, observers = [], onLogits, afterStep } = options;
  let logits = first;
  for (let produced = 0; produced < maxNew;) {
    onLogits?.(logits, produced);
    let started = performance.now();
    const token = pick(logits);
    times.ms += performance.now() - started;
    if (eos?.has(token)) return;
    produced++;
    yield token;
    if (produced === maxNew) return;
    started = performance.now();
    logits = append(model, cache, new Int32Array([token]), observers);
    afterStep?.(produced);
    times.ms += performance.now() - started;
    times.steps++;
  }
}
