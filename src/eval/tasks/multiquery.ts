/** `multiquery`: several needles with different keys, all asked in one question. */

import { fillAround } from "./filler.ts";
import type { Rng } from "./rng.ts";
import type { BuildEnv, TaskParts } from "./sample.ts";
import { answerList, needleSentence, numbersAnswerPrefix, numbersQuestion } from "./templates.ts";
import { distinct, KEYS, sixDigits } from "./words.ts";

/** Needles (and asked keys) in a `multiquery` context. */
export const MULTIQUERY_NEEDLES = 4;

/**
 * Four needles "The special magic number for {key} is {value}." with distinct keys and
 * values, spread in random order; all four keys are asked, in another random order:
 * question "\nWhat are the special magic numbers for {k1}, {k2}, {k3}, {k4}?", answer
 * prefix " The special magic numbers for {k1}, {k2}, {k3}, {k4} are", answers the values
 * in the asked order.
 *
 * @example
 * ```ts
 * const parts = multiqueryTask(rng, 1024, env); // parts.answers: 4 values, in the order the keys are asked
 * ```
 */
export function multiqueryTask(rng: Rng, budget: number, env: BuildEnv): TaskParts {
  const keys = rng.sample(KEYS, MULTIQUERY_NEEDLES);
  const values = distinct(MULTIQUERY_NEEDLES, () => sixDigits(rng));
  const order = rng.shuffle(keys.map((_, i) => i));
  const asked = order.map((i) => keys[i]);
  const answers = order.map((i) => values[i]);
  const question = numbersQuestion(asked);
  const answerPrefix = numbersAnswerPrefix(asked);
  const needles = keys.map((key, i) => needleSentence(key, values[i]));
  const context = fillAround(rng, budget, env, { needles, question, answerPrefix });
  return { context, question, answerPrefix, answers, target: answerList(answers) };
}
