/**
 * Paired comparison of two presses on the same samples. Every press answers every sample
 * from the same prefilled context, so the fair question is not "which accuracy is higher"
 * but "on the samples where they disagree, which one is right": an exact McNemar (sign)
 * test on the discordant pairs.
 *
 * @module
 */

import type { EvalCell } from "./results.ts";

/** Discordant pairs of press A against press B and the sign test's two-sided p-value. */
export interface PairedComparison {
  /** Samples that A answers and B does not. */
  wins: number;
  /** Samples that B answers and A does not. */
  losses: number;
  /** Samples both presses were run on. */
  pairs: number;
  /** Exact two-sided p-value of wins vs losses under "each is equally likely" (1 when none differ). */
  pValue: number;
}

/**
 * Exact two-sided sign-test p-value: the chance, under Binomial(wins + losses, 1/2), of a
 * split at least as uneven as this one. Computed in log space so it stays exact in
 * double precision for thousands of pairs.
 *
 * @example
 * ```ts
 * signTestPValue(5, 0); // 0.0625
 * signTestPValue(3, 3); // 1
 * ```
 */
export function signTestPValue(wins: number, losses: number): number {
  if (!Number.isSafeInteger(wins) || !Number.isSafeInteger(losses) || wins < 0 || losses < 0) {
    throw new RangeError(`sign test needs counts >= 0, got ${wins} and ${losses}`);
  }
  const n = wins + losses, k = Math.min(wins, losses);
  if (n === 0 || 2 * k === n) return 1;
  // log C(n, i) - n log 2, accumulated from i = 0 upwards.
  let logTerm = -n * Math.LN2, tail = 0;
  for (let i = 0; i <= k; i++) {
    if (i > 0) logTerm += Math.log((n - i + 1) / i);
    tail += Math.exp(logTerm);
  }
  return Math.min(1, 2 * tail);
}

/**
 * Compares press `a` with press `b` at one ratio on the samples both were run on (pooled
 * over tasks, or one task when given). A sample is identified by (task, sample index).
 *
 * @example
 * ```ts
 * const { wins, losses, pValue } = pairedComparison(cells, "lukv-snapkv", "adakv", 0.8);
 * ```
 */
export function pairedComparison(
  cells: readonly EvalCell[],
  a: string,
  b: string,
  ratio: number,
  task?: string,
): PairedComparison {
  const answered = (press: string) => {
    const out = new Map<string, boolean>();
    for (const c of cells) {
      if (c.press === press && c.ratio === ratio && (task === undefined || c.task === task)) {
        out.set(`${c.task}\t${c.sample}`, c.correct);
      }
    }
    return out;
  };
  const mine = answered(a), theirs = answered(b);
  let wins = 0, losses = 0, pairs = 0;
  for (const [key, correct] of mine) {
    const other = theirs.get(key);
    if (other === undefined) continue;
    pairs++;
    if (correct && !other) wins++;
    if (other && !correct) losses++;
  }
  return { wins, losses, pairs, pValue: signTestPValue(wins, losses) };
}
