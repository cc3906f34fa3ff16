/** Parity of the scoring-statistics ops (query moments, Expected Attention, Knorm/KeyDiff) with float64 references, and their refusals. */

import assert from "node:assert/strict";
import { type Device, LukvError, ops, STATUS } from "../../mod.ts";
import { deviceTest } from "./devices.ts";
import * as ref from "./reference.ts";

/** Largest accepted error relative to the output's scale: f32 arithmetic, f32 output. */
const TOLERANCE = 1e-4;

function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  label: string,
  tolerance = TOLERANCE,
) {
  const error = ref.relativeError(actual, expected);
  assert.ok(error <= tolerance, `${label}: relative error ${error.toExponential(2)} > ${tolerance}`);
}

/**
 * Ragged spans of `kvHeads` heads with unequal random lengths up to `longest`, head 1 (when
 * there is one) of length 1, and random gaps of 0 .. 3 unowned rows before, between and
 * after the spans.
 */
function raggedSpans(rand: () => number, kvHeads: number, longest: number): ref.RaggedSpans {
  const offsets = new Int32Array(kvHeads), lengths = new Int32Array(kvHeads);
  let row = 0;
  for (let h = 0; h < kvHeads; h++) {
    row += Math.floor(rand() * 4);
    offsets[h] = row;
    lengths[h] = h === 1 ? 1 : 1 + Math.floor(rand() * longest);
    row += lengths[h];
  }
  return { offsets, lengths, rows: row + Math.floor(rand() * 4) };
}

/** The dense layout [kvHeads, capacity, d] as spans: every head owns its first `length` rows. */
function denseSpans(kvHeads: number, capacity: number, length: number): ref.RaggedSpans {
  return {
    offsets: Int32Array.from({ length: kvHeads }, (_, h) => h * capacity),
    lengths: new Int32Array(kvHeads).fill(length),
    rows: kvHeads * capacity,
  };
}

/** Owned rows of `spans` must match `expected`; every other row must still hold the NaN poison. */
function expectScores(actual: Float32Array, expected: Float64Array, spans: ref.RaggedSpans, label: string) {
  const owned = new Uint8Array(spans.rows);
  spans.offsets.forEach((offset, h) => owned.fill(1, offset, offset + spans.lengths[h]));
  const got: number[] = [], want: number[] = [];
  for (let r = 0; r < spans.rows; r++) {
    if (owned[r]) {
      assert.ok(Number.isFinite(actual[r]), `${label}: owned row ${r} was not written (${actual[r]})`);
      got.push(actual[r]);
      want.push(expected[r]);
    } else {
      assert.ok(Number.isNaN(actual[r]), `${label}: unowned row ${r} was overwritten with ${actual[r]}`);
    }
  }
  expectClose(got, want, label);
}

const MOMENT_SHAPES = [
  // rows, heads, headDim
  [1, 1, 4],
  [7, 3, 32],
  [50, 8, 64],
  [33, 2, 128],
  [21, 4, 33], // head_dim not a multiple of the tiles
  [9, 2, 256],
];

deviceTest("query_moments accumulates shifted sums and outer products; two calls equal one", (dev) => {
  for (const [rows, heads, headDim] of MOMENT_SHAPES) {
    const seed = ref.freshSeed(), rand = ref.random(seed);
    const label = `rows=${rows} heads=${heads} d=${headDim} seed=${seed}`;
    const q = ref.uniform(rand, rows * heads * headDim, 2), shift = ref.uniform(rand, heads * headDim, 0.5);
    const sum0 = ref.uniform(rand, heads * headDim), outer0 = ref.uniform(rand, heads * headDim * headDim);
    const expected = ref.queryMoments(sum0, outer0, q, shift, rows, heads, headDim);
    using tq = dev.fromArray("f32", q, [rows, heads, headDim]);
    using tshift = dev.fromArray("f32", shift, [heads, headDim]);
    using sum = dev.fromArray("f32", sum0, [heads, headDim]);
    using outer = dev.fromArray("f32", outer0, [heads, headDim, headDim]);
    ops.queryMoments(sum, outer, tq, tshift);
    expectClose(sum.toHost(), expected.sum, `sum ${label}`);
    expectClose(outer.toHost(), expected.outer, `outer ${label}`);

    // The same rows in two calls, q given flat [rows, heads * headDim] as a projection makes it.
    const split = Math.floor(rows / 2);
    using flat = dev.fromArray("f32", q, [rows, heads * headDim]);
    using sum2 = dev.fromArray("f32", sum0, [heads, headDim]);
    using outer2 = dev.fromArray("f32", outer0, [heads, headDim, headDim]);
    if (split > 0) ops.queryMoments(sum2, outer2, flat.rows(0, split), tshift);
    ops.queryMoments(sum2, outer2, flat.rows(split, rows - split), tshift);
    expectClose(sum2.toHost(), sum.toHost(), `two calls, sum ${label}`, 1e-6);
    expectClose(outer2.toHost(), outer.toHost(), `two calls, outer ${label}`, 1e-6);
  }
});

deviceTest("query_moments with a shift keeps the covariance of offset queries accurate in f32", (dev) => {
  const seed = ref.freshSeed(), rand = ref.random(seed);
  const [rows, heads, headDim] = [300, 2, 64];
  // Queries with a large common offset (as real ones have) and unit spread.
  const offset = ref.uniform(rand, heads * headDim, 40);
  const q = Float32Array.from(
    ref.uniform(rand, rows * heads * headDim),
    (x, i) => x + offset[i % (heads * headDim)],
  );
  const firstBlock = 32;
  const shift = new Float32Array(heads * headDim);
  for (let r = 0; r < firstBlock; r++) {
    for (let i = 0; i < heads * headDim; i++) shift[i] += q[r * heads * headDim + i] / firstBlock;
  }
  using tq = dev.fromArray("f32", q, [rows, heads * headDim]);
  using tshift = dev.fromArray("f32", shift, [heads, headDim]);
  using sum = dev.zeros("f32", [heads, headDim]);
  using outer = dev.zeros("f32", [heads, headDim, headDim]);
  for (let r = 0; r < rows; r += firstBlock) {
    ops.queryMoments(sum, outer, tq.rows(r, Math.min(firstBlock, rows - r)), tshift);
  }
  const covariance = (s: ArrayLike<number>, o: ArrayLike<number>) =>
    Float64Array.from({ length: heads * headDim * headDim }, (_, i) => {
      const h = Math.floor(i / (headDim * headDim)), a = Math.floor(i / headDim) % headDim, b = i % headDim;
      return o[i] / rows - (s[h * headDim + a] / rows) * (s[h * headDim + b] / rows);
    });
  const zero = new Float64Array(heads * headDim * headDim);
  const exact = ref.queryMoments(zero, zero, q, new Float64Array(heads * headDim), rows, heads, headDim);
  expectClose(covariance(sum.toHost(), outer.toHost()), covariance(exact.sum, exact.outer), `seed=${seed}`);
});

const SCORING_CASES: [gqa: number, headDim: number, kvHeads: number, longest: number][] = [
  [1, 32, 3, 40],
  [2, 64, 4, 300],
  [4, 128, 2, 200],
  [4, 32, 5, 70],
  [1, 128, 2, 129],
  [2, 32, 1, 1],
  [2, 256, 2, 90], // CUDA: the covariance chunk and key tile need more than 48 KB of shared memory
  [1, 16, 130, 6], // CUDA: more KV heads than one launch's batch of 128
];

deviceTest("expected_attention_scores: ragged GQA layers match the float64 reference", (dev) => {
  for (const [gqa, headDim, kvHeads, longest] of SCORING_CASES) {
    const seed = ref.freshSeed(), rand = ref.random(seed);
    const spans = raggedSpans(rand, kvHeads, longest), qHeads = gqa * kvHeads;
    const epsilon = rand() < 0.5 ? 0 : 0.05 * rand();
    const label = `gqa=${gqa} d=${headDim} lengths=[${spans.lengths}] seed=${seed}`;
    scoreExpected(dev, rand, spans, qHeads, headDim, epsilon, label);
  }
});

deviceTest("expected_attention_scores over a dense cache [kvHeads, capacity, headDim]", (dev) => {
  const seed = ref.freshSeed(), rand = ref.random(seed);
  const [kvHeads, capacity, length, headDim] = [2, 160, 150, 64];
  scoreExpected(dev, rand, denseSpans(kvHeads, capacity, length), 8, headDim, 0.02, `dense seed=${seed}`);
});

/** Runs expected_attention_scores on fresh random inputs over `spans` (output poisoned with NaN) and checks it. */
function scoreExpected(
  dev: Device,
  rand: () => number,
  spans: ref.RaggedSpans,
  qHeads: number,
  headDim: number,
  epsilon: number,
  label: string,
) {
  const k = ref.uniform(rand, spans.rows * headDim, 2), v = ref.uniform(rand, spans.rows * headDim);
  const mean = ref.uniform(rand, qHeads * headDim, 2), cov = ref.uniform(rand, qHeads * headDim * headDim, 3);
  using tk = dev.fromArray("f32", k, [spans.rows, headDim]);
  using tv = dev.fromArray("f32", v, [spans.rows, headDim]);
  using tmean = dev.fromArray("f32", mean, [qHeads, headDim]);
  using tcov = dev.fromArray("f32", cov, [qHeads, headDim, headDim]);
  using out = dev.empty("f32", [spans.rows]).fill(NaN);
  ops.expectedAttentionScores(out, tk, tv, spans.offsets, spans.lengths, tmean, tcov, epsilon);
  const expected = ref.expectedAttentionScores(k, v, spans, mean, cov, qHeads, headDim, epsilon);
  expectScores(out.toHost(), expected, spans, label);
}

deviceTest("key_scores: knorm and keydiff over ragged layers, zero keys and a zero mean direction", (dev) => {
  for (const [, headDim, kvHeads, longest] of SCORING_CASES) {
    const seed = ref.freshSeed(), rand = ref.random(seed);
    const spans = raggedSpans(rand, kvHeads, longest);
    const k = ref.uniform(rand, spans.rows * headDim, 2);
    // Head 0 gets a zero key (norm counted as 1); a head of exactly two rows gets opposite
    // keys, so its mean direction is zero.
    k.fill(0, spans.offsets[0] * headDim, (spans.offsets[0] + 1) * headDim);
    spans.lengths.forEach((length, h) => {
      if (length !== 2) return;
      const first = spans.offsets[h] * headDim;
      for (let a = 0; a < headDim; a++) k[first + headDim + a] = -k[first + a];
    });
    using tk = dev.fromArray("f32", k, [spans.rows, headDim]);
    for (const mode of ["knorm", "keydiff"] as const) {
      using out = dev.empty("f32", [spans.rows]).fill(NaN);
      ops.keyScores(out, tk, spans.offsets, spans.lengths, mode);
      const label = `${mode} d=${headDim} lengths=[${spans.lengths}] seed=${seed}`;
      expectScores(out.toHost(), ref.keyScores(k, spans, headDim, mode), spans, label);
    }
  }
  // Two opposite keys: a zero mean direction gives 0.
  using pair = dev.fromArray("f32", new Float32Array([1, 2, 3, -1, -2, -3]), [2, 3]);
  using out = dev.empty("f32", [2]);
  ops.keyScores(out, pair, new Int32Array([0]), new Int32Array([2]), "keydiff");
  assert.deepEqual([...out.toHost()].map(Math.abs), [0, 0]);
});

/** Expects `call` to throw a LukvError with `code` and a message matching `pattern`. */
function refuses(call: () => void, code: number, pattern: RegExp) {
  assert.throws(call, (error: unknown) => {
    assert.ok(error instanceof LukvError, `not a LukvError: ${error}`);
    assert.equal(error.code, code, `code ${error.codeName} for "${error.message}"`);
    assert.match(error.message, pattern);
    return true;
  });
}

deviceTest("scoring ops refuse bad spans, GQA, modes, epsilon and shapes without touching out", (dev) => {
  const { INVALID_ARGUMENT, SHAPE } = STATUS;
  const [rows, headDim] = [10, 8];
  const rand = ref.random(ref.freshSeed());
  using k = dev.fromArray("f32", ref.uniform(rand, rows * headDim), [rows, headDim]);
  using v = dev.fromArray("f32", ref.uniform(rand, rows * headDim), [rows, headDim]);
  using mean = dev.fromArray("f32", ref.uniform(rand, 4 * headDim), [4, headDim]);
  using cov = dev.fromArray("f32", ref.uniform(rand, 4 * headDim * headDim), [4, headDim, headDim]);
  using out = dev.empty("f32", [rows]).fill(NaN);
  const i32 = (...values: number[]) => new Int32Array(values);
  const expected = (offsets: Int32Array, lengths: Int32Array, m = mean, c = cov, eps = 0) => () =>
    ops.expectedAttentionScores(out, k, v, offsets, lengths, m, c, eps);
  const keys = (offsets: Int32Array, lengths: Int32Array, mode: ops.KeyScoreMode = "knorm") => () =>
    ops.keyScores(out, k, offsets, lengths, mode);

  for (const call of [expected, keys]) {
    refuses(call(i32(0, 6), i32(5, 5)), SHAPE, /head 1's rows 6 .. 10 fall outside the 10 rows/);
    refuses(call(i32(-1, 5), i32(2, 2)), SHAPE, /head 0's rows -1 .. 0 fall outside/);
    refuses(call(i32(0, 3), i32(4, 2)), SHAPE, /head 0's rows 0 .. 3 overlap head 1's span/);
    refuses(call(i32(4, 0), i32(2, 2)), SHAPE, /overlap head 1's span, which starts at row 0/);
    refuses(call(i32(0, 5), i32(0, 2)), INVALID_ARGUMENT, /head 0 has length 0/);
    refuses(call(i32(0, 5), i32(2)), SHAPE, /lengths must hold offsets.length = 2 entries, got 1/);
    refuses(call(i32(), i32()), SHAPE, /offsets must hold one entry per KV head/);
  }
  refuses(expected(i32(0, 3, 6), i32(2, 2, 2)), SHAPE, /q_heads \(4\) is not a multiple of kv_heads \(3\)/);
  refuses(
    expected(i32(0, 5), i32(2, 2), mean, cov, -0.1),
    INVALID_ARGUMENT,
    /epsilon must be finite and >= 0/,
  );
  refuses(expected(i32(0, 5), i32(2, 2), mean, cov, NaN), INVALID_ARGUMENT, /epsilon/);
  refuses(
    keys(i32(0, 5), i32(2, 2), "max" as ops.KeyScoreMode),
    INVALID_ARGUMENT,
    /mode must be knorm or keydiff, got max/,
  );
  const s = dev.symbols;
  const native = (status: number) => () => dev.check("lukv_key_scores", status);
  refuses(
    native(
      s.lukv_key_scores(out.pointer, k.pointer, i32(0), i32(2), BigInt(rows), 1n, BigInt(headDim), 7, null),
    ),
    INVALID_ARGUMENT,
    /unknown mode 7/,
  );
  refuses(
    native(
      s.lukv_key_scores(out.pointer, k.pointer, null, i32(2), BigInt(rows), 1n, BigInt(headDim), 0, null),
    ),
    INVALID_ARGUMENT,
    /offsets is NULL/,
  );
  refuses(
    native(
      s.lukv_key_scores(k.pointer, k.pointer, i32(0), i32(2), BigInt(rows), 1n, BigInt(headDim), 0, null),
    ),
    INVALID_ARGUMENT,
    /out and k overlap/,
  );

  // Tensor shapes are checked before any native call.
  using short = dev.empty("f32", [rows - 1]);
  using v9 = dev.empty("f32", [rows - 1, headDim]);
  using mean3 = dev.empty("f32", [4, headDim, 1]);
  using covBad = dev.empty("f32", [4, headDim, headDim - 1]);
  const spans = [i32(0, 5), i32(2, 2)] as const;
  refuses(
    () => ops.expectedAttentionScores(short, k, v, ...spans, mean, cov, 0),
    SHAPE,
    /out must have shape \[10\]/,
  );
  refuses(
    () => ops.expectedAttentionScores(out, k, v9, ...spans, mean, cov, 0),
    SHAPE,
    /v must have shape \[10, 8\]/,
  );
  refuses(
    () => ops.expectedAttentionScores(out, k, v, ...spans, mean3, cov, 0),
    SHAPE,
    /mean must have shape/,
  );
  refuses(
    () => ops.expectedAttentionScores(out, k, v, ...spans, mean, covBad, 0),
    SHAPE,
    /cov must have shape \[4, 8, 8\]/,
  );
  refuses(() => ops.keyScores(short, k, ...spans, "knorm"), SHAPE, /out must have shape \[10\]/);
  if (dev.kind === "cuda") {
    // The CUDA kernels stop at head_dim 256 (shared memory and registers); the CPU takes any.
    using wide = dev.zeros("f32", [2, 264]);
    using wideCov = dev.zeros("f32", [1, 264, 264]);
    const { UNSUPPORTED } = STATUS;
    const [one, two] = [i32(0), i32(2)];
    refuses(
      () => ops.expectedAttentionScores(out.rows(0, 2), wide, wide, one, two, wide.rows(0, 1), wideCov, 0),
      UNSUPPORTED,
      /head_dim 264 is above the CUDA maximum of 256/,
    );
    refuses(() => ops.keyScores(out.rows(0, 2), wide, one, two, "keydiff"), UNSUPPORTED, /head_dim 264/);
  }
  assert.ok(out.toHost().every(Number.isNaN), "a refused call left out as it was");

  // Query moments: shapes, then overlapping outputs.
  using sum = dev.zeros("f32", [4, headDim]);
  using outer = dev.zeros("f32", [4, headDim, headDim]);
  using q = dev.zeros("f32", [3, 4 * headDim]);
  using q3 = dev.zeros("f32", [3, 4, headDim]);
  using qWrong = dev.zeros("f32", [3, 5 * headDim]);
  refuses(() => ops.queryMoments(sum, outer, qWrong, mean), SHAPE, /q must have shape \[\*, 32\]/);
  refuses(
    () => ops.queryMoments(sum, outer, q3.reshape([3, 2, 2 * headDim]), mean),
    SHAPE,
    /q must have shape \[\*, 4, 8\]/,
  );
  refuses(
    () => ops.queryMoments(sum, cov.reshape([4, headDim * headDim]), q, mean),
    SHAPE,
    /outer must have shape/,
  );
  refuses(() => ops.queryMoments(sum, outer, q, mean3), SHAPE, /shift must have shape \[\*, \*\]/);
  refuses(
    () =>
      dev.check(
        "lukv_query_moments",
        s.lukv_query_moments(sum.pointer, cov.pointer, cov.pointer, mean.pointer, 3n, 4n, 8n, null),
      ),
    INVALID_ARGUMENT,
    /outer and q overlap/,
  );
  refuses(
    () =>
      dev.check(
        "lukv_query_moments",
        s.lukv_query_moments(null, outer.pointer, q.pointer, mean.pointer, 3n, 4n, 8n, null),
      ),
    INVALID_ARGUMENT,
    /sum is NULL/,
  );
  refuses(
    () =>
      dev.check(
        "lukv_query_moments",
        s.lukv_query_moments(sum.pointer, outer.pointer, q.pointer, mean.pointer, 4n, 4n, 8n, null),
      ),
    SHAPE,
    /q/,
  );
  assert.ok(sum.toHost().every((x) => x === 0) && outer.toHost().every((x) => x === 0), "moments untouched");
});
