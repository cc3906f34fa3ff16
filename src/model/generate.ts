/** Streaming generation: prefill, then one token at a time, yielding decoded text pieces; stats at the end. */

import { LukvError, STATUS } from "../backend/errors.ts";
import { denseKvBytes } from "../cache/dense.ts";
import type { Model } from "./model.ts";
import { sampleToken, type SamplingOptions, seededRandom } from "./sampling.ts";
import { StopStrings } from "./stop.ts";

/** Options of `model.generate`. Greedy unless a temperature > 0 is given. */
export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate (default: generation_config's `max_new_tokens`, else 128), within the context. */
  maxNewTokens?: number;
  /** Seed of the sampler (default: a fresh random seed). */
  seed?: number;
  /** Generation ends when the text contains one of these; the stop string is not emitted. */
  stop?: string[];
  /** End at the model's EOS ids (default true). */
  stopAtEos?: boolean;
  /** KV-cache policy; only `"full"` (no compression) exists until the presses land. */
  press?: string;
  /** Fraction of KV pairs the press removes, in (0, 1). */
  compressionRatio?: number;
}

/** What one generation cost. */
export interface GenerationStats {
  /** Tokens in the prompt. */
  promptTokens: number;
  /** Tokens generated (an EOS that ended generation is not counted). */
  newTokens: number;
  /** Time of the prompt's forward pass, first token's logits included. */
  prefillMs: number;
  /** Generated tokens per second of decode compute (0 when no decode step ran). */
  decodeTokensPerSecond: number;
  /** Bytes the KV cache really held. */
  kvBytes: number;
  /** Bytes a full f32 cache of the final sequence needs. */
  kvBytesFull: number;
}

/**
 * One generation in progress: async-iterable (once) over decoded text pieces.
 *
 * @example
 * ```ts
 * const run = model.generate("Hello", { maxNewTokens: 16 });
 * let text = "";
 * for await (const piece of run) text += piece;
 * console.log(text, run.tokens, await run.stats());
 * ```
 */
export class Generation implements AsyncIterable<string> {
  /** The generated token ids so far. */
  readonly tokens: number[] = [];
  #started = false;
  readonly #stats: Promise<GenerationStats>;
  #resolve!: (stats: GenerationStats) => void;
  #reject!: (error: unknown) => void;

  /** Use `model.generate`; options are checked here, before any work. */
  constructor(readonly model: Model, readonly prompt: Int32Array, readonly options: GenerateOptions) {
    const { press = "full", compressionRatio, maxNewTokens, seed } = options;
    if (press !== "full") {
      throw new LukvError("generate", STATUS.UNSUPPORTED, `unknown press "${press}"; available: full`);
    }
    if (compressionRatio !== undefined) {
      throw new LukvError("generate", STATUS.INVALID_ARGUMENT, `press "full" takes no compressionRatio`);
    }
    if (maxNewTokens !== undefined && (!Number.isSafeInteger(maxNewTokens) || maxNewTokens < 1)) {
      throw new RangeError(`maxNewTokens must be a positive integer, got ${maxNewTokens}`);
    }
    if (seed !== undefined && !Number.isSafeInteger(seed)) {
      throw new RangeError(`seed must be an integer, got ${seed}`);
    }
    sampleToken(new Float32Array([0]), options, () => 0); // validates the sampling options
    new StopStrings(options.stop ?? []);
    this.#stats = new Promise((resolve, reject) => [this.#resolve, this.#reject] = [resolve, reject]);
    this.#stats.catch(() => {}); // surfaced by the iterator or by stats()
  }

  /** Starts generating; a generation can be iterated once. */
  [Symbol.asyncIterator](): AsyncIterator<string> {
    if (this.#started) {
      throw new LukvError("generate", STATUS.INVALID_ARGUMENT, "a generation can be iterated once");
    }
    this.#started = true;
    return this.#run();
  }

  /** Resolves after the last token (running the generation to the end if nobody iterates it). */
  async stats(): Promise<GenerationStats> {
    if (!this.#started) { for await (const _ of this); }
    return this.#stats;
  }

  async *#run(): AsyncGenerator<string> {
    const { model, prompt, options } = this;
    const { forward, config } = model;
    const room = model.contextLimit - prompt.length;
    const maxNew = Math.min(options.maxNewTokens ?? model.generationConfig?.maxNewTokens ?? 128, room);
    const eos = new Set(options.stopAtEos === false ? [] : model.eosTokenIds);
    const random = seededRandom(options.seed ?? crypto.getRandomValues(new Uint32Array(1))[0]);
    const detokenizer = model.tokenizer.stream({ skipSpecialTokens: true });
    const stops = new StopStrings(options.stop ?? []);
    const cache = model.newCache(prompt.length + Math.max(0, maxNew - 1));
    let prefillMs = 0, decodeMs = 0, steps = 0, failed = false;
    try {
      const started = performance.now();
      let logits = lastLogits(forward.run(prompt, cache));
      prefillMs = performance.now() - started;
      let stopped = false;
      while (this.tokens.length < maxNew && !stopped) {
        const stepStarted = performance.now();
        const token = sampleToken(logits, options, random);
        decodeMs += performance.now() - stepStarted;
        if (eos.has(token)) break;
        this.tokens.push(token);
        const emitted = stops.push(detokenizer.push(token));
        stopped = emitted.stopped;
        if (emitted.text) yield emitted.text;
        if (stopped || this.tokens.length === maxNew) break;
        const forwardStarted = performance.now();
        logits = lastLogits(forward.run(new Int32Array([token]), cache));
        decodeMs += performance.now() - forwardStarted;
        steps++;
      }
      if (!stopped) {
        const rest = stops.push(detokenizer.flush());
        const tail = rest.text + (rest.stopped ? "" : stops.flush());
        if (tail) yield tail;
      }
    } catch (error) {
      failed = true;
      this.#reject(error);
      throw error;
    } finally {
      // Also reached when the consumer stops iterating early: stats then cover what ran.
      if (!failed) {
        const { layers, kvHeads, headDim } = config;
        this.#resolve({
          promptTokens: prompt.length,
          newTokens: this.tokens.length,
          prefillMs,
          decodeTokensPerSecond: steps > 0 ? steps / (decodeMs / 1000) : 0,
          kvBytes: cache.bytes(),
          kvBytesFull: denseKvBytes({ layers, kvHeads, headDim }, prompt.length + this.tokens.length),
        });
      }
      cache.close();
    }

    function lastLogits(hidden: ReturnType<typeof forward.run>): Float32Array {
      using owned = hidden;
      return forward.logits(owned.rows(owned.shape[0] - 1, 1));
    }
  }
}
