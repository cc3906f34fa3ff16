/** `common-words`: a list of English words where a few occur often and many rarely; which are the most common? */

import type { Rng } from "./rng.ts";
import { type BuildEnv, type TaskParts, tooShort } from "./sample.ts";
import {
  answerList,
  COMMON_WORDS_HEADER,
  commonWordsAnswerPrefix,
  commonWordsQuestion,
} from "./templates.ts";
import { ADJECTIVES, KEYS } from "./words.ts";

/** Common words in a `common-words` list (all asked). */
export const COMMON_WORDS_TOP = 5;
/** About this share of the list is the common words' occurrences. */
const COMMON_SHARE = 0.3;

/**
 * A list `COMMON_WORDS_HEADER + words joined by ", " + "."` of words from `KEYS` and
 * `ADJECTIVES`: 5 common words occur `c` times each and the rare ones at most `r` times
 * each, with `c >= r + 2` (no ties at the boundary). The common words take about 30% of
 * the list; `r` is the smallest count that lets 431 rare words fill the length. Question
 * "\nWhat are the 5 most common words in the list?", answer prefix
 * " The 5 most common words in the list are", answers the 5 common words in order of
 * first appearance.
 *
 * @example
 * ```ts
 * const parts = commonWordsTask(rng, 1024, env); // parts.answers: ["lamp", "rusty", "coin", "owl", "quiet"]
 * ```
 */
export function commonWordsTask(rng: Rng, budget: number, env: BuildEnv): TaskParts {
  const { counter } = env;
  const question = commonWordsQuestion(COMMON_WORDS_TOP);
  const answerPrefix = commonWordsAnswerPrefix(COMMON_WORDS_TOP);
  const fixed = counter.special + counter.count(COMMON_WORDS_HEADER) + counter.count(".") +
    counter.count(question + answerPrefix);
  const pool = rng.shuffle([...KEYS, ...ADJECTIVES]);
  const commons = pool.slice(0, COMMON_WORDS_TOP);
  const rares = pool.slice(COMMON_WORDS_TOP);
  const cost = (word: string) => counter.count(`, ${word}`);
  const commonCost = commons.reduce((sum, word) => sum + cost(word), 0);
  const minRareCost = Math.min(...rares.map(cost));
  const itemBudget = budget - fixed;
  if (itemBudget < 3 * commonCost) {
    throw tooShort(
      env,
      `the question and ${COMMON_WORDS_TOP} common words 3 times each`,
      fixed + 3 * commonCost,
    );
  }
  const slots = itemBudget / (pool.reduce((sum, word) => sum + cost(word), 0) / pool.length);

  for (let rareTimes = Math.max(1, Math.ceil((1 - COMMON_SHARE) * slots / rares.length));; rareTimes++) {
    const fitting = Math.floor(itemBudget / commonCost);
    const commonTimes = Math.min(
      fitting,
      Math.max(rareTimes + 2, Math.round(COMMON_SHARE * slots / COMMON_WORDS_TOP)),
    );
    if (commonTimes < rareTimes + 2) {
      const needed = fixed + (rareTimes + 2) * commonCost;
      throw tooShort(
        env,
        `the question and ${COMMON_WORDS_TOP} common words ${rareTimes + 2} times each`,
        needed,
      );
    }
    const items = commons.flatMap((word) => Array<string>(commonTimes).fill(word));
    let remaining = itemBudget - commonTimes * commonCost;
    for (const word of rares) {
      for (let k = 0; k < rareTimes && cost(word) <= remaining; k++) {
        items.push(word);
        remaining -= cost(word);
      }
      if (remaining < minRareCost) break;
    }
    // Every rare word used and room left: allow each one more occurrence.
    if (remaining >= minRareCost) continue;
    rng.shuffle(items);
    const answers = [...commons].sort((a, b) => items.indexOf(a) - items.indexOf(b));
    const context = `${COMMON_WORDS_HEADER}${items.join(", ")}.`;
    return { context, question, answerPrefix, answers, target: answerList(answers) };
  }
}
