/** Sampling: greedy argmax, softmax frequencies under temperature, top-k and top-p filters, the seeded PRNG, and validation. */

import assert from "node:assert/strict";
import { sampleToken, seededRandom } from "../../src/model/sampling.ts";

/** A `random` for greedy paths, which must not draw. */
function noRandom(): number {
  throw new Error("greedy decoding must not call random()");
}

/** How often each token is drawn in `draws` samples. */
function frequencies(
  logits: Float32Array,
  options: Parameters<typeof sampleToken>[1],
  draws: number,
  seed = 1234,
): number[] {
  const random = seededRandom(seed);
  const counts = new Array(logits.length).fill(0);
  for (let i = 0; i < draws; i++) counts[sampleToken(logits, options, random)]++;
  return counts;
}

/** Pearson's chi-square statistic of `counts` against the probabilities `expected`. */
function chiSquare(counts: number[], expected: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.reduce((sum, c, i) => {
    if (expected[i] === 0) {
      assert.equal(c, 0, `token ${i} has probability 0 but was drawn ${c} times`);
      return sum;
    }
    const e = expected[i] * total;
    return sum + (c - e) ** 2 / e;
  }, 0);
}

/** The float64 softmax of `logits / temperature`. */
function softmax(logits: ArrayLike<number>, temperature: number): number[] {
  const max = Math.max(...Array.from(logits));
  const weights = Array.from(logits, (x) => Math.exp((x - max) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => w / total);
}

// Chi-square critical value at p = 0.001 for 4 degrees of freedom (the 5-token vocab), also used as a
// looser bound where fewer tokens survive: the fixed seed makes each draw deterministic, and the loose
// bound keeps the test meaningful without tying it to one seed's luck.
const CHI_SQUARE_4_DOF_P001 = 18.47;

Deno.test("greedy: the argmax, lowest index on ties, without drawing", () => {
  const logits = new Float32Array([0.5, 2, -1, 2, 1.5]);
  assert.equal(sampleToken(logits, {}, noRandom), 1);
  assert.equal(sampleToken(logits, { temperature: 0 }, noRandom), 1);
  assert.equal(sampleToken(logits, { temperature: 0, topK: 1, topP: 0.1 }, noRandom), 1);
  assert.equal(sampleToken(new Float32Array([-Infinity, -5, -Infinity, -5]), {}, noRandom), 1);
  assert.equal(sampleToken(new Float32Array([7]), {}, noRandom), 0);
  const large = new Float32Array(128_000).fill(-3);
  large[99_999] = 4;
  large[120_000] = 4;
  assert.equal(sampleToken(large, {}, noRandom), 99_999);
});

Deno.test("temperature: draw frequencies match softmax(logits / temperature), masked tokens never drawn", () => {
  const logits = new Float32Array([1, 2, 0.5, -1, 2.5]);
  const draws = 40_000;
  for (const temperature of [0.7, 1, 2]) {
    const counts = frequencies(logits, { temperature }, draws);
    const statistic = chiSquare(counts, softmax(logits, temperature));
    assert.ok(statistic < CHI_SQUARE_4_DOF_P001, `temperature ${temperature}: chi-square ${statistic}`);
  }
  const masked = new Float32Array([1, -Infinity, 0.5, -Infinity, 2]);
  const counts = frequencies(masked, { temperature: 1 }, draws);
  assert.equal(counts[1] + counts[3], 0);
  const expected = softmax([1, 0.5, 2], 1);
  const statistic = chiSquare([counts[0], counts[2], counts[4]], expected);
  assert.ok(statistic < CHI_SQUARE_4_DOF_P001, `masked: chi-square ${statistic}`);
  // A tiny temperature is effectively greedy.
  assert.deepEqual(frequencies(logits, { temperature: 1e-6 }, 200), [0, 0, 0, 0, 200]);
});

Deno.test("top-k: only the k best are drawn, ties at the boundary go to the lower index", () => {
  const logits = new Float32Array([5, 1, 3, 3, 3, 0, 4]);
  const two = frequencies(logits, { temperature: 1, topK: 2 }, 5_000);
  assert.equal(two[1] + two[2] + two[3] + two[4] + two[5], 0, two.join(","));
  assert.ok(two[0] > 0 && two[6] > 0);
  const three = frequencies(logits, { temperature: 5, topK: 3 }, 5_000);
  assert.deepEqual(three.map((c) => c > 0), [true, false, true, false, false, false, true]);
  // Renormalised over the survivors.
  const statistic = chiSquare([three[0], three[2], three[6]], softmax([5, 3, 4], 5));
  assert.ok(statistic < CHI_SQUARE_4_DOF_P001, `chi-square ${statistic}`);
  assert.deepEqual(frequencies(logits, { temperature: 1, topK: 1 }, 100)[0], 100);
  // k past the non-masked count keeps them all (and never a masked one).
  const masked = new Float32Array([1, -Infinity, 1]);
  const all = frequencies(masked, { temperature: 1, topK: 50 }, 2_000);
  assert.ok(all[0] > 0 && all[1] === 0 && all[2] > 0);

  const vocab = 128_000;
  const random = seededRandom(9);
  const large = Float32Array.from({ length: vocab }, () => random() * 10);
  const best = Array.from(large.keys()).sort((a, b) => large[b] - large[a] || a - b).slice(0, 40);
  const allowed = new Set(best);
  const draw = seededRandom(10);
  for (let i = 0; i < 200; i++) {
    const token = sampleToken(large, { temperature: 10, topK: 40, topP: 0.9 }, draw);
    assert.ok(allowed.has(token), `token ${token} is outside the top 40`);
  }
});

Deno.test("top-p: the smallest descending prefix with mass >= p, renormalised; small p is the argmax", () => {
  const logits = new Float32Array([0.1, 3, 2.9, -2, 1]);
  assert.deepEqual(frequencies(logits, { temperature: 1, topP: 0.01 }, 500), [0, 500, 0, 0, 0]);
  assert.deepEqual(frequencies(logits, { temperature: 100, topP: 1e-9 }, 500), [0, 500, 0, 0, 0]);

  const probabilities = [0.5, 0.3, 0.15, 0.05];
  const fromProbabilities = Float32Array.from(probabilities, Math.log);
  const counts = frequencies(fromProbabilities, { temperature: 1, topP: 0.75 }, 20_000);
  assert.equal(counts[2] + counts[3], 0, counts.join(","));
  const statistic = chiSquare([counts[0], counts[1]], [0.5 / 0.8, 0.3 / 0.8]);
  assert.ok(statistic < CHI_SQUARE_4_DOF_P001, `chi-square ${statistic}`);
  const three = frequencies(fromProbabilities, { temperature: 1, topP: 0.9 }, 5_000);
  assert.deepEqual(three.map((c) => c > 0), [true, true, true, false]);
  const all = frequencies(fromProbabilities, { temperature: 1, topP: 1 }, 5_000);
  assert.ok(all.every((c) => c > 0), all.join(","));
  // Top-k first, then top-p over the renormalised survivors: {0, 1} has mass 0.625 / 0.375.
  const both = frequencies(fromProbabilities, { temperature: 1, topK: 2, topP: 0.6 }, 500);
  assert.deepEqual(both, [500, 0, 0, 0]);
});

Deno.test("seededRandom: the same seed gives the same sequence, in [0, 1); sampling with it is reproducible", () => {
  const a = seededRandom(42), b = seededRandom(42), c = seededRandom(43);
  const first = Array.from({ length: 100 }, a);
  assert.deepEqual(Array.from({ length: 100 }, b), first);
  assert.notDeepEqual(Array.from({ length: 100 }, c), first);
  assert.ok(first.every((x) => x >= 0 && x < 1));
  assert.ok(new Set(first).size === 100);
  const mean = Array.from({ length: 10_000 }, seededRandom(7)).reduce((s, x) => s + x, 0) / 10_000;
  assert.ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
  for (const seed of [0, -1, 2 ** 40, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) {
    const x = seededRandom(seed)();
    assert.ok(x >= 0 && x < 1, `seed ${seed}: ${x}`);
  }
  assert.notEqual(seededRandom(2 ** 40)(), seededRandom(0)());

  const logits = new Float32Array([0.2, 1, 0.7, -0.3, 0.9]);
  const options = { temperature: 1.2, topK: 4, topP: 0.95 };
  const run = (seed: number) => {
    const random = seededRandom(seed);
    return Array.from({ length: 50 }, () => sampleToken(logits, options, random));
  };
  assert.deepEqual(run(5), run(5));
  assert.notDeepEqual(run(5), run(6));
});

Deno.test("bad options, logits, seeds and random values are RangeErrors", () => {
  const logits = new Float32Array([1, 2, 3]);
  const random = seededRandom(0);
  const bad = (options: Parameters<typeof sampleToken>[1], message: RegExp) =>
    assert.throws(() => sampleToken(logits, options, random), { name: "RangeError", message });
  bad({ temperature: -0.5 }, /temperature/);
  bad({ temperature: NaN }, /temperature/);
  bad({ temperature: Infinity }, /temperature/);
  bad({ temperature: 1, topK: 0 }, /topK/);
  bad({ temperature: 1, topK: 1.5 }, /topK/);
  bad({ temperature: 1, topK: -3 }, /topK/);
  bad({ topK: 0 }, /topK/);
  bad({ temperature: 1, topP: 0 }, /topP/);
  bad({ temperature: 1, topP: 1.01 }, /topP/);
  bad({ temperature: 1, topP: NaN }, /topP/);
  bad({ topP: -1 }, /topP/);

  assert.throws(() => sampleToken(new Float32Array([0, 1, NaN]), {}, random), {
    name: "RangeError",
    message: /index 2 is NaN/,
  });
  assert.throws(() => sampleToken(new Float32Array([0, NaN, 1]), { temperature: 1 }, random), {
    name: "RangeError",
    message: /index 1 is NaN/,
  });
  assert.throws(() => sampleToken(new Float32Array([0, Infinity]), {}, random), {
    name: "RangeError",
    message: /index 1 is \+Infinity/,
  });
  assert.throws(() => sampleToken(new Float32Array(), {}, random), { name: "RangeError", message: /empty/ });
  assert.throws(
    () => sampleToken(new Float32Array([-Infinity, -Infinity]), { temperature: 1 }, random),
    { name: "RangeError", message: /-Infinity/ },
  );
  assert.throws(() => sampleToken(logits, { temperature: 1 }, () => 1), {
    name: "RangeError",
    message: /random\(\)/,
  });
  assert.throws(() => seededRandom(1.5), { name: "RangeError", message: /seed/ });
  assert.throws(() => seededRandom(NaN), { name: "RangeError", message: /seed/ });
  assert.throws(() => seededRandom(2 ** 53), { name: "RangeError", message: /seed/ });
});
