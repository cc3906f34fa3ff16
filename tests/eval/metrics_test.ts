/** Fidelity metrics: KL divergence of logits rows and attention-output relative error, against hand computations. */

import assert from "node:assert/strict";
import { attentionError, klDivergence } from "../../src/eval/metrics.ts";

Deno.test("KL is exactly 0 for identical rows and matches a hand computation otherwise", () => {
  const logits = Float32Array.from([2, -1, 0.5, 3]);
  assert.equal(klDivergence(logits, logits), 0);
  // Shifting all logits leaves the distribution unchanged.
  assert.ok(klDivergence(logits, logits.map((x) => x + 7)) < 1e-12);
  const p = [0.5, 0.5], q = [0.9, 0.1];
  const want = p[0] * Math.log(p[0] / q[0]) + p[1] * Math.log(p[1] / q[1]);
  const got = klDivergence(Float32Array.from(p.map(Math.log)), Float32Array.from(q.map(Math.log)));
  assert.ok(Math.abs(got - want) < 1e-6, `${got} vs ${want}`);
  // A token the reference masks contributes nothing: KL = -log q(0).
  const masked = klDivergence(Float32Array.from([0, -Infinity]), Float32Array.from([0, 5]));
  assert.ok(Math.abs(masked - Math.log(1 + Math.exp(5))) < 1e-6, `${masked}`);
  assert.throws(() => klDivergence(new Float32Array(2), new Float32Array(3)), RangeError);
});

Deno.test("attention error is the per-layer relative L2 error, averaged over layers", () => {
  const full = [Float32Array.from([3, 4]), Float32Array.from([1, 0])];
  assert.equal(attentionError(full, full), 0);
  const other = [Float32Array.from([3, 4 + 5]), Float32Array.from([1, 0.5])];
  assert.ok(Math.abs(attentionError(full, other) - (1 + 0.5) / 2) < 1e-7);
  assert.throws(() => attentionError(full, [full[0]]), RangeError);
  assert.throws(() => attentionError(full, [full[0], new Float32Array(3)]), /layer 1/);
});
