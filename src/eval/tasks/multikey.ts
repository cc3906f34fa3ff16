/** `multikey`: several needles with different keys; one is asked, the others are distractors. */

import { fillAround } from "./filler.ts";
import type { Rng } from "./rng.ts";
import type { BuildEnv, TaskParts } from "./sample.ts";
import { answerList, needleAnswerPrefix, needleQuestion, needleSentence } from "./templates.ts";
import { distinct, KEYS, sixDigits } from "./words.ts";

/** Needles in a `multikey` context: the asked one and three distractors. */
export const MULTIKEY_NEEDLES = 4;

/**
 * Four needles "The special magic number for {key} is {value}." with distinct keys and
 * values, spread over the context in random order; one key is asked with the `needle`
 * question and answer prefix; answers `[its value]`.
 *
 * @example
 * ```ts
 * const parts = multikeyTask(rng, 1024, env); // parts.answers: ["482913"]
 * ```
 */
export function multikeyTask(rng: Rng, budget: number, env: BuildEnv): TaskParts {
  const keys = rng.sample(KEYS, MULTIKEY_NEEDLES);
  const values = distinct(MULTIKEY_NEEDLES, () => sixDigits(rng));
  const asked = rng.int(MULTIKEY_NEEDLES);
  const question = needleQuestion(keys[asked]);
  const answerPrefix = needleAnswerPrefix(keys[asked]);
  const needles = keys.map((key, i) => needleSentence(key, values[i]));
  const context = fillAround(rng, budget, env, { needles, question, answerPrefix });
  return { context, question, answerPrefix, answers: [values[asked]], target: answerList([values[asked]]) };
}
