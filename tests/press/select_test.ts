/** Kept-token selection against a brute-force reference: protections first, then scores, ties to earlier positions. */

import assert from "node:assert/strict";
import { keptIndices, protectedCount } from "../../src/press/select.ts";
import { random } from "../backend/reference.ts";

/** All positions ranked by (protected, score desc, position asc), written as plainly as possible. */
function reference(scores: number[], count: number, sink: number, window: number): number[] {
  const length = scores.length;
  const rank = scores.map((score, j) => ({ j, prot: j < sink || j >= length - window, score }));
  rank.sort((a, b) => {
    if (a.prot !== b.prot) return a.prot ? -1 : 1;
    if (a.score !== b.score) return b.score - a.score;
    return a.j - b.j;
  });
  return rank.slice(0, count).map((r) => r.j).sort((a, b) => a - b);
}

Deno.test("keptIndices equals the reference on random scores with ties, per head, in original order", () => {
  const rand = random(31);
  for (let trial = 0; trial < 200; trial++) {
    const heads = 1 + Math.floor(rand() * 4), length = 1 + Math.floor(rand() * 60);
    const sink = Math.floor(rand() * 5), window = Math.floor(rand() * 8);
    const floor = protectedCount(length, { sink, window });
    const scores = Float32Array.from({ length: heads * length }, () => Math.round(rand() * 6) / 2);
    const counts = Int32Array.from(
      { length: heads },
      () => floor + Math.floor(rand() * (length - floor + 1)),
    );
    const { indices, offsets } = keptIndices(scores, counts, length, { sink, window });
    for (let h = 0; h < heads; h++) {
      const kept = [...indices.subarray(offsets[h], offsets[h + 1])];
      const row = [...scores.subarray(h * length, (h + 1) * length)];
      assert.deepEqual(kept, reference(row, counts[h], sink, window), `trial ${trial} head ${h}`);
      for (let j = 0; j < length; j++) {
        if (j < sink || j >= length - window) assert.ok(kept.includes(j), `protected ${j} dropped`);
      }
    }
  }
});

Deno.test("keptIndices refuses counts below the protected tokens or above the length", () => {
  const scores = new Float32Array(10);
  assert.throws(
    () => keptIndices(scores, new Int32Array([2]), 10, { sink: 2, window: 2 }),
    /between 4 and 10/,
  );
  assert.throws(
    () => keptIndices(scores, new Int32Array([11]), 10, { sink: 0, window: 0 }),
    /between 0 and 10/,
  );
  assert.throws(
    () => keptIndices(scores, new Int32Array([5, 5]), 10, { sink: 0, window: 0 }),
    /2 heads x 10 tokens/,
  );
});
