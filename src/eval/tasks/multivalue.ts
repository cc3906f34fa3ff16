/** `multivalue`: one key with several numbers spread over the filler; all are asked. */

import { fillAround } from "./filler.ts";
import type { Rng } from "./rng.ts";
import type { BuildEnv, TaskParts } from "./sample.ts";
import { answerList, needleSentence, numbersAnswerPrefix, numbersQuestion } from "./templates.ts";
import { distinct, KEYS, sixDigits } from "./words.ts";

/** Values of the one key in a `multivalue` context. */
export const MULTIVALUE_VALUES = 4;

/**
 * Four needles "The special magic number for {key} is {value}." with one key and
 * distinct values; question "\nWhat are the special magic numbers for {key}?", answer
 * prefix " The special magic numbers for {key} are", answers the values in context order.
 *
 * @example
 * ```ts
 * const parts = multivalueTask(rng, 1024, env); // parts.target: " 482913, 120587, 999001, 310244."
 * ```
 */
export function multivalueTask(rng: Rng, budget: number, env: BuildEnv): TaskParts {
  const key = rng.pick(KEYS);
  const values = distinct(MULTIVALUE_VALUES, () => sixDigits(rng));
  const question = numbersQuestion([key]);
  const answerPrefix = numbersAnswerPrefix([key]);
  const needles = values.map((value) => needleSentence(key, value));
  const context = fillAround(rng, budget, env, { needles, question, answerPrefix });
  return { context, question, answerPrefix, answers: values, target: answerList(values) };
}
