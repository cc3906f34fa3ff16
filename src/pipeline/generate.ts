/** Streaming generation: prefill, then one token at a time, yielding decoded text pieces; stats at the end. */

import { LukvError, STATUS } from "../backend/errors.ts";
import { denseKvBytes } from "../cache/dense.ts";
import type { KvCache } from "../cache/kv_cache.ts";
import { checkCompressionRatio } from "../lukv/tables.ts";
import type { Profile } from "../lukv/profile.ts";
import type { ModelRuntime } from "../model/model.ts";
import { sampleToken, type SamplingOptions, seededRandom } from "../model/sampling.ts";
import { StopStrings } from "../model/stop.ts";
import type { Press } from "../press/press.ts";
import type { AllocatorParams } from "../press/registry.ts";
import type { ScorerParams } from "../press/scorers/scorer.ts";
import { decode } from "./decode.ts";
import { compressDecoded, RecentQueries } from "./decode_compression.ts";
import { compressedPrefill } from "./prefill.ts";
import { pressFor } from "./presses.ts";
import { append } from "./steps.ts";

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
  /**
   * KV-cache press: a name (see `PRESS_NAMES`: a scorer, `adakv-<scorer>`,
   * `pyramidkv-<scorer>`, `lukv-<scorer>`, ...) or a press object. Default `"full"`.
   */
  press?: string | Press;
  /** Fraction of KV pairs the press removes, in [0, 1) (default 0: the ragged path, nothing removed). */
  compressionRatio?: number;
  /** The scorer's parameters, e.g. `{ epsilon: 0.02 }` (unset ones take the scorer's documented defaults). */
  scorerParams?: ScorerParams;
  /** The allocator's parameters (AdaKV `alpha`, PyramidKV `beta`). */
  allocatorParams?: AllocatorParams;
  /** Protected leading tokens (default 4; `lukv-*` takes the profile's). */
  sink?: number;
  /** Protected trailing tokens (default 32; `lukv-*` takes the profile's). */
  window?: number;
  /**
   * Compress again every this many generated tokens (default: never): each layer then
   * holds its budget share of all tokens seen so far, so the cache grows at the press's
   * rate instead of one row per token (see `compressDecoded`). Needs a compressing press.
   */
  compressEvery?: number;
  /**
   * The LU-KV profile, for `lukv` presses; by default `lukv-<scorer>` reads
   * `lukv-<scorer>.json` from the model folder. Its model shape and weights must match.
   */
  profile?: Profile;
}

/**
 * A prompt in two parts, for query-agnostic compression: the context is compressed
 * on its own, then the question is appended to the compressed cache.
 */
export interface SplitPrompt {
  /** The long context (text is encoded with special tokens, e.g. BOS). */
  context: string | Int32Array;
  /** The question and answer prefix (text is encoded without special tokens). */
  question: string | Int32Array;
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
  /** Bytes the KV cache really held at the end. */
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

  /** Keep counts `[kvHeads]` per layer chosen by the press at the end of prefill (empty without compression). */
  readonly keptCounts: Int32Array[] = [];
  readonly #press: Press | null;

  /**
   * Use `model.generate`; options are checked here, before any work. `question` holds
   * the tokens appended after a query-agnostic compression of `prompt` (empty otherwise).
   */
  constructor(
    readonly model: ModelRuntime,
    readonly prompt: Int32Array,
    readonly options: GenerateOptions,
    readonly question: Int32Array = new Int32Array(0),
  ) {
    const { press = "full", compressionRatio = 0, maxNewTokens, seed } = options;
    checkCompressionRatio(compressionRatio);
    const made = pressFor(model, press, options);
    this.#press = made.scorer ? made : null;
    if (!this.#press && compressionRatio !== 0) {
      throw new LukvError("generate", STATUS.INVALID_ARGUMENT, `press "full" takes no compressionRatio`);
    }
    const { compressEvery } = options;
    if (compressEvery !== undefined && (!Number.isSafeInteger(compressEvery) || compressEvery < 1)) {
      throw new RangeError(`compressEvery must be a positive integer, got ${compressEvery}`);
    }
    if (compressEvery !== undefined && !this.#press) {
      throw new LukvError("generate", STATUS.INVALID_ARGUMENT, `compressEvery needs a press that compresses`);
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
    const { config } = model;
    const room = model.contextLimit - prompt.length - this.question.length;
    const maxNew = Math.min(options.maxNewTokens ?? model.generationConfig?.maxNewTokens ?? 128, room);
    const eos = new Set(options.stopAtEos === false ? [] : model.eosTokenIds);
    const random = seededRandom(options.seed ?? crypto.getRandomValues(new Uint32Array(1))[0]);
    const detokenizer = model.tokenizer.stream({ skipSpecialTokens: true });
    const stops = new StopStrings(options.stop ?? []);
    let cache: KvCache | null = null;
    let prefillMs = 0, failed = false;
    const times = { ms: 0, steps: 0 };
    const { compressEvery } = options;
    const recent = new RecentQueries();
    let afterStep: ((produced: number) => void) | undefined;
    try {
      const started = performance.now();
      let logits: Float32Array;
      if (this.#press) {
        const press = this.#press;
        // Free rows per head: what this generation can append (or what comes between two
        // compressions), grown 64 at a time beyond that.
        const growth = Math.min(compressEvery ?? 64, 64, Math.max(1, maxNew + this.question.length));
        const prefill = compressedPrefill(model, prompt, press, options.compressionRatio ?? 0, growth);
        const ragged = cache = prefill.cache;
        logits = prefill.logits;
        this.keptCounts.push(...prefill.selections.map((s) => s.counts));
        if (compressEvery !== undefined) {
          const counts = prefill.selections.map((s) => s.counts);
          afterStep = (produced) => {
            if (produced % compressEvery !== 0) return;
            compressDecoded(model, ragged, press, options.compressionRatio ?? 0, counts, recent);
            recent.clear();
          };
        }
      } else {
        cache = model.newCache(prompt.length + this.question.length + Math.max(0, maxNew - 1));
        logits = append(model, cache, prompt);
      }
      if (this.question.length > 0) logits = append(model, cache, this.question);
      prefillMs = performance.now() - started;
      const tokens = decode(model, cache, logits, {
        maxNew,
        eos,
        pick: (row) => sampleToken(row, options, random),
        observers: afterStep ? [recent] : [],
        afterStep,
      }, times);
      let stopped = false;
      for (const token of tokens) {
        this.tokens.push(token);
        const emitted = stops.push(detokenizer.push(token));
        stopped = emitted.stopped;
        if (emitted.text) yield emitted.text;
        if (stopped) break;
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
        const promptTokens = prompt.length + this.question.length;
        this.#resolve({
          promptTokens,
          newTokens: this.tokens.length,
          prefillMs,
          decodeTokensPerSecond: times.steps > 0 ? times.steps / (times.ms / 1000) : 0,
          kvBytes: cache?.bytes() ?? 0,
          kvBytesFull: denseKvBytes({ layers, kvHeads, headDim }, promptTokens + this.tokens.length),
        });
      }
      cache?.close();
    }
  }
}
