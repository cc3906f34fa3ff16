/** The two table shapes of LU-KV: per-token values of every head, and per-head prune ratios per ratio. */

import { LukvError, STATUS } from "../backend/errors.ts";

/** Number of compression ratios a budget table holds: 1%, 2%, ..., 99%. */
export const RATIO_COUNT = 99;

/**
 * A value per (layer, KV head, context token): oracle utilities or scorer scores.
 *
 * Shape `[layers, heads, length]`, row-major: entry `(l, h, j)` is
 * `data[(l * heads + h) * length + j]`.
 *
 * @example
 * ```ts
 * const scores: HeadTable = { layers: 2, heads: 4, length: 128, data: new Float32Array(2 * 4 * 128) };
 * ```
 */
export interface HeadTable {
  /** Decoder layers `L`. */
  layers: number;
  /** KV heads per layer `H`. */
  heads: number;
  /** Context tokens `T`. */
  length: number;
  /** `L * H * T` values, row-major `[L, H, T]`. */
  data: Float32Array | Float64Array;
}

/**
 * Per-head prune ratios for each global compression ratio 1% .. 99%: the published
 * LU-KV budget-curve format (kvpress's `LUKVPress` reads it as a `[99, L, H]` .npy).
 *
 * `prune[(k * layers + l) * heads + h]` is the fraction of head `(l, h)`'s tokens
 * removed when the whole cache is compressed by `ratios[k] = (k + 1) / 100`.
 *
 * @example
 * ```ts
 * const table = solveBudgets(evictionCurves(oracle, scores, { sink: 4, window: 32 }));
 * const pruneAt50 = table.prune.subarray(49 * table.layers * table.heads, 50 * table.layers * table.heads);
 * ```
 */
export interface BudgetTable {
  /** Decoder layers `L`. */
  layers: number;
  /** KV heads per layer `H`. */
  heads: number;
  /** The 99 compression ratios of the rows: 0.01, 0.02, ..., 0.99. */
  ratios: Float64Array;
  /** Prune ratios in [0, 1], row-major `[99, L, H]`. */
  prune: Float64Array;
}

/**
 * The 99 row ratios 0.01 .. 0.99 of every budget table.
 *
 * @example
 * ```ts
 * budgetRatios()[49]; // 0.5
 * ```
 */
export function budgetRatios(): Float64Array {
  return Float64Array.from({ length: RATIO_COUNT }, (_, k) => (k + 1) / 100);
}

/**
 * Checks that a head table's extents are positive integers and match its data; throws
 * a RangeError naming `what` otherwise.
 *
 * @example
 * ```ts
 * checkHeadTable(oracle, "oracle");
 * ```
 */
export function checkHeadTable(table: HeadTable, what: string): void {
  const { layers, heads, length, data } = table;
  for (const [name, value] of [["layers", layers], ["heads", heads], ["length", length]] as const) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new RangeError(`${what}.${name} must be a positive integer, got ${value}`);
    }
  }
  if (!(data instanceof Float32Array || data instanceof Float64Array)) {
    throw new TypeError(`${what}.data must be a Float32Array or Float64Array`);
  }
  if (data.length !== layers * heads * length) {
    throw new RangeError(
      `${what} holds ${data.length} values but its shape [${layers}, ${heads}, ${length}] needs ${
        layers * heads * length
      }`,
    );
  }
}

/**
 * Checks a budget table: positive extents, 99 ratios, `99 * L * H` prune ratios, each
 * finite and within [0, 1]. Throws a RangeError naming the first bad entry.
 *
 * @example
 * ```ts
 * checkBudgetTable(readBudgetNpy(bytes));
 * ```
 */
export function checkBudgetTable(table: BudgetTable): void {
  const { layers, heads, ratios, prune } = table;
  if (!Number.isSafeInteger(layers) || layers <= 0 || !Number.isSafeInteger(heads) || heads <= 0) {
    throw new RangeError(`budget table extents must be positive integers, got [${layers}, ${heads}]`);
  }
  if (ratios.length !== RATIO_COUNT) {
    throw new RangeError(`budget table must have ${RATIO_COUNT} ratios, got ${ratios.length}`);
  }
  if (prune.length !== RATIO_COUNT * layers * heads) {
    throw new RangeError(
      `budget table holds ${prune.length} prune ratios but [${RATIO_COUNT}, ${layers}, ${heads}] needs ${
        RATIO_COUNT * layers * heads
      }`,
    );
  }
  const bad = prune.findIndex((p) => !(p >= 0 && p <= 1));
  if (bad >= 0) {
    const k = Math.floor(bad / (layers * heads)), l = Math.floor(bad / heads) % layers, h = bad % heads;
    throw new RangeError(`prune ratio [${k}, ${l}, ${h}] is ${prune[bad]}; prune ratios lie in [0, 1]`);
  }
}

/**
 * Checks a global compression ratio (the fraction of KV pairs removed): it must lie in
 * [0, 1), 0 keeping everything. The one ratio check of lukv (presses, allocators,
 * budgets, the harness); anything else, NaN included, is a LukvError (INVALID_ARGUMENT).
 *
 * @example
 * ```ts
 * checkCompressionRatio(0.8);
 * ```
 */
export function checkCompressionRatio(ratio: number): void {
  if (!(ratio >= 0 && ratio < 1)) {
    throw new LukvError(
      "lukv",
      STATUS.INVALID_ARGUMENT,
      `compression ratio must lie in [0, 1), got ${ratio}`,
    );
  }
}
