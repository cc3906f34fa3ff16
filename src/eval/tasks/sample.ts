/** What every task generator shares: the sample type, cached token counts, and fitting a prompt to a length. */

import type { Filler } from "./filler.ts";
import type { Rng } from "./rng.ts";

/** Which filler text and which PRNG streams a sample uses: training, calibration or evaluation. */
export type Split = "train" | "calib" | "eval";

/**
 * Every split, in a fixed order.
 *
 * @example
 * ```ts
 * SPLITS.includes("calib"); // true
 * ```
 */
export const SPLITS: readonly Split[] = ["train", "calib", "eval"];

/**
 * What the generators need of a tokenizer: lukv's `Tokenizer` (src/model/tokenizer.ts) has it. With
 * `addSpecialTokens` (the default) the ids include what the model adds, such as BOS.
 */
export interface TaskTokenizer {
  /** Token ids of `text`. */
  encode(text: string, options?: { addSpecialTokens?: boolean }): ArrayLike<number>;
}

/**
 * One generated sample. The model's prompt is exactly `context + question + answerPrefix`;
 * it is correct when its continuation contains every string of `answers` (see `scoreAnswer`).
 *
 * @example
 * ```ts
 * const sample: TaskSample = {
 *   task: "needle",
 *   context: "... The special magic number for lamp is 482913. ...",
 *   question: "\nWhat is the special magic number for lamp?",
 *   answerPrefix: " The special magic number for lamp is",
 *   answers: ["482913"],
 *   target: " 482913.",
 *   tokens: 1019,
 * };
 * ```
 */
export interface TaskSample {
  /** The task's name, e.g. `"needle"`. */
  task: string;
  /** The long text: filler with needles, or a word list. */
  context: string;
  /** Starts with "\n". */
  question: string;
  /** Starts with " "; the model continues from here. */
  answerPrefix: string;
  /** Every string the continuation must contain. */
  answers: string[];
  /** The canonical continuation (" " + answers joined by ", " + "."), a training target. */
  target: string;
  /** Tokens of the prompt, special tokens (BOS) included; at most the requested length. */
  tokens: number;
}

/** What a task builder returns: a sample before its tokens are counted. */
export type TaskParts = Omit<TaskSample, "task" | "tokens">;

/**
 * Token counts of texts without special tokens, cached per text (filler sentences and
 * list items are counted once per tokenizer), plus exact counts of whole prompts.
 *
 * @example
 * ```ts
 * const counter = TokenCounter.of(tokenizer);
 * counter.count(" The special magic number for lamp is 482913."); // e.g. 12
 * counter.prompt(prompt); // encode(prompt).length, BOS included
 * ```
 */
export class TokenCounter {
  static readonly #counters = new WeakMap<TaskTokenizer, TokenCounter>();
  /** Tokens the tokenizer adds to every text (e.g. 1 for BOS). */
  readonly special: number;
  readonly #tokenizer: TaskTokenizer;
  readonly #counts = new Map<string, number>();

  /**
   * A counter with an empty cache; prefer {@linkcode TokenCounter.of}, which shares one per tokenizer.
   *
   * @example
   * ```ts
   * const counter = new TokenCounter(tokenizer);
   * ```
   */
  constructor(tokenizer: TaskTokenizer) {
    if (typeof tokenizer?.encode !== "function") {
      throw new TypeError("tokenizer must have an encode(text, { addSpecialTokens }) method");
    }
    this.#tokenizer = tokenizer;
    this.special = tokenizer.encode("").length - tokenizer.encode("", { addSpecialTokens: false }).length;
  }

  /**
   * The shared counter of a tokenizer.
   *
   * @example
   * ```ts
   * TokenCounter.of(tokenizer) === TokenCounter.of(tokenizer); // true
   * ```
   */
  static of(tokenizer: TaskTokenizer): TokenCounter {
    let counter = TokenCounter.#counters.get(tokenizer);
    if (counter === undefined) {
      counter = new TokenCounter(tokenizer);
      TokenCounter.#counters.set(tokenizer, counter);
    }
    return counter;
  }

  /**
   * Tokens of `text` alone, without special tokens (cached).
   *
   * @example
   * ```ts
   * counter.count(", lamp"); // e.g. 2
   * ```
   */
  count(text: string): number {
    let n = this.#counts.get(text);
    if (n === undefined) {
      n = this.#tokenizer.encode(text, { addSpecialTokens: false }).length;
      this.#counts.set(text, n);
    }
    return n;
  }

  /**
   * Tokens of a whole prompt, special tokens included (not cached).
   *
   * @example
   * ```ts
   * counter.prompt(context + question + answerPrefix); // e.g. 1021
   * ```
   */
  prompt(text: string): number {
    return this.#tokenizer.encode(text).length;
  }
}

/** What a task builder knows besides its PRNG and budget. */
export interface BuildEnv {
  /** The task's name, for error messages. */
  task: string;
  /** The requested prompt length in tokens. */
  length: number;
  /** Token counts of the tokenizer. */
  counter: TokenCounter;
  /** The split's filler sentences. */
  filler: Filler;
}

/**
 * Builds a sample's text whose prompt should take at most `budget` tokens by the sum of
 * cached counts; a RangeError when even the fixed parts (question, needles) do not fit.
 */
export type TaskBuilder = (rng: Rng, budget: number, env: BuildEnv) => TaskParts;

/** Attempts before giving up on fitting a prompt (each lowers the budget by the overshoot). */
const FIT_ATTEMPTS = 8;

/**
 * Runs `builder` with a budget of `env.length` tokens, counts the whole prompt exactly,
 * and while it is longer (tokenization across piece boundaries can differ from the
 * sum of the pieces by a token or two) rebuilds from the same PRNG state with the budget
 * lowered by the overshoot. The result always has `tokens <= env.length`.
 *
 * @example
 * ```ts
 * const sample = fitToLength(needleTask, Rng.forSample("eval", "needle", 0, 0), env);
 * sample.tokens <= env.length; // true
 * ```
 */
export function fitToLength(builder: TaskBuilder, rng: Rng, env: BuildEnv): TaskSample {
  let budget = env.length;
  for (let attempt = 0; attempt < FIT_ATTEMPTS; attempt++) {
    const parts = builder(rng.clone(), budget, env);
    const tokens = env.counter.prompt(parts.context + parts.question + parts.answerPrefix);
    if (tokens <= env.length) return { task: env.task, ...parts, tokens };
    budget -= tokens - env.length;
  }
  throw new Error(
    `${env.task}: could not fit the prompt within ${env.length} tokens in ${FIT_ATTEMPTS} attempts ` +
      "(the tokenizer's counts of pieces and of whole prompts disagree too much)",
  );
}

/**
 * The RangeError of a length too small for a task's fixed parts.
 *
 * @example
 * ```ts
 * throw tooShort(env, "the question, answer prefix and 4 needles", 130);
 * ```
 */
export function tooShort(env: BuildEnv, what: string, tokens: number): RangeError {
  return new RangeError(
    `${env.task}: length ${env.length} is too small: ${what} alone take ${tokens} tokens`,
  );
}
