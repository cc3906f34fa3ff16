/** Seeded random oracle/score tables for the solver's tests and benchmarks, with or without many exact ties. */

import type { HeadTable } from "../../src/lukv/tables.ts";
import { random } from "../backend/reference.ts";

/**
 * A random (oracle, scores) pair shaped `[layers, heads, length]`. Oracle values are
 * heavy-tailed (most tokens nearly useless, a few carry the mass, as in real heads)
 * and the scores follow them noisily. With `ties`, both are quantised to a handful of
 * values and a third of the oracle is exactly zero, so equal costs and equal scores
 * abound.
 *
 * @example
 * ```ts
 * const { oracle, scores } = randomInstance(7, 32, 8, 2048);
 * ```
 */
export function randomInstance(
  seed: number,
  layers: number,
  heads: number,
  length: number,
  ties = false,
): { oracle: HeadTable; scores: HeadTable } {
  const rand = random(seed);
  const n = layers * heads * length;
  const oracle = new Float32Array(n), scores = new Float32Array(n);
  for (let head = 0; head < layers * heads; head++) {
    const peak = 1 + 8 * rand(); // heads differ in how concentrated their utility is
    for (let j = head * length; j < (head + 1) * length; j++) {
      const u = rand() ** peak;
      oracle[j] = ties ? (rand() < 1 / 3 ? 0 : Math.round(u * 4) / 4) : u;
      const s = u + 0.3 * (rand() - 0.5);
      scores[j] = ties ? Math.round(s * 3) / 3 : s;
    }
  }
  return { oracle: { layers, heads, length, data: oracle }, scores: { layers, heads, length, data: scores } };
}
