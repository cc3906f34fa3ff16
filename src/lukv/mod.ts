/**
 * The LU-KV core alone: eviction curves, the budget solver, budgets and runtime keep
 * counts, profiles and the `.npy` formats. Pure TypeScript: it loads no native library
 * and needs no permissions, so budgets can be allocated from curves anywhere.
 *
 * @example
 * ```ts
 * import { evictionCurves, keepCounts, readHeadTableNpy, solveBudgets } from "@lukv/lukv/lukv";
 *
 * const oracle = readHeadTableNpy(await Deno.readFile("oracle.npy")); // [L, H, T]
 * const scores = readHeadTableNpy(await Deno.readFile("scores.npy"));
 * const budgets = solveBudgets(evictionCurves(oracle, scores, { sink: 4, window: 32 }));
 * const keep = keepCounts(budgets, 0.8, 8192); // Int32Array [L * H]
 * ```
 *
 * @module
 */

export { averageBudgets, budgetStats, keepCounts, type RatioStats } from "./budgets.ts";
export { type EvictionCurves, evictionCurves, type Protection } from "./curves.ts";
export { type NpyArray, readNpy, writeNpy } from "./npy.ts";
export { type Profile, PROFILE_VERSION, readProfile, uniformProfile, writeProfile } from "./profile.ts";
export { solveBudgets, type SolveOptions } from "./solver.ts";
export { readBudgetNpy, readHeadTableNpy, writeBudgetNpy, writeHeadTableNpy } from "./table_npy.ts";
export {
  budgetRatios,
  type BudgetTable,
  checkBudgetTable,
  checkCompressionRatio,
  checkHeadTable,
  type HeadTable,
  RATIO_COUNT,
} from "./tables.ts";
