/** `variable-tracking`: chains of assignments ("VAR X = 482913." ... "VAR Y = X.") in filler; which variables hold a value? */

import { fillAround } from "./filler.ts";
import type { Rng } from "./rng.ts";
import type { BuildEnv, TaskParts } from "./sample.ts";
import { answerList, assignment, variablesAnswerPrefix, variablesQuestion } from "./templates.ts";
import { distinct, sixDigits, variableName } from "./words.ts";

/** Chains in a `variable-tracking` context: the asked one and one distractor chain. */
export const VARIABLE_CHAINS = 2;
/** Assignments of a variable to a variable in each chain (so each chain names `hops + 1` variables). */
export const VARIABLE_HOPS = 4;

/**
 * Two chains, each "VAR {A} = {value}." then "VAR {B} = {A}.", "VAR {C} = {B}.", ...
 * (4 hops, 5 distinct three-letter names per chain, distinct values). Each chain's
 * statements keep their order; the chains are interleaved at random and spread over
 * the filler. Question "\nWhich variables hold the value {value}?", answer prefix
 * " The variables that hold the value {value} are", answers the asked chain's 5 names in
 * assignment order.
 *
 * @example
 * ```ts
 * const parts = variableTrackingTask(rng, 1024, env); // parts.target: " QXZ, KDW, MEB, TOR, ZAL."
 * ```
 */
export function variableTrackingTask(rng: Rng, budget: number, env: BuildEnv): TaskParts {
  const names = distinct(VARIABLE_CHAINS * (VARIABLE_HOPS + 1), () => variableName(rng));
  const values = distinct(VARIABLE_CHAINS, () => sixDigits(rng));
  const chains = values.map((value, c) => {
    const chain = names.slice(c * (VARIABLE_HOPS + 1), (c + 1) * (VARIABLE_HOPS + 1));
    return chain.map((name, i) => assignment(name, i === 0 ? value : chain[i - 1]));
  });
  // A uniform random interleaving: take from a chain with probability proportional to what it has left.
  const next = chains.map(() => 0);
  const needles: string[] = [];
  for (let left = VARIABLE_CHAINS * (VARIABLE_HOPS + 1); left > 0; left--) {
    let r = rng.int(left);
    let c = 0;
    while (r >= chains[c].length - next[c]) {
      r -= chains[c].length - next[c];
      c++;
    }
    needles.push(chains[c][next[c]++]);
  }
  const answers = names.slice(0, VARIABLE_HOPS + 1);
  const question = variablesQuestion(values[0]);
  const answerPrefix = variablesAnswerPrefix(values[0]);
  const context = fillAround(rng, budget, env, { needles, question, answerPrefix });
  return { context, question, answerPrefix, answers, target: answerList(answers) };
}
