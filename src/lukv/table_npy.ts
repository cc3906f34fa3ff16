/** LU-KV tables as .npy: `[L, H, T]` oracle/score tables, and the published `[99, L, H]` curve format kvpress's `LUKVPress` reads. */

import { npyFormatError, readNpy, writeNpy } from "./npy.ts";
import {
  budgetRatios,
  type BudgetTable,
  checkBudgetTable,
  checkHeadTable,
  type HeadTable,
  RATIO_COUNT,
} from "./tables.ts";

/** Extents of a table read from a file: positive integers, else the file is malformed. */
function checkExtents(op: string, name: string | undefined, shape: number[], expected: string): void {
  if (shape.some((n) => n <= 0)) {
    throw npyFormatError(op, name, `shape [${shape.join(", ")}] of ${expected} must hold positive integers`);
  }
}

/**
 * Reads an oracle or score table from `.npy` bytes of shape `[num_layers,
 * num_kv_heads, T]` (float32 or float64, C order), as the official release saves them.
 * A malformed file, another shape, an empty extent or a value the table cannot hold (NaN,
 * ±Infinity; a negative oracle utility) is a `LukvError` with code FORMAT naming
 * `options.name` and, for a value, its `[l, h, j]` index.
 *
 * @param options `name`: the file name (or another label) every error message starts
 *   with; `kind`: what the table holds, which sets the values it accepts: `"oracle"`
 *   utilities are finite and >= 0, `"scores"` (and a table of unstated kind) finite, of any sign
 * @example
 * ```ts
 * const path = "oracle.npy";
 * const oracle = readHeadTableNpy(await Deno.readFile(path), { name: path, kind: "oracle" }); // [L, H, T]
 * ```
 */
export function readHeadTableNpy(
  bytes: Uint8Array,
  options: { name?: string; kind?: "oracle" | "scores" } = {},
): HeadTable {
  if (typeof options !== "object" || options === null) {
    // The second argument was once the table's name as a string; say so rather than drop it.
    throw new TypeError(`options must be { name?, kind? }, got ${JSON.stringify(options)}`);
  }
  const { name, kind } = options;
  if (kind !== undefined && kind !== "oracle" && kind !== "scores") {
    throw new TypeError(`kind must be "oracle" or "scores", got ${JSON.stringify(kind)}`);
  }
  const { shape, data } = readNpy(bytes, { name });
  const op = "readHeadTableNpy";
  if (shape.length !== 3) {
    throw npyFormatError(op, name, `expected shape [num_layers, num_kv_heads, T], got [${shape.join(", ")}]`);
  }
  checkExtents(op, name, shape, "[num_layers, num_kv_heads, T]");
  const nonNegative = kind === "oracle";
  const bad = firstInvalid(data, nonNegative);
  if (bad >= 0) {
    const [heads, length] = [shape[1], shape[2]];
    const index = [Math.floor(bad / (heads * length)), Math.floor(bad / length) % heads, bad % length];
    const rule = kind === "oracle"
      ? "oracle utilities must be finite and >= 0"
      : kind === "scores"
      ? "scores must be finite"
      : "values must be finite";
    throw npyFormatError(op, name, `value [${index.join(", ")}] is ${data[bad]}; ${rule}`);
  }
  return { layers: shape[0], heads: shape[1], length: shape[2], data };
}

/**
 * The index of the first NaN or infinite value (or negative one, with `nonNegative`), or
 * -1: a plain loop, since `findIndex` with a callback costs ~20 ms on a 32 x 8 x 4096 table.
 */
function firstInvalid(data: Float32Array | Float64Array, nonNegative: boolean): number {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v) || (nonNegative && v < 0)) return i;
  }
  return -1;
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
 * float32 or float64, C order, every value a prune ratio in [0, 1]. A malformed file,
 * another shape or a value outside [0, 1] (NaN and ±Infinity included) is a `LukvError`
 * with code FORMAT naming `options.name` and, for a value, its `[k, l, h]` index.
 *
 * @param options `name`: the file name (or another label) every error message starts with
 * @example
 * ```ts
 * const path = "llama-3.1-8b_snapkv.npy";
 * const table = readBudgetNpy(await Deno.readFile(path), { name: path }); // prune [99 * L * H]
 * ```
 */
export function readBudgetNpy(bytes: Uint8Array, options: { name?: string } = {}): BudgetTable {
  const { name } = options;
  const { shape, data } = readNpy(bytes, { name });
  const op = "readBudgetNpy";
  if (shape.length !== 3 || shape[0] !== RATIO_COUNT) {
    throw npyFormatError(
      op,
      name,
      `a budget .npy has shape [${RATIO_COUNT}, num_layers, num_kv_heads]; this one is [${shape.join(", ")}]`,
    );
  }
  checkExtents(op, name, shape, `[${RATIO_COUNT}, num_layers, num_kv_heads]`);
  const [layers, heads] = [shape[1], shape[2]];
  const bad = data.findIndex((p) => !(p >= 0 && p <= 1));
  if (bad >= 0) {
    const index = [Math.floor(bad / (layers * heads)), Math.floor(bad / heads) % layers, bad % heads];
    throw npyFormatError(
      op,
      name,
      `prune ratio [${index.join(", ")}] is ${data[bad]}; prune ratios lie in [0, 1]`,
    );
  }
  return { layers, heads, ratios: budgetRatios(), prune: Float64Array.from(data) };
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
