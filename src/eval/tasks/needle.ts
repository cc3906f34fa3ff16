/** `needle`: one key's 6-digit number hidden in filler; the question asks for it. */

import { fillAround } from "./filler.ts";
import type { Rng } from "./rng.ts";
import type { BuildEnv, TaskParts } from "./sample.ts";
import { answerList, needleAnswerPrefix, needleQuestion, needleSentence } from "./templates.ts";
import { KEYS, sixDigits } from "./words.ts";

/**
 * One needle "The special magic number for {key} is {value}." at a random depth;
 * question "\nWhat is the special magic number for {key}?", answer prefix
 * " The special magic number for {key} is", answers `[value]`.
 *
 * @example
 * ```ts
 * const parts = needleTask(rng, 1024, env); // parts.answers: ["482913"], parts.target: " 482913."
 * ```
 */
export function needleTask(rng: Rng, budget: number, env: BuildEnv): TaskParts {
  const key = rng.pick(KEYS);
  const value = sixDigits(rng);
  const question = needleQuestion(key);
  const answerPrefix = needleAnswerPrefix(key);
  const context = fillAround(rng, budget, env, {
    needles: [needleSentence(key, value)],
    question,
    answerPrefix,
  });
  return { context, question, answerPrefix, answers: [value], target: answerList([value]) };
}
