/** LU-KV tables as .npy: `[L, H, T]` oracle/score tables, and the published `[99, L, H]` curve format kvpress's `LUKVPress` reads. */

import { readNpy, writeNpy } from "./npy.ts";
import {
  budgetRatios,
  type BudgetTable,
  checkBudgetTable,
  checkHeadTable,
  type HeadTable,
  RATIO_COUNT,
} from "./tables.ts";

/**
 * Reads an oracle or score table from `.npy` bytes of shape `[num_layers,
 * num_kv_heads, T]` (float32 or float64, C order), as the official release saves them.
 *
 * @param what names the table in errors, e.g. the file name
 * @example
 * ```ts
 * const oracle = readHeadTableNpy(await Deno.readFile("oracle.npy"), "oracle.npy");
 * ```
 */
export function readHeadTableNpy(bytes: Uint8Array, what = "table"): HeadTable {
  const { shape, data } = readNpy(bytes);
  if (shape.length !== 3) {
    throw new RangeError(`${what}: expected shape [num_layers, num_kv_heads, T], got [${shape.join(", ")}]`);
  }
  const table = { layers: shape[0], heads: shape[1], length: shape[2], data };
  checkHeadTable(table, what);
  return table;
}

/**
 * Writes an `[L, H, T]` table as `.npy` bytes in its own dtype.
 *
 * @example
 * ```ts
 * await Deno.writeFile("scores.npy", writeHeadTableNpy(scores));
 * ```
 */
export function writeHeadTableNpy(table: HeadTable): Uint8Array {
  checkHeadTable(table, "table");
  return writeNpy({ shape: [table.layers, table.heads, table.length], data: table.data });
}

/**
 * Reads a budget table from `.npy` bytes: shape `[99, num_layers, num_kv_heads]`,
 * float32 or float64, C order, every value in [0, 1]. Anything else is a RangeError
 * that says what was found.
 *
 * @example
 * ```ts
 * const table = readBudgetNpy(await Deno.readFile("llama-3.1-8b_snapkv.npy"));
 * ```
 */
export function readBudgetNpy(bytes: Uint8Array): BudgetTable {
  const { shape, data } = readNpy(bytes);
  if (shape.length !== 3 || shape[0] !== RATIO_COUNT) {
    throw new RangeError(
      `a budget .npy has shape [${RATIO_COUNT}, num_layers, num_kv_heads]; this one is [${shape.join(", ")}]`,
    );
  }
  const table = { layers: shape[1], heads: shape[2], ratios: budgetRatios(), prune: Float64Array.from(data) };
  checkBudgetTable(table);
  return table;
}

/**
 * Writes a budget table as `.npy` bytes of shape `[99, L, H]` (float64 unless
 * `dtype: "float32"` is asked for, to match a published file's size).
 *
 * @example
 * ```ts
 * await Deno.writeFile("profile.npy", writeBudgetNpy(table));
 * ```
 */
export function writeBudgetNpy(
  table: BudgetTable,
  options: { dtype?: "float32" | "float64" } = {},
): Uint8Array {
  checkBudgetTable(table);
  const { dtype = "float64" } = options;
  if (dtype !== "float32" && dtype !== "float64") {
    throw new RangeError(`dtype must be "float32" or "float64", got ${JSON.stringify(dtype)}`);
  }
  const data = dtype === "float32" ? Float32Array.from(table.prune) : table.prune;
  return writeNpy({ shape: [RATIO_COUNT, table.layers, table.heads], data });
}
