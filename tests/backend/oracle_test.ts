/** Parity of the LU-KV oracle utility (attention_oracle) with its float64 reference over full attention rows. */

import assert from "node:assert/strict";
import { type Device, ops } from "../../mod.ts";
import { deviceTest } from "./devices.ts";
import * as ref from "./reference.ts";

/** Largest accepted error relative to the output's scale: f32 arithmetic, f32 output. */
const F32_TOLERANCE = 2e-5;

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string) {
  const error = ref.relativeError(actual, expected);
  assert.ok(error <= F32_TOLERANCE, `${label}: relative error ${error.toExponential(2)} > ${F32_TOLERANCE}`);
}

/** A dense cache [heads, capacity, headDim] of random rows, written by kvWrite. */
function denseCache(dev: Device, rand: () => number, heads: number, capacity: number, headDim: number) {
  const cache = dev.zeros("f32", [heads, capacity, headDim]);
  using rows = dev.fromArray("f32", ref.uniform(rand, capacity * heads * headDim, 2), [
    capacity,
    heads,
    headDim,
  ]);
  ops.kvWrite(cache, rows, 0);
  return cache;
}

/** n values in [0, scale): value-output norms are non-negative. */
function norms(rand: () => number, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rand() * scale);
}

deviceTest("attention_oracle over consecutive decode steps is the max of the per-step references", (dev) => {
  const [kvHeads, ctxLen, question, steps] = [2, 150, 12, 4];
  const capacity = ctxLen + question + steps + 3;
  for (const gqa of [1, 2, 4]) {
    for (const headDim of [64, 128]) {
      const seed = ref.freshSeed(), rand = ref.random(seed);
      const qHeads = kvHeads * gqa, scale = 1 / Math.sqrt(headDim);
      using k = denseCache(dev, rand, kvHeads, capacity, headDim);
      const keys = k.toHost();
      const weights = norms(rand, qHeads * ctxLen);
      using tw = dev.fromArray("f32", weights, [qHeads, ctxLen]);
      using out = dev.zeros("f32", [kvHeads, ctxLen]);
      const expected = new Float64Array(kvHeads * ctxLen);
      for (let step = 0; step < steps; step++) {
        // The question and the tokens decoded so far sit after the context; the step's
        // own key is the last valid row.
        const kvLen = ctxLen + question + step + 1;
        const q = ref.uniform(rand, qHeads * headDim, 2);
        using tq = dev.fromArray("f32", q, [qHeads, headDim]);
        ops.attentionOracle(out, tq, k, tw, kvLen);
        const shape = { kvLen, ctxLen, capacity, qHeads, kvHeads, headDim };
        const alone = ref.attentionOracle(new Float64Array(kvHeads * ctxLen), q, keys, weights, shape, scale);
        for (let i = 0; i < expected.length; i++) expected[i] = Math.max(expected[i], alone[i]);
        expectClose(out.toHost(), expected, `gqa=${gqa} d=${headDim} step=${step} seed=${seed}`);
      }
    }
  }
});

const ORACLE_SHAPES = [
  // kvLen, ctxLen, capacity, qHeads, kvHeads, headDim
  [1, 1, 1, 1, 1, 4], // a single key, which is context
  [40, 40, 40, 4, 2, 7], // no question yet, odd head_dim
  [70, 33, 90, 8, 2, 16], // GQA 4, half the keys past the context
  [3100, 3000, 3200, 8, 2, 128], // long context: many key splits and tiles on CUDA
] as const;

deviceTest("attention_oracle keeps larger earlier values and records only context tokens", (dev) => {
  for (const [kvLen, ctxLen, capacity, qHeads, kvHeads, headDim] of ORACLE_SHAPES) {
    const seed = ref.freshSeed(), rand = ref.random(seed);
    const shape = { kvLen, ctxLen, capacity, qHeads, kvHeads, headDim };
    const q = ref.uniform(rand, qHeads * headDim, 2);
    using k = denseCache(dev, rand, kvHeads, capacity, headDim);
    using tq = dev.fromArray("f32", q, [qHeads, headDim]);
    const weights = norms(rand, qHeads * ctxLen);
    using tw = dev.fromArray("f32", weights, [qHeads, ctxLen]);
    // About as large as the utilities, so that both sides of the max are taken.
    const initial = norms(rand, kvHeads * ctxLen, 2 / kvLen);
    using out = dev.fromArray("f32", initial, [kvHeads, ctxLen]);
    ops.attentionOracle(out, tq, k, tw, kvLen, 0.2);
    const label = `${JSON.stringify(shape)} seed=${seed}`;
    const got = out.toHost();
    expectClose(got, ref.attentionOracle(initial, q, k.toHost(), weights, shape, 0.2), label);
    for (let i = 0; i < got.length; i++) {
      assert.ok(got[i] >= initial[i], `${label}: entry ${i} fell from ${initial[i]} to ${got[i]}`);
    }
  }
});

deviceTest("attention_oracle with unit weights is the attention row itself, bit for bit on repeat", (dev) => {
  const seed = ref.freshSeed(), rand = ref.random(seed);
  const [kvLen, capacity, kvHeads, headDim] = [500, 512, 3, 64];
  using k = denseCache(dev, rand, kvHeads, capacity, headDim);
  using q = dev.fromArray("f32", ref.uniform(rand, kvHeads * headDim, 2), [kvHeads, headDim]);
  using ones = dev.fromArray("f32", new Float32Array(kvHeads * kvLen).fill(1), [kvHeads, kvLen]);
  using first = dev.zeros("f32", [kvHeads, kvLen]);
  using second = dev.zeros("f32", [kvHeads, kvLen]);
  ops.attentionOracle(first, q, k, ones, kvLen);
  ops.attentionOracle(second, q, k, ones, kvLen);
  const a = first.toHost(), b = second.toHost();
  assert.deepEqual(a, b, `seed=${seed}: two identical calls differ`);
  for (let h = 0; h < kvHeads; h++) {
    const sum = a.subarray(h * kvLen, (h + 1) * kvLen).reduce((s, x) => s + x, 0);
    assert.ok(Math.abs(sum - 1) < 1e-4, `seed=${seed}: head ${h}'s probabilities sum to ${sum}`);
  }
});
