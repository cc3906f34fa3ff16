/** Eviction curves: score ranking with ties, cumulative loss, and the lower convex hull against brute force. */

import assert from "node:assert/strict";
import { evictionCurves } from "../../src/lukv/curves.ts";
import type { HeadTable } from "../../src/lukv/tables.ts";
import { random } from "../backend/reference.ts";
import { bruteHull, cumulativeLoss, curveValues } from "./brute.ts";
import { randomInstance } from "./instances.ts";

const table = (values: number[], layers = 1, heads = 1): HeadTable => ({
  layers,
  heads,
  length: values.length / (layers * heads),
  data: Float64Array.from(values),
});

Deno.test("a hand-checked head: ties rank the earlier position higher, the hull merges a concave run", () => {
  // Positions 1..4 are evictable. Scores rank 1 > 3 > 2 = 4 (2 before 4: earlier ranks
  // higher), so eviction goes 4, 2, 3, 1 with oracle 0.4, 0.2, 0.1, 0.5:
  // cum = 0, 0.4, 0.6, 0.7, 1.2; its lower hull is (0,0)-(3,0.7)-(4,1.2).
  const curves = evictionCurves(
    table([9, 0.5, 0.2, 0.1, 0.4, 9]),
    table([0, 4, 1, 3, 1, 0]),
    { sink: 1, window: 1 },
  );
  assert.deepEqual([...curves.offsets], [0, 2]);
  assert.deepEqual([...curves.lengths], [3, 1]);
  assert.ok(Math.abs(curves.slopes[0] - 0.7 / 3) < 1e-15 && Math.abs(curves.slopes[1] - 0.5) < 1e-15);
});

Deno.test("hull segments are convex, cover every evictable token and match the brute-force envelope", () => {
  const seed = 1234;
  for (const ties of [false, true]) {
    const { oracle, scores } = randomInstance(seed, 2, 3, 40, ties);
    const sink = 2, window = 5;
    const curves = evictionCurves(oracle, scores, { sink, window });
    for (let head = 0; head < 6; head++) {
      const [from, to] = [curves.offsets[head], curves.offsets[head + 1]];
      for (let s = from + 1; s < to; s++) {
        assert.ok(curves.slopes[s] > curves.slopes[s - 1], "strictly convex");
      }
      const span = (t: HeadTable) => t.data.subarray(head * 40, (head + 1) * 40);
      const envelope = bruteHull(cumulativeLoss(span(oracle), span(scores), sink, window));
      const values = curveValues(curves.slopes, curves.lengths, from, to);
      assert.equal(values.length, 40 - sink - window + 1);
      values.forEach((v, e) =>
        assert.ok(Math.abs(v - envelope[e]) <= 1e-9, `head ${head} e=${e}: ${v} vs ${envelope[e]}`)
      );
    }
  }
});

Deno.test("a curve that is already convex keeps one segment per distinct marginal cost", () => {
  const rand = random(5);
  const oracle = Array.from({ length: 12 }, () => rand());
  // Scores equal to the oracle evict the smallest first: cum is convex, every step is a vertex.
  const curves = evictionCurves(table(oracle), table(oracle), { sink: 0, window: 0 });
  assert.equal(curves.slopes.length, 12);
  assert.deepEqual([...curves.slopes], [...oracle].sort((a, b) => a - b));
});

Deno.test("bad tables are refused with the offending entry named", () => {
  const ok = table([1, 2, 3, 4, 5, 6]);
  const protection = { sink: 1, window: 1 };
  const cases: [HeadTable, HeadTable, { sink: number; window: number }, RegExp][] = [
    [table([1, NaN, 3, 4, 5, 6]), ok, protection, /oracle\[0, 0, 1\] is NaN/],
    [table([1, 2, Infinity, 4, 5, 6]), ok, protection, /oracle\[0, 0, 2\] is Infinity/],
    [table([1, 2, 3, -1, 5, 6]), ok, protection, /oracle\[0, 0, 3\] is -1.*non-negative/],
    [ok, table([1, 2, 3, 4, NaN, 6]), protection, /scores\[0, 0, 4\] is NaN/],
    [ok, table([1, 2, 3, 4, 5, 6, 7, 8]), protection, /oracle is \[1, 1, 6\] but scores are \[1, 1, 8\]/],
    [ok, ok, { sink: 3, window: 3 }, /sink \+ window \(6\) must be less than the context length 6/],
    [ok, ok, { sink: -1, window: 0 }, /non-negative integers/],
    [{ ...ok, length: 5 }, ok, protection, /oracle holds 6 values but its shape \[1, 1, 5\] needs 5/],
  ];
  for (const [oracle, scores, p, message] of cases) {
    assert.throws(
      () => evictionCurves(oracle, scores, p),
      (e) => e instanceof RangeError && message.test(e.message),
    );
  }
});

Deno.test("protected positions are never read: scorers may mark them +Infinity", () => {
  const oracle = table([1, 2, 3, 4, 5, 6]);
  const curves = evictionCurves(oracle, table([Infinity, 2, 1, 3, 4, Infinity]), { sink: 1, window: 1 });
  assert.equal(curves.lengths.reduce((a, b) => a + b, 0), 4);
  assert.throws(
    () => evictionCurves(oracle, table([0, Infinity, 1, 3, 4, 0]), { sink: 1, window: 1 }),
    /scores\[0, 0, 1\]/,
  );
});

Deno.test("the radix ranking equals the comparator's: ties, signed zeros, negatives, float64 tables", () => {
  const rand = random(99);
  const layers = 2, heads = 2, length = 300, sink = 3, window = 7;
  const values = [-2.5, -1, -0, 0, 1e-30, 0.25, 0.25000001, 7, 1e30];
  const oracle: HeadTable = {
    layers,
    heads,
    length,
    data: Float32Array.from({ length: layers * heads * length }, () => rand()),
  };
  const f32: HeadTable = {
    layers,
    heads,
    length,
    data: Float32Array.from(
      { length: layers * heads * length },
      () => values[Math.floor(rand() * values.length)],
    ),
  };
  // The same scores as float64 (exactly float32: the packed path), and with one value that is not (the comparator).
  const f64: HeadTable = { ...f32, data: Float64Array.from(f32.data) };
  const off: HeadTable = { ...f32, data: Float64Array.from(f32.data, (x, i) => i === sink ? x + 1e-12 : x) };
  const curves = [f32, f64, off].map((scores) => evictionCurves(oracle, scores, { sink, window }));
  assert.deepEqual(curves[1], curves[0]);
  for (let head = 1; head < layers * heads; head++) { // head 0 holds the changed value
    const slice = (c: typeof curves[0]) => {
      const [from, to] = [c.offsets[head], c.offsets[head + 1]];
      return [Array.from(c.slopes.subarray(from, to)), Array.from(c.lengths.subarray(from, to))];
    };
    assert.deepEqual(slice(curves[2]), slice(curves[0]), `head ${head}`);
  }
  for (let head = 0; head < layers * heads; head++) {
    const span = (t: HeadTable) => t.data.subarray(head * length, (head + 1) * length);
    const envelope = bruteHull(cumulativeLoss(span(oracle), span(f32), sink, window));
    const [from, to] = [curves[0].offsets[head], curves[0].offsets[head + 1]];
    curveValues(curves[0].slopes, curves[0].lengths, from, to).forEach((v, e) =>
      assert.ok(Math.abs(v - envelope[e]) <= 1e-9 * Math.max(1, Math.abs(envelope[e])), `head ${head} e=${e}`)
    );
  }
});
