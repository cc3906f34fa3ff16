/** RoPE: inverse frequencies with linear and llama3 scaling against float64 formulas, and the cos/sin table layout. */

import assert from "node:assert/strict";
import type { RopeScaling } from "../../src/model/config.ts";
import { inverseFrequencies, ropeTables } from "../../src/model/rope.ts";

/** Relative closeness, for float64 values computed along different paths. */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-13) {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]) / Math.max(Math.abs(expected[i]), 1e-300);
    assert.ok(error <= tolerance, `index ${i}: ${actual[i]} vs ${expected[i]} (relative error ${error})`);
  }
}

/**
 * Hugging Face's `_compute_llama3_parameters`, step by step as written there: frequencies
 * of long wavelength divided first, then the smoothed band overwritten.
 */
function llama3Reference(
  headDim: number,
  theta: number,
  s: Extract<RopeScaling, { type: "llama3" }>,
): number[] {
  const base = [];
  for (let i = 0; i < headDim; i += 2) base.push(1 / Math.pow(theta, i / headDim));
  const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  const wavelen = base.map((f) => 2 * Math.PI / f);
  const scaled = base.map((f, i) => wavelen[i] > lowFreqWavelen ? f / s.factor : f);
  const smooth = wavelen.map((w) =>
    (s.originalMaxPositionEmbeddings / w - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor)
  );
  const smoothed = scaled.map((f, i) => (1 - smooth[i]) * f / s.factor + smooth[i] * f);
  const isMedium = wavelen.map((w) => !(w < highFreqWavelen) && !(w > lowFreqWavelen));
  return scaled.map((f, i) => isMedium[i] ? smoothed[i] : f);
}

Deno.test("unscaled and linear inverse frequencies: hand-checked values", () => {
  assertClose(inverseFrequencies(4, 10000), [1, 0.01]);
  assertClose(inverseFrequencies(8, 10000), [1, 0.1, 0.01, 0.001]);
  assertClose(inverseFrequencies(4, 10000, { type: "linear", factor: 2 }), [0.5, 0.005]);
  const theta = 1e6, d = 64;
  const linear = inverseFrequencies(d, theta, { type: "linear", factor: 4 });
  assertClose(linear, Array.from({ length: d / 2 }, (_, i) => Math.exp(-Math.log(theta) * (2 * i) / d) / 4));
});

Deno.test("llama3 scaling: the three bands, hand-checked, and Llama 3.1's own parameters", () => {
  // wavelengths 2π·[1, 10, 100, 1000] against 250 (high) and 1000 (low): keep, keep, smooth, divide.
  const small = {
    type: "llama3",
    factor: 8,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalMaxPositionEmbeddings: 1000,
  };
  const smooth = (10 / (2 * Math.PI) - 1) / 3; // 0.19718314...
  const invFreq = inverseFrequencies(8, 10000, small as RopeScaling);
  assertClose(invFreq, [1, 0.1, 0.01 * ((1 - smooth) / 8 + smooth), 0.000125]);
  assert.ok(Math.abs(invFreq[2] - 0.002975352507) < 1e-12);

  const llama31 = {
    type: "llama3",
    factor: 8,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalMaxPositionEmbeddings: 8192,
  } as const;
  const actual = inverseFrequencies(128, 500000, llama31);
  const expected = llama3Reference(128, 500000, llama31);
  assertClose(actual, expected);
  const unscaled = inverseFrequencies(128, 500000);
  assert.equal(actual[0], unscaled[0], "high frequencies are untouched");
  assertClose([actual[63]], [unscaled[63] / 8]);
  const kinds = Array.from(
    actual,
    (f, i) => f === unscaled[i] ? "keep" : f === unscaled[i] / 8 ? "divide" : "smooth",
  );
  assert.ok(kinds.includes("keep") && kinds.includes("divide") && kinds.includes("smooth"), kinds.join(","));

  const llama32 = { ...llama31, factor: 32 };
  assertClose(inverseFrequencies(64, 500000, llama32), llama3Reference(64, 500000, llama32));
});

Deno.test("ropeTables: [length, headDim / 2] rows of cos and sin of p * invFreq, rounded from float64", () => {
  const config = { headDim: 8, ropeTheta: 10000, ropeScaling: { type: "linear", factor: 2 } as const };
  const length = 50;
  const { cos, sin } = ropeTables(config, length);
  assert.equal(cos.length, length * 4);
  assert.equal(sin.length, length * 4);
  assert.deepEqual([...cos.subarray(0, 4)], [1, 1, 1, 1]);
  assert.deepEqual([...sin.subarray(0, 4)], [0, 0, 0, 0]);
  const invFreq = [0.5, 0.05, 0.005, 0.0005];
  for (let p = 0; p < length; p++) {
    for (let i = 0; i < 4; i++) {
      assert.equal(cos[p * 4 + i], Math.fround(Math.cos(p * invFreq[i])), `cos[${p}, ${i}]`);
      assert.equal(sin[p * 4 + i], Math.fround(Math.sin(p * invFreq[i])), `sin[${p}, ${i}]`);
    }
  }
  assert.equal(sin[3 * 4], Math.fround(Math.sin(1.5)));
  assert.deepEqual(ropeTables(config, 0), { cos: new Float32Array(), sin: new Float32Array() });
});

Deno.test("bad rope arguments are RangeErrors", () => {
  assert.throws(() => inverseFrequencies(7, 10000), { name: "RangeError", message: /headDim .* even/ });
  assert.throws(() => inverseFrequencies(8, 0), { name: "RangeError", message: /theta/ });
  assert.throws(() => inverseFrequencies(8, 10000, { type: "linear", factor: 0 }), RangeError);
  assert.throws(
    () =>
      inverseFrequencies(8, 10000, {
        type: "llama3",
        factor: 8,
        lowFreqFactor: 4,
        highFreqFactor: 4,
        originalMaxPositionEmbeddings: 8192,
      }),
    { name: "RangeError", message: /highFreqFactor/ },
  );
  assert.throws(() => ropeTables({ headDim: 8, ropeTheta: 1e4, ropeScaling: null }, -1), RangeError);
});
