/** Budget tables in use: averaging, statistics, run-time keep counts, the .npy curve format and JSON profiles. */

import assert from "node:assert/strict";
import { LukvError, STATUS } from "../../src/backend/errors.ts";
import { readBudgetNpy, writeBudgetNpy } from "../../src/lukv/table_npy.ts";
import { averageBudgets, budgetStats, keepCounts } from "../../src/lukv/budgets.ts";
import { evictionCurves } from "../../src/lukv/curves.ts";
import { writeNpy } from "../../src/lukv/npy.ts";
import { type Profile, readProfile, writeProfile } from "../../src/lukv/profile.ts";
import { solveBudgets } from "../../src/lukv/solver.ts";
import { budgetRatios, type BudgetTable } from "../../src/lukv/tables.ts";
import { randomInstance } from "./instances.ts";

/** A [99, L, H] table whose every row holds `row` (cycled over the heads). */
function constantTable(layers: number, heads: number, row: number[]): BudgetTable {
  const prune = new Float64Array(99 * layers * heads).map((_, i) => row[i % row.length]);
  return { layers, heads, ratios: budgetRatios(), prune };
}

function solvedTable(seed: number): BudgetTable {
  const { oracle, scores } = randomInstance(seed, 3, 2, 256);
  return solveBudgets(evictionCurves(oracle, scores, { sink: 2, window: 8 }));
}

Deno.test("averageBudgets is the entry-wise mean and refuses tables of different shapes", () => {
  const a = constantTable(1, 2, [0.2, 0.4]), b = constantTable(1, 2, [0.6, 0.8]);
  const mean = averageBudgets([a, b]);
  assert.deepEqual([...mean.prune.subarray(0, 2)].map((v) => +v.toFixed(12)), [0.4, 0.6]);
  assert.equal(mean.ratios[98], 0.99);
  assert.throws(() => averageBudgets([]), /at least one/);
  assert.throws(
    () => averageBudgets([a, constantTable(2, 1, [0.5])]),
    /differ in shape: \[99, 1, 2\] and \[99, 2, 1\]/,
  );
});

Deno.test("budgetStats reports the spread across heads and across pairs", () => {
  const stats = budgetStats([constantTable(1, 2, [0.2, 0.4]), constantTable(1, 2, [0.4, 0.6])]);
  assert.equal(stats.length, 99);
  const { ratio, meanPrune, minPrune, maxPrune, pairStd } = stats[49];
  assert.equal(ratio, 0.5);
  assert.ok(
    Math.abs(meanPrune - 0.4) < 1e-12 && Math.abs(minPrune - 0.3) < 1e-12 && Math.abs(maxPrune - 0.5) < 1e-12,
  );
  assert.ok(Math.abs(pairStd - 0.1) < 1e-12);
  const solved = budgetStats([solvedTable(3)]);
  solved.forEach((row) =>
    assert.ok(Math.abs(row.meanPrune - row.ratio) < 0.011 || row.ratio > 0.9, `${row.ratio}`)
  );
});

Deno.test("keepCounts follows the rounding rule: floors, then the largest fractions, lower head on ties", () => {
  // Row 49 (ratio 0.5). T = 10: ideals 7.5, 2.5, 5.6, 4.4 -> layer total round(20) = 20,
  // floors 7 + 2 + 5 + 4 = 18, the two largest fractions are 0.6 (head 2) then 0.5
  // (heads 0 and 1 tie: head 0 wins).
  const table = constantTable(1, 4, [0.25, 0.75, 0.44, 0.56]);
  assert.deepEqual([...keepCounts(table, 0.5, 10)], [8, 2, 6, 4]);
  // Rows are picked by round(100 * ratio) - 1, clamped to 0..98.
  const rows = constantTable(1, 1, [0]);
  rows.prune.set([0.9], 0);
  rows.prune.set([0.1], 98);
  assert.deepEqual([...keepCounts(rows, 0.001, 100)], [10]);
  assert.deepEqual([...keepCounts(rows, 0.999, 100)], [90]);
  // Counts are clamped to [1, T]; each layer's total is round(sum of ideals).
  assert.deepEqual([...keepCounts(constantTable(1, 2, [1, 1]), 0.5, 7)], [1, 1]);
  const solved = solvedTable(4);
  for (const ratio of [0.1, 0.5, 0.8]) {
    const keep = keepCounts(solved, ratio, 4096);
    const kept = keep.reduce((a, b) => a + b, 0);
    const row = solved.prune.subarray((Math.round(100 * ratio) - 1) * 6, Math.round(100 * ratio) * 6);
    const ideal = row.reduce((sum, p) => sum + (1 - p) * 4096, 0);
    assert.ok(Math.abs(kept - ideal) <= 3 * 0.5 + 1e-9, `ratio ${ratio}: kept ${kept}, ideal ${ideal}`);
  }
});

Deno.test("keepCounts keeps all at ratio 0, refuses ratios outside [0, 1), bad lengths and bad tables", () => {
  const table = constantTable(1, 1, [0.5]);
  assert.deepEqual([...keepCounts(table, 0, 10)], [10]);
  for (const ratio of [1, -0.1, 1.5, NaN]) {
    assert.throws(() => keepCounts(table, ratio, 10), /compression ratio must lie in \[0, 1\)/);
  }
  assert.throws(() => keepCounts(table, 0.5, 0), /length must be a positive integer/);
  assert.throws(() => keepCounts(constantTable(1, 1, [1.5]), 0.5, 10), /prune ratio \[0, 0, 0\] is 1.5/);
  assert.throws(() => keepCounts(constantTable(1, 1, [NaN]), 0.5, 10), /is NaN/);
});

Deno.test("budget .npy files round-trip as float64 and float32; other shapes and values are refused", () => {
  const table = solvedTable(5);
  assert.deepEqual(readBudgetNpy(writeBudgetNpy(table)), table);
  const single = readBudgetNpy(writeBudgetNpy(table, { dtype: "float32" }));
  assert.deepEqual(single.prune, Float64Array.from(Float32Array.from(table.prune)));
  const bad: [Parameters<typeof writeNpy>[0], RegExp][] = [
    [
      { shape: [99, 6], data: new Float64Array(99 * 6) },
      /shape \[99, num_layers, num_kv_heads\]; this one is \[99, 6\]/,
    ],
    [{ shape: [98, 2, 3], data: new Float64Array(98 * 6) }, /this one is \[98, 2, 3\]/],
    [{ shape: [99, 1, 1], data: new Float64Array(99).fill(2) }, /prune ratio \[0, 0, 0\] is 2/],
    [{ shape: [99, 0, 1], data: new Float64Array(0) }, /positive integers/],
  ];
  for (const [array, message] of bad) assert.throws(() => readBudgetNpy(writeNpy(array)), message);
  assert.throws(() => readBudgetNpy(new Uint8Array([1, 2, 3])), /not an \.npy file/);
  const fortran = writeNpy({ shape: [99, 1, 1], data: new Float64Array(99) });
  const text = new TextDecoder("latin1").decode(fortran);
  const flipped = new Uint8Array(fortran);
  flipped.set(new TextEncoder().encode("True "), text.indexOf("False"));
  assert.throws(() => readBudgetNpy(flipped), /Fortran order/);
});

function profile(budgets: BudgetTable): Profile {
  return {
    model: { id: "tiny", layers: budgets.layers, kvHeads: budgets.heads, queryHeads: 4 },
    scorer: { name: "snapkv", params: { window: 32, kernel: 7 } },
    sink: 2,
    window: 8,
    decodeTokens: 64,
    scope: "global",
    minKeepFraction: 0.01,
    calibration: { name: "ruler-calib", pairs: 2, samples: 1, seed: 9 },
    created: "2026-11-28T12:00:00.000Z",
    budgets,
    stats: budgetStats([budgets]),
  };
}

Deno.test("profiles round-trip through JSON with their metadata", () => {
  const original = profile(solvedTable(6));
  const text = writeProfile(original);
  assert.deepEqual(readProfile(text), original);
  assert.equal(JSON.parse(text).version, 1);
});

Deno.test("malformed profiles are LukvErrors that name each bad field", () => {
  const good = JSON.parse(writeProfile(profile(solvedTable(7))));
  const expectFormat = (json: unknown, message: RegExp) =>
    assert.throws(
      () => readProfile(typeof json === "string" ? json : JSON.stringify(json)),
      (e) => e instanceof LukvError && e.code === STATUS.FORMAT && message.test(e.message),
    );
  expectFormat("{not json", /profile: not JSON/);
  expectFormat({ ...good, version: 2 }, /field `version`/);
  expectFormat({ ...good, sink: -1, window: "8" }, /field `sink`[\s\S]*field `window`/);
  expectFormat({ ...good, model: { ...good.model, layers: undefined } }, /field `model.layers`/);
  expectFormat({ ...good, prune: good.prune.slice(1) }, /field `prune`/);
  expectFormat(
    { ...good, prune: good.prune.map((row: number[][]) => row.slice(1)) },
    /`prune.0` is not \[3, 2\]/,
  );
  expectFormat(
    { ...good, prune: [[[1.5, 0], ...good.prune[0].slice(1)], ...good.prune.slice(1)] },
    /field `prune.0.0.0`/,
  );
  expectFormat({ ...good, extra: true }, /Unrecognized key/);
});
