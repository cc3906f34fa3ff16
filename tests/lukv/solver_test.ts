/** The segment solver: exact against dynamic programming on small instances and against the token-by-token heap on large ones. */

import assert from "node:assert/strict";
import { evictionCurves } from "../../src/lukv/curves.ts";
import { solveBudgets } from "../../src/lukv/solver.ts";
import type { BudgetTable } from "../../src/lukv/tables.ts";
import { freshSeed, random } from "../backend/reference.ts";
import { bruteHull, cumulativeLoss } from "./brute.ts";
import { solveBudgetsByToken } from "./heap_solver.ts";
import { randomInstance } from "./instances.ts";

/** Evictions per head in row k: T - keep, with keep recovered from the prune ratio. */
function evictedAt(table: BudgetTable, k: number, length: number): number[] {
  const cells = table.layers * table.heads;
  return Array.from(
    table.prune.subarray(k * cells, (k + 1) * cells),
    (p) => length - Math.round((1 - p) * length),
  );
}

/** min over e (sum e = total, 0 <= e_h <= cap) of sum f_h(e_h), by dynamic programming over heads. */
function dpMinimum(costs: number[][], cap: number, total: number): number {
  let best = [0];
  for (const f of costs) {
    const next = new Array(best.length + cap).fill(Infinity);
    best.forEach((b, t) => {
      for (let e = 0; e <= cap; e++) next[t + e] = Math.min(next[t + e], b + f[e]);
    });
    best = next;
  }
  return best[total];
}

Deno.test("on small instances the greedy is optimal on the convexified curves, and near-optimal on the originals", () => {
  const rand = random(2602);
  let rows = 0, suboptimalRows = 0, gapSum = 0, worstMassGap = 0;
  for (let instance = 0; instance < 60; instance++) {
    const layers = 1 + Math.floor(rand() * 2), heads = 2 + Math.floor(rand() * 2);
    const length = 6 + Math.floor(rand() * 7);
    const sink = Math.floor(rand() * 3), window = Math.floor(rand() * 3);
    const minKeepFraction = rand() < 0.5 ? 0.01 : 0.3;
    const { oracle, scores } = randomInstance(instance, layers, heads, length, instance % 3 === 0);
    const curves = evictionCurves(oracle, scores, { sink, window });
    const cum = Array.from({ length: layers * heads }, (_, head) => {
      const span = (d: Float32Array | Float64Array) => d.subarray(head * length, (head + 1) * length);
      return cumulativeLoss(span(oracle.data), span(scores.data), sink, window);
    });
    const hull = cum.map(bruteHull);
    const cap = Math.max(0, length - Math.max(Math.round(minKeepFraction * length), sink + window));
    for (const scope of ["global", "layer"] as const) {
      const table = solveBudgets(curves, { scope, minKeepFraction });
      const groups = scope === "global" ? [[0, layers * heads]] : Array.from(
        { length: layers },
        (_, l) => [l * heads, (l + 1) * heads],
      );
      for (let k = 0; k < 99; k++) {
        const evicted = evictedAt(table, k, length);
        for (const [first, end] of groups) {
          const heads = Array.from({ length: end - first }, (_, i) => first + i);
          const total = heads.reduce((sum, h) => sum + evicted[h], 0);
          const target = Math.round(((k + 1) * heads.length * length) / 100);
          assert.equal(total, Math.min(target, heads.length * cap), `instance ${instance} ${scope} row ${k}`);
          const convex = heads.reduce((sum, h) => sum + hull[h][evicted[h]], 0);
          const convexBest = dpMinimum(heads.map((h) => hull[h]), cap, total);
          assert.ok(
            Math.abs(convex - convexBest) <= 1e-9 * (1 + convexBest),
            `${convex} vs DP ${convexBest}`,
          );
          const original = heads.reduce((sum, h) => sum + cum[h][evicted[h]], 0);
          const originalBest = dpMinimum(heads.map((h) => cum[h]), cap, total);
          assert.ok(convexBest <= originalBest + 1e-12 && originalBest <= original + 1e-12);
          const mass = heads.reduce((sum, h) => sum + cum[h][cum[h].length - 1], 0);
          rows++;
          if (original > originalBest + 1e-12) suboptimalRows++;
          gapSum += (original - originalBest) / Math.max(originalBest, 1e-12);
          worstMassGap = Math.max(worstMassGap, (original - originalBest) / mass);
        }
      }
    }
  }
  console.log(
    `greedy vs exact DP on the original curves: ${suboptimalRows}/${rows} rows above optimum, ` +
      `mean relative gap ${(gapSum / rows).toExponential(2)}, ` +
      `worst gap ${(100 * worstMassGap).toFixed(2)}% of the evictable oracle mass`,
  );
});

Deno.test("at Llama-3.1-8B shape (32 x 8 heads, T = 2048) the segment solver equals the token-by-token heap", () => {
  const seeds = [1, 2, freshSeed()];
  for (const seed of seeds) {
    for (const ties of [false, true]) {
      const { oracle, scores } = randomInstance(seed, 32, 8, 2048, ties);
      const curves = evictionCurves(oracle, scores, { sink: 4, window: 32 });
      for (const scope of ["global", "layer"] as const) {
        for (const minKeepFraction of [0.01, 0.25]) {
          const options = { scope, minKeepFraction };
          const fast = solveBudgets(curves, options), reference = solveBudgetsByToken(curves, options);
          assert.deepEqual(
            fast,
            reference,
            `seed ${seed}, ties ${ties}, ${scope}, minKeep ${minKeepFraction}`,
          );
        }
      }
    }
  }
});

Deno.test("keep counts never grow with the ratio, and the evicted total meets the target exactly", () => {
  const length = 512, layers = 4, heads = 4, sink = 4, window = 16;
  const { oracle, scores } = randomInstance(77, layers, heads, length, true);
  const table = solveBudgets(evictionCurves(oracle, scores, { sink, window }));
  const cap = length - Math.max(Math.round(0.01 * length), sink + window);
  let previous = new Array(layers * heads).fill(0);
  for (let k = 0; k < 99; k++) {
    const evicted = evictedAt(table, k, length);
    evicted.forEach((e, h) => assert.ok(e >= previous[h], `head ${h} kept more at row ${k}`));
    const total = evicted.reduce((a, b) => a + b, 0);
    assert.equal(
      total,
      Math.min(Math.round(((k + 1) * layers * heads * length) / 100), layers * heads * cap),
    );
    previous = evicted;
  }
  assert.ok(previous.every((e) => e === cap), "at 99% every head sits at its minimum keep");
});

Deno.test("solver options and hand-made curves are validated", () => {
  const curves = evictionCurves(
    { layers: 1, heads: 1, length: 4, data: new Float64Array([1, 2, 3, 4]) },
    { layers: 1, heads: 1, length: 4, data: new Float64Array([4, 3, 2, 1]) },
    { sink: 0, window: 0 },
  );
  assert.throws(
    () => solveBudgets(curves, { scope: "model" as "global" }),
    /scope must be "global" or "layer"/,
  );
  assert.throws(() => solveBudgets(curves, { minKeepFraction: 1.5 }), /minKeepFraction must lie in \[0, 1\]/);
  assert.throws(() => solveBudgets(curves, { minKeepFraction: NaN }), /minKeepFraction/);
  const concave = { ...curves, slopes: Float64Array.from(curves.slopes).reverse() };
  if (curves.slopes.length > 1) assert.throws(() => solveBudgets(concave), /not convex/);
  assert.throws(() => solveBudgets({ ...curves, lengths: new Int32Array([1]) }), /do not line up|covers/);
});
