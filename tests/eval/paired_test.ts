/** The paired comparison: exact sign-test p-values against Python's exact sums, and wins/losses counted per shared sample. */

import assert from "node:assert/strict";
import { pairedComparison, signTestPValue } from "../../src/eval/paired.ts";
import type { EvalCell } from "../../src/eval/results.ts";

Deno.test("signTestPValue is the exact two-sided binomial tail", () => {
  assert.equal(signTestPValue(5, 0), 0.0625);
  assert.equal(signTestPValue(0, 5), 0.0625);
  assert.equal(signTestPValue(3, 3), 1);
  assert.equal(signTestPValue(0, 0), 1);
  assert.equal(signTestPValue(2, 1), 1); // 2 * P(X <= 1 | n = 3) = 1
  // 2 * sum_{i<=3} C(22, i) / 2^22 and 2 * sum_{i<=330} C(700, i) / 2^700, from Python's math.comb.
  assert.ok(Math.abs(signTestPValue(19, 3) - 0.0008554458618164062) < 1e-15);
  assert.ok(Math.abs(signTestPValue(370, 330) - 0.14040966247555184) < 1e-12);
  assert.throws(() => signTestPValue(-1, 2), RangeError);
  assert.throws(() => signTestPValue(1.5, 2), RangeError);
});

function cell(task: string, sample: number, press: string, ratio: number, correct: boolean): EvalCell {
  return { task, sample, press, ratio, correct } as EvalCell;
}

Deno.test("pairedComparison counts discordant samples shared by both presses, per ratio and task", () => {
  const cells = [
    cell("a", 0, "lukv", 0.8, true),
    cell("a", 0, "snapkv", 0.8, false), // win
    cell("a", 1, "lukv", 0.8, false),
    cell("a", 1, "snapkv", 0.8, true), // loss
    cell("b", 0, "lukv", 0.8, true),
    cell("b", 0, "snapkv", 0.8, false), // win: same index, another task
    cell("b", 1, "lukv", 0.8, true),
    cell("b", 1, "snapkv", 0.8, true), // tie
    cell("b", 2, "lukv", 0.8, true), // snapkv never ran it: not a pair
    cell("a", 0, "snapkv", 0.5, true), // another ratio
  ];
  assert.deepEqual(pairedComparison(cells, "lukv", "snapkv", 0.8), {
    wins: 2,
    losses: 1,
    pairs: 4,
    pValue: 1,
  });
  assert.deepEqual(pairedComparison(cells, "snapkv", "lukv", 0.8, "a"), {
    wins: 1,
    losses: 1,
    pairs: 2,
    pValue: 1,
  });
  assert.equal(pairedComparison(cells, "lukv", "snapkv", 0.5).pairs, 0);
});
