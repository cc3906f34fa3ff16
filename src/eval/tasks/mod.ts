/**
 * RULER-style long-context tasks for lukv: seeded, deterministic generators of prompts
 * at a requested length in tokens, with filler from the Jargon File (public domain).
 *
 * A sample's prompt is exactly `context + question + answerPrefix`, at most `length`
 * tokens (BOS included), checked by encoding the whole prompt, and close to it: tasks
 * with filler stop less than one short filler sentence (40+ characters) short of it,
 * the word-list tasks less than one word short (measured over many samples: at most
 * 36 tokens with a 288-token byte-level BPE, 13 with models/tiny's 2048-token BPE; list
 * tasks at most 4). The sample is correct when the generated text contains every string
 * of `answers` as a whole word ({@linkcode scoreAnswer}).
 *
 * Every sample's PRNG state is a hash of (split, task, seed, index), so samples are
 * reproducible and the same seed under another split or task gives unrelated samples;
 * with disjoint filler files per split, calibration and evaluation data are disjoint.
 *
 * @example
 * ```ts
 * import { Tokenizer } from "../../model/tokenizer.ts";
 * import { generateSamples, scoreAnswer } from "./mod.ts";
 *
 * const tokenizer = await Tokenizer.load("models/tiny");
 * const samples = await generateSamples("needle", { length: 1024, count: 10, seed: 0, split: "eval", tokenizer });
 * const prompt = samples[0].context + samples[0].question + samples[0].answerPrefix;
 * scoreAnswer(samples[0], " 482913."); // true when 482913 is the answer
 * ```
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { Tokenizer } from "../../model/tokenizer.ts";
import { commonWordsTask } from "./common_words.ts";
import { loadFiller } from "./filler.ts";
import { frequentWordsTask } from "./frequent_words.ts";
import { multikeyTask } from "./multikey.ts";
import { multiqueryTask } from "./multiquery.ts";
import { multivalueTask } from "./multivalue.ts";
import { needleTask } from "./needle.ts";
import { Rng } from "./rng.ts";
import {
  fitToLength,
  type Split,
  SPLITS,
  type TaskBuilder,
  type TaskSample,
  type TaskTokenizer,
  TokenCounter,
} from "./sample.ts";
import { variableTrackingTask } from "./variable_tracking.ts";

export type { Split, TaskSample, TaskTokenizer };
export { SPLITS };

/** A task's name, as in the API and the CLI. */
export type TaskName =
  | "needle"
  | "multikey"
  | "multivalue"
  | "multiquery"
  | "variable-tracking"
  | "common-words"
  | "frequent-words";

const BUILDERS: Record<TaskName, TaskBuilder> = {
  "needle": needleTask,
  "multikey": multikeyTask,
  "multivalue": multivalueTask,
  "multiquery": multiqueryTask,
  "variable-tracking": variableTrackingTask,
  "common-words": commonWordsTask,
  "frequent-words": frequentWordsTask,
};

/**
 * Every task, in a fixed order.
 *
 * @example
 * ```ts
 * TASK_NAMES; // ["needle", "multikey", "multivalue", "multiquery", "variable-tracking", "common-words", "frequent-words"]
 * ```
 */
export const TASK_NAMES: readonly TaskName[] = Object.keys(BUILDERS) as TaskName[];

/**
 * The embedded model's folder, next to this module (`models/tiny/` of the checkout),
 * whose tokenizer is the default.
 *
 * @example
 * ```ts
 * DEFAULT_MODEL_URL.href; // "file:///.../models/tiny/"
 * ```
 */
export const DEFAULT_MODEL_URL: URL = new URL("../../../models/tiny/", import.meta.url);

/** Options of {@linkcode generateSample}. */
export interface SampleOptions {
  /** The prompt's maximum length in tokens, BOS included. */
  length: number;
  /** A non-negative integer. */
  seed: number;
  /** The sample's index under the seed (default 0): `generateSamples` uses 0..count-1. */
  index?: number;
  /** Which filler and PRNG streams (default "eval"). */
  split?: Split;
  /** Counts tokens (default: the embedded model's, see {@linkcode loadDefaultTokenizer}). */
  tokenizer?: TaskTokenizer;
}

/** Options of {@linkcode generateSamples}. */
export interface SamplesOptions extends Omit<SampleOptions, "index"> {
  /** How many samples (indices 0..count-1), at least 1. */
  count: number;
}

let defaultTokenizer: Promise<TaskTokenizer> | undefined;

/**
 * The embedded model's tokenizer (`models/tiny/`), loaded once. Only from a local
 * checkout: a module imported over the network must be given a tokenizer.
 *
 * @example
 * ```ts
 * const tokenizer = await loadDefaultTokenizer();
 * ```
 */
export function loadDefaultTokenizer(): Promise<TaskTokenizer> {
  if (DEFAULT_MODEL_URL.protocol !== "file:") {
    return Promise.reject(
      new Error(`the default tokenizer is only local (${DEFAULT_MODEL_URL.href}); pass options.tokenizer`),
    );
  }
  defaultTokenizer ??= Tokenizer.load(fileURLToPath(DEFAULT_MODEL_URL));
  defaultTokenizer.catch(() => defaultTokenizer = undefined);
  return defaultTokenizer;
}

function checkInteger(name: string, value: unknown, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function checkTask(task: unknown): TaskName {
  if (!TASK_NAMES.includes(task as TaskName)) {
    throw new RangeError(`unknown task ${JSON.stringify(task)}; the tasks are ${TASK_NAMES.join(", ")}`);
  }
  return task as TaskName;
}

function checkSplit(split: unknown): Split {
  if (!SPLITS.includes(split as Split)) {
    throw new RangeError(`split must be one of ${SPLITS.join(", ")}, got ${JSON.stringify(split)}`);
  }
  return split as Split;
}

/**
 * One sample of `task`: deterministic in (task, length, seed, index, split, tokenizer).
 * Bad arguments (unknown task, a length too small for the question, a non-integer seed)
 * are RangeErrors.
 *
 * @example
 * ```ts
 * const sample = await generateSample("variable-tracking", { length: 2048, seed: 3, index: 5, tokenizer });
 * sample.answers; // ["QXZ", "KDW", "MEB", "TOR", "ZAL"]
 * ```
 */
export async function generateSample(task: TaskName, options: SampleOptions): Promise<TaskSample> {
  const name = checkTask(task);
  const length = checkInteger("length", options.length, 1);
  const seed = checkInteger("seed", options.seed, 0);
  const index = checkInteger("index", options.index ?? 0, 0);
  const split = checkSplit(options.split ?? "eval");
  const counter = TokenCounter.of(options.tokenizer ?? await loadDefaultTokenizer());
  const env = { task: name, length, counter, filler: await loadFiller(split) };
  return fitToLength(BUILDERS[name], Rng.forSample(split, name, seed, index), env);
}

/**
 * `count` samples of `task`, indices 0..count-1 of one seed (sample i equals
 * `generateSample(task, { ...options, index: i })`).
 *
 * @example
 * ```ts
 * const calibration = await generateSamples("multikey", { length: 4096, count: 32, seed: 0, split: "calib", tokenizer });
 * ```
 */
export async function generateSamples(task: TaskName, options: SamplesOptions): Promise<TaskSample[]> {
  const count = checkInteger("count", options.count, 1);
  const samples: TaskSample[] = [];
  for (let index = 0; index < count; index++) samples.push(await generateSample(task, { ...options, index }));
  return samples;
}

/**
 * Whether `generated` (the text after the answer prefix) contains every answer of
 * `sample` as a whole word: not inside a longer word or number, so "12345" does not
 * match "123456"; case-sensitive.
 *
 * @example
 * ```ts
 * scoreAnswer({ ...sample, answers: ["482913"] }, " 482913."); // true
 * scoreAnswer({ ...sample, answers: ["482913"] }, " 4829130."); // false
 * ```
 */
export function scoreAnswer(sample: Pick<TaskSample, "answers">, generated: string): boolean {
  return sample.answers.every((answer) => containsWord(generated, answer));
}

function containsWord(text: string, word: string): boolean {
  const isWordChar = (c: string | undefined) => c !== undefined && /[\p{L}\p{N}_]/u.test(c);
  for (let at = text.indexOf(word); at >= 0; at = text.indexOf(word, at + 1)) {
    if (!isWordChar(text[at - 1]) && !isWordChar(text[at + word.length])) return true;
  }
  return false;
}
