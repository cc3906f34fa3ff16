/** `frequent-words`: a coded text of made-up words with Zipf-like counts; which 3 are the most frequent? */

import type { Rng } from "./rng.ts";
import { type BuildEnv, type TaskParts, tooShort } from "./sample.ts";
import {
  answerList,
  FREQUENT_WORDS_HEADER,
  frequentWordsAnswerPrefix,
  frequentWordsQuestion,
} from "./templates.ts";
import { madeUpWord } from "./words.ts";

/** Most frequent words asked in `frequent-words`. */
export const FREQUENT_WORDS_TOP = 3;
/** The word of rank r occurs floor(top / r^2) times. */
const ZIPF_EXPONENT = 2;
/**
 * The smallest top count whose first four ranks have strictly decreasing counts
 * (18, 4, 2, 1); every larger one does too, so the 3rd word never ties the 4th.
 */
const MIN_TOP_COUNT = 18;
/** Made-up words in a row that may not fit the last gap before filling stops. */
const MAX_MISSES = 20;

/**
 * Occurrences of each rank, floor(top / r^2) for r = 1, 2, ... while at least 1.
 *
 * @example
 * ```ts
 * zipfCounts(40); // [40, 10, 4, 2, 1, 1]
 * ```
 */
export function zipfCounts(top: number): number[] {
  const counts: number[] = [];
  for (let r = 1;; r++) {
    const count = Math.floor(top / r ** ZIPF_EXPONENT);
    if (count < 1) return counts;
    counts.push(count);
  }
}

/**
 * A coded text `FREQUENT_WORDS_HEADER + made-up words joined by " " + "."`: distinct
 * made-up words (see `madeUpWord`) where rank r occurs floor(top / r^2) times, top as
 * large as the length allows (at least 18), plus words occurring once to fill the
 * remaining gap; shuffled. Question "\nWhat are the 3 most frequent coded words in the text?",
 * answer prefix " The 3 most frequent coded words in the text are", answers the 3 most
 * frequent words, most frequent first (their counts are strictly above every other word's).
 *
 * @example
 * ```ts
 * const parts = frequentWordsTask(rng, 1024, env); // parts.target: " zimo, bako, tefu."
 * ```
 */
export function frequentWordsTask(rng: Rng, budget: number, env: BuildEnv): TaskParts {
  const { counter } = env;
  const question = frequentWordsQuestion(FREQUENT_WORDS_TOP);
  const answerPrefix = frequentWordsAnswerPrefix(FREQUENT_WORDS_TOP);
  const fixed = counter.special + counter.count(FREQUENT_WORDS_HEADER) + counter.count(".") +
    counter.count(question + answerPrefix);
  const words: string[] = [];
  const seen = new Set<string>();
  const wordAt = (rank: number) => {
    while (words.length <= rank) {
      const word = madeUpWord(rng);
      if (seen.has(word)) continue;
      seen.add(word);
      words.push(word);
    }
    return words[rank];
  };
  const cost = (rank: number) => counter.count(` ${wordAt(rank)}`);
  const zipfCost = (top: number) => zipfCounts(top).reduce((sum, count, rank) => sum + count * cost(rank), 0);

  const itemBudget = budget - fixed;
  if (zipfCost(MIN_TOP_COUNT) > itemBudget) {
    throw tooShort(env, "the question and the smallest Zipf word counts", fixed + zipfCost(MIN_TOP_COUNT));
  }
  let [low, high] = [MIN_TOP_COUNT, Math.max(MIN_TOP_COUNT, Math.floor(itemBudget / cost(0)))];
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (zipfCost(mid) <= itemBudget) low = mid;
    else high = mid - 1;
  }
  const counts = zipfCounts(low);
  const items = counts.flatMap((count, rank) => Array<string>(count).fill(wordAt(rank)));
  let remaining = itemBudget - zipfCost(low);
  for (let rank = counts.length, misses = 0; remaining > 0 && misses < MAX_MISSES; rank++) {
    if (cost(rank) <= remaining) {
      items.push(wordAt(rank));
      remaining -= cost(rank);
    } else {
      misses++;
    }
  }
  rng.shuffle(items);
  const answers = words.slice(0, FREQUENT_WORDS_TOP);
  const context = `${FREQUENT_WORDS_HEADER}${items.join(" ")}.`;
  return { context, question, answerPrefix, answers, target: answerList(answers) };
}
