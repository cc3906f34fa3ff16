/**
 * The segment solver against the token-by-token heap reference, same curves, Llama-3.1-8B
 * shape (32 layers x 8 KV heads) at T = 4096 and T = 32768. Each group reads as "x times
 * faster than the heap"; the outputs are checked equal before timing.
 *
 * ```sh
 * deno bench --allow-read bench/solver.bench.ts
 * ```
 */

import { isDeepStrictEqual } from "node:util";
import { evictionCurves } from "../src/lukv/curves.ts";
import { solveBudgets } from "../src/lukv/solver.ts";
import { solveBudgetsByToken } from "../tests/lukv/heap_solver.ts";
import { randomInstance } from "../tests/lukv/instances.ts";

for (const length of [4096, 32768]) {
  const { oracle, scores } = randomInstance(length, 32, 8, length);
  const curves = evictionCurves(oracle, scores, { sink: 4, window: 32 });
  if (!isDeepStrictEqual(solveBudgets(curves), solveBudgetsByToken(curves))) {
    throw new Error(`T = ${length}: the segment solver and the heap reference disagree`);
  }
  const group = `solve 32 x 8 heads, T = ${length} (${curves.slopes.length} hull segments)`;
  const slow = length > 8192 ? { n: 3, warmup: 1 } : {};
  Deno.bench(`token-by-token heap, T = ${length}`, { group, baseline: true, ...slow }, () => {
    solveBudgetsByToken(curves);
  });
  Deno.bench(`hull segments, T = ${length}`, { group }, () => {
    solveBudgets(curves);
  });
}
