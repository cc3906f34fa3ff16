/** The radix eviction order against a plain comparator sort: ties, signed zeros, negatives, extremes, one value. */

import assert from "node:assert/strict";
import { evictionOrderFor } from "../../src/lukv/eviction_order.ts";
import { random } from "../backend/reference.ts";

/** DESIGN.md 7.3's order, reversed, by a comparator: ascending score, equal scores the later position first. */
function byComparator(scores: ArrayLike<number>, base: number, n: number): number[] {
  return Array.from({ length: n }, (_, r) => r).sort((a, b) => scores[base + a] - scores[base + b] || b - a);
}

Deno.test("the radix order equals the comparator's on float32 scores of every kind", () => {
  const rand = random(23);
  const specials = [-0, 0, -1e-45, 1e-45, -3.4e38, 3.4e38, 1, -1, 0.5, 0.25, 2 ** -126];
  const kinds: [string, () => number][] = [
    ["uniform", () => rand() * 2 - 1],
    ["few values", () => Math.round(rand() * 4) / 4 - 0.5],
    ["specials", () => specials[Math.floor(rand() * specials.length)]],
    ["wide exponents", () => (rand() - 0.5) * 2 ** Math.floor(rand() * 200 - 100)],
    ["all equal", () => 0.3],
  ];
  for (const [name, draw] of kinds) {
    for (const n of [1, 2, 7, 300, 5000]) {
      const base = 3, scores = Float32Array.from({ length: base + n + 2 }, draw);
      const order = evictionOrderFor(scores, n);
      assert.deepEqual(Array.from(order(base)), byComparator(scores, base, n), `${name}, n = ${n}`);
      // The same orderer again on another head gives that head's order (its buffers are reused).
      assert.deepEqual(
        Array.from(order(base + 1)),
        byComparator(scores, base + 1, n),
        `${name}, n = ${n}, again`,
      );
    }
  }
});

Deno.test("float64 scores use the radix order when they are float32 exactly, the comparator otherwise", () => {
  const rand = random(24);
  const n = 500;
  const exact = Float64Array.from({ length: n }, () => Math.fround(Math.round(rand() * 50) / 7));
  const inexact = Float64Array.from(exact, (x, i) => (i % 3 === 0 ? x + 1e-12 : x));
  for (const scores of [exact, inexact]) {
    assert.deepEqual(Array.from(evictionOrderFor(scores, n)(0)), byComparator(scores, 0, n));
  }
});
