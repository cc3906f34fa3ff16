/** SnapKV pools each query head before averaging its GQA group, with max (SnapKV's code) or average (kvpress) pooling. */

import assert from "node:assert/strict";
import { snapKvScorer } from "../../src/press/scorers/snapkv.ts";
import type { LayerState } from "../../src/press/scorers/scorer.ts";
import { cpuDevice } from "../backend/devices.ts";

/** Two query heads over one KV head, 6 tokens, one window query (so token 5 is the window). */
function state(windowAttention: number[]): LayerState {
  return {
    device: cpuDevice(),
    layer: 0,
    length: 6,
    heads: 2,
    kvHeads: 1,
    headDim: 2,
    inverseFrequencies: new Float64Array(1),
    windowAttention: Float32Array.from(windowAttention),
    windowQueries: 1,
  };
}

const close = (actual: Float32Array, expected: number[]) =>
  expected.forEach((e, j) => assert.ok(Math.abs(actual[j] - e) < 1e-6, `token ${j}: ${actual[j]} != ${e}`));

Deno.test("SnapKV max-pools each query head, then averages the group (pooling the group's sum would differ)", () => {
  // Query head 0 looks at token 0, query head 1 half at token 1.
  const attention = [1, 0, 0, 0, 0, 0, 0, 0.5, 0, 0, 0, 0];
  const scores = snapKvScorer({ window: 1, kernel: 3 }).score(state(attention));
  // Per head: [1, 1, 0, 0, 0] and [0.5, 0.5, 0.5, 0, 0]; their mean. (Pooling the sum [1, 0.5, 0, 0, 0] gives 0.5 at 0.)
  close(scores, [0.75, 0.75, 0.25, 0, 0]);
  assert.ok(scores[5] > 0.75, "the window ranks first");
});

Deno.test("SnapKV's average pooling is kvpress's avg_pool1d (zero padding counted), then the group mean", () => {
  const attention = [1, 0, 0, 0, 0, 0, 0, 0.5, 0, 0, 0, 0];
  const scores = snapKvScorer({ window: 1, kernel: 3, pooling: "avg" }).score(state(attention));
  close(scores, [(1 / 3 + 0.5 / 3) / 2, (1 / 3 + 0.5 / 3) / 2, 0.5 / 3 / 2, 0, 0]);
  assert.throws(() => snapKvScorer({ pooling: "median" }), /pooling must be "max" or "avg"/);
});
