/** Budget tables in use: averaging over calibration pairs, their statistics, and per-head keep counts at run time. */

import {
  budgetRatios,
  type BudgetTable,
  checkBudgetTable,
  checkCompressionRatio,
  RATIO_COUNT,
} from "./tables.ts";

/**
 * Averages budget tables entry by entry (DESIGN.md 7.6): the profile of a calibration
 * set is the mean of its (sample, question) tables.
 *
 * @param tables one or more tables of the same `[99, L, H]` shape
 * @example
 * ```ts
 * const profile = averageBudgets(pairs.map((p) => solveBudgets(evictionCurves(p.oracle, p.scores, protection))));
 * ```
 */
export function averageBudgets(tables: readonly BudgetTable[]): BudgetTable {
  const [first] = checkSameShape(tables);
  const prune = new Float64Array(first.prune.length);
  for (const table of tables) {
    for (let i = 0; i < prune.length; i++) prune[i] += table.prune[i];
  }
  for (let i = 0; i < prune.length; i++) prune[i] /= tables.length;
  return { layers: first.layers, heads: first.heads, ratios: budgetRatios(), prune };
}

/** Statistics of one row of averaged budget tables. */
export interface RatioStats {
  /** The row's global compression ratio. */
  ratio: number;
  /** Mean, smallest and largest prune ratio over the heads of the averaged table. */
  meanPrune: number;
  /** Smallest prune ratio of a head. */
  minPrune: number;
  /** Largest prune ratio of a head. */
  maxPrune: number;
  /** Standard deviation across the tables of a head's prune ratio, averaged over heads (0 for one table). */
  pairStd: number;
}

/**
 * Per-ratio statistics of a set of budget tables: how unequal the heads' budgets are,
 * and how much they vary from one calibration pair to another.
 *
 * @returns 99 rows, one per ratio
 * @example
 * ```ts
 * const stats = budgetStats(tables);
 * console.log(stats[79]); // { ratio: 0.8, meanPrune: 0.8, minPrune: 0.12, maxPrune: 0.99, pairStd: 0.05 }
 * ```
 */
export function budgetStats(tables: readonly BudgetTable[]): RatioStats[] {
  const mean = averageBudgets(tables);
  const cells = mean.layers * mean.heads;
  return Array.from({ length: RATIO_COUNT }, (_, k) => {
    let sum = 0, min = Infinity, max = -Infinity, std = 0;
    for (let c = k * cells; c < (k + 1) * cells; c++) {
      const m = mean.prune[c];
      sum += m;
      min = Math.min(min, m);
      max = Math.max(max, m);
      let variance = 0;
      for (const table of tables) variance += (table.prune[c] - m) ** 2;
      std += Math.sqrt(variance / tables.length);
    }
    return {
      ratio: mean.ratios[k],
      meanPrune: sum / cells,
      minPrune: min,
      maxPrune: max,
      pairStd: std / cells,
    };
  });
}

/**
 * Turns a budget table into per-head keep counts for a context of `length` tokens at
 * global compression ratio `compressionRatio` (DESIGN.md 7.7).
 *
 * The row is `round(100 * ratio) - 1` (clamped to 0..98). Per layer, head `h` ideally
 * keeps `(1 - prune_h) * T`; the layer keeps `round(sum of ideals)` in all, every head
 * its floor, and the remainder goes one each to the heads with the largest fractional
 * parts (ties: lower head first). Counts are clamped to [1, T].
 *
 * @returns keep counts `[L * H]`, row-major `[L, H]`
 * @example
 * ```ts
 * const keep = keepCounts(profile.budgets, 0.8, 4096); // Int32Array, ~819 per head on average
 * ```
 */
export function keepCounts(table: BudgetTable, compressionRatio: number, length: number): Int32Array {
  checkBudgetTable(table);
  checkCompressionRatio(compressionRatio);
  if (!Number.isSafeInteger(length) || length <= 0) {
    throw new RangeError(`length must be a positive integer, got ${length}`);
  }
  if (compressionRatio === 0) return new Int32Array(table.layers * table.heads).fill(length);
  const { layers, heads, prune } = table;
  const row = Math.min(RATIO_COUNT - 1, Math.max(0, Math.round(100 * compressionRatio) - 1));
  const keep = new Int32Array(layers * heads);
  const ideal = new Float64Array(heads);
  const byFraction = Array.from({ length: heads }, (_, h) => h);
  for (let l = 0; l < layers; l++) {
    let sum = 0, floors = 0;
    for (let h = 0; h < heads; h++) {
      ideal[h] = (1 - prune[(row * layers + l) * heads + h]) * length;
      sum += ideal[h];
      floors += Math.floor(ideal[h]);
    }
    byFraction.sort((a, b) => (ideal[b] - Math.floor(ideal[b])) - (ideal[a] - Math.floor(ideal[a])) || a - b);
    const remainder = Math.round(sum) - floors;
    for (let rank = 0; rank < heads; rank++) {
      const h = byFraction[rank];
      const count = Math.floor(ideal[h]) + (rank < remainder ? 1 : 0);
      keep[l * heads + h] = Math.min(length, Math.max(1, count));
    }
  }
  return keep;
}

function checkSameShape(tables: readonly BudgetTable[]): readonly BudgetTable[] {
  if (tables.length === 0) throw new RangeError("need at least one budget table");
  for (const table of tables) checkBudgetTable(table);
  const { layers, heads } = tables[0];
  const other = tables.find((t) => t.layers !== layers || t.heads !== heads);
  if (other) {
    throw new RangeError(
      `budget tables differ in shape: [99, ${layers}, ${heads}] and [99, ${other.layers}, ${other.heads}]`,
    );
  }
  return tables;
}
