/** Parity of the ragged KV cache ops (gather, append, ragged decode attention) and of attention scores with the float64 references. */

import assert from "node:assert/strict";
import { type Device, ops } from "../../mod.ts";
import { deviceTest } from "./devices.ts";
import * as ref from "./reference.ts";

/** Largest accepted error relative to the output's scale: f32 arithmetic, f32 output. */
const F32_TOLERANCE = 2e-5;

function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  label: string,
  tolerance = F32_TOLERANCE,
) {
  const error = ref.relativeError(actual, expected);
  assert.ok(error <= tolerance, `${label}: relative error ${error.toExponential(2)} > ${tolerance}`);
}

/** `count` distinct rows of 0 .. capacity - 1, ascending. */
function keptRows(rand: () => number, capacity: number, count: number): number[] {
  const rows = Array.from({ length: capacity }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(rand() * (capacity - i));
    [rows[i], rows[j]] = [rows[j], rows[i]];
  }
  return rows.slice(0, count).sort((a, b) => a - b);
}

/**
 * Kept sets for `heads` heads of a cache of `capacity` rows: head 0 keeps everything,
 * head 1 (when there is one) a single row, the others `fraction` of the rows or a
 * random count when fraction is undefined.
 */
function keptSets(rand: () => number, heads: number, capacity: number, fraction?: number): number[][] {
  return Array.from({ length: heads }, (_, h) => {
    if (h === 0) return keptRows(rand, capacity, capacity);
    if (h === 1) return keptRows(rand, capacity, 1);
    const count = fraction === undefined
      ? 1 + Math.floor(rand() * capacity)
      : Math.max(1, Math.round(fraction * capacity));
    return keptRows(rand, capacity, count);
  });
}

/** The gather arguments of kept sets, with `reserve` spare rows after each head's span. */
function raggedLayout(kept: number[][], reserve: number) {
  const indexOffsets = new Int32Array(kept.length + 1);
  const dstOffsets = new Int32Array(kept.length);
  const capacities = new Int32Array(kept.length);
  let row = 0;
  kept.forEach((rows, h) => {
    indexOffsets[h + 1] = indexOffsets[h] + rows.length;
    dstOffsets[h] = row;
    capacities[h] = rows.length + reserve;
    row += capacities[h];
  });
  return {
    indices: Int32Array.from(kept.flat()),
    indexOffsets,
    dstOffsets,
    capacities,
    lengths: Int32Array.from(kept, (rows) => rows.length),
    rows: row,
  };
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

deviceTest("kv_gather: kept rows per head land in order, other rows untouched", (dev) => {
  for (
    const [heads, capacity, headDim, reserve] of [[1, 1, 4, 0], [2, 9, 8, 1], [4, 50, 64, 3], [
      3,
      300,
      128,
      0,
    ], [
      8,
      700,
      33,
      5,
    ]]
  ) {
    const seed = ref.freshSeed(), rand = ref.random(seed);
    const kept = keptSets(rand, heads, capacity);
    if (heads > 2) kept[2] = []; // a head may keep nothing
    const layout = raggedLayout(kept, reserve);
    using src = denseCache(dev, rand, heads, capacity, headDim);
    const sentinel = ref.uniform(rand, layout.rows * headDim, 9);
    using dst = dev.fromArray("f32", sentinel, [layout.rows, headDim]);
    ops.kvGather(dst, src, layout.indices, layout.indexOffsets, layout.dstOffsets);
    const expected = ref.kvGather(
      sentinel,
      src.toHost(),
      layout.indices,
      layout.indexOffsets,
      layout.dstOffsets,
      capacity,
      headDim,
    );
    expectClose(dst.toHost(), expected, `heads=${heads} capacity=${capacity} d=${headDim} seed=${seed}`, 0);
  }
});

deviceTest("kv_append: one row per head at offset + length, up to the last free row", (dev) => {
  const seed = ref.freshSeed(), rand = ref.random(seed);
  const [heads, headDim] = [5, 16];
  const capacities = Int32Array.from({ length: heads }, () => 1 + Math.floor(rand() * 6));
  const offsets = new Int32Array(heads);
  for (let h = 1; h < heads; h++) offsets[h] = offsets[h - 1] + capacities[h - 1] + (h % 2);
  const rows = offsets[heads - 1] + capacities[heads - 1];
  const lengths = Int32Array.from(capacities, (c) => Math.floor(rand() * c));
  lengths[0] = capacities[0] - 1; // the last free row of head 0
  const initial = ref.uniform(rand, rows * headDim, 9);
  using dst = dev.fromArray("f32", initial, [rows, headDim]);
  const rowsNew = ref.uniform(rand, heads * headDim);
  using src = dev.fromArray("f32", rowsNew, [heads, headDim]);
  ops.kvAppend(dst, src, offsets, lengths, capacities);
  const expected = Float64Array.from(initial);
  for (let h = 0; h < heads; h++) {
    expected.set(rowsNew.subarray(h * headDim, (h + 1) * headDim), (offsets[h] + lengths[h]) * headDim);
  }
  expectClose(dst.toHost(), expected, `seed=${seed}`, 0);
});

deviceTest("attention_decode_ragged equals dense decode attention restricted to the kept rows", (dev) => {
  for (const gqa of [1, 2, 4]) {
    for (const headDim of [64, 128]) {
      const cases: [kvHeads: number, capacity: number, fraction?: number][] = [[2, 40], [4, 700, 0.2], [
        3,
        5000,
        0.3,
      ]];
      for (const [kvHeads, capacity, fraction] of cases) {
        const seed = ref.freshSeed(), rand = ref.random(seed);
        const qHeads = kvHeads * gqa;
        const kept = keptSets(rand, kvHeads, capacity, fraction);
        const layout = raggedLayout(kept, 2);
        using kDense = denseCache(dev, rand, kvHeads, capacity, headDim);
        using vDense = denseCache(dev, rand, kvHeads, capacity, headDim);
        using k = dev.zeros("f32", [layout.rows, headDim]);
        using v = dev.zeros("f32", [layout.rows, headDim]);
        ops.kvGather(k, kDense, layout.indices, layout.indexOffsets, layout.dstOffsets);
        ops.kvGather(v, vDense, layout.indices, layout.indexOffsets, layout.dstOffsets);
        const q = ref.uniform(rand, qHeads * headDim, 2);
        using tq = dev.fromArray("f32", q, [qHeads, headDim]);
        using out = dev.empty("f32", [qHeads, headDim]);
        ops.attentionDecodeRagged(out, tq, k, v, layout.dstOffsets, layout.lengths);
        const scale = 1 / Math.sqrt(headDim);
        const expected = ref.attentionKept(
          q,
          kDense.toHost(),
          vDense.toHost(),
          kept,
          capacity,
          qHeads,
          headDim,
          scale,
        );
        expectClose(
          out.toHost(),
          expected,
          `gqa=${gqa} d=${headDim} kvHeads=${kvHeads} capacity=${capacity} seed=${seed}`,
        );
      }
    }
  }
});

deviceTest("attention_decode_ragged after appends sees the new rows", (dev) => {
  const seed = ref.freshSeed(), rand = ref.random(seed);
  const [kvHeads, qHeads, headDim, capacity] = [2, 4, 32, 30];
  const kept = keptSets(rand, kvHeads, capacity, 0.5);
  const layout = raggedLayout(kept, 1);
  using kDense = denseCache(dev, rand, kvHeads, capacity + 1, headDim);
  using vDense = denseCache(dev, rand, kvHeads, capacity + 1, headDim);
  using k = dev.zeros("f32", [layout.rows, headDim]);
  using v = dev.zeros("f32", [layout.rows, headDim]);
  ops.kvGather(k, kDense, layout.indices, layout.indexOffsets, layout.dstOffsets);
  ops.kvGather(v, vDense, layout.indices, layout.indexOffsets, layout.dstOffsets);
  // The new token is row `capacity` of the dense caches: append it to every head.
  const newest = (cache: Float32Array) =>
    Float32Array.from(
      { length: kvHeads * headDim },
      (_, i) => cache[(Math.floor(i / headDim) * (capacity + 1) + capacity) * headDim + (i % headDim)],
    );
  using kNew = dev.fromArray("f32", newest(kDense.toHost()), [kvHeads, headDim]);
  using vNew = dev.fromArray("f32", newest(vDense.toHost()), [kvHeads, headDim]);
  ops.kvAppend(k, kNew, layout.dstOffsets, layout.lengths, layout.capacities);
  ops.kvAppend(v, vNew, layout.dstOffsets, layout.lengths, layout.capacities);
  for (let h = 0; h < kvHeads; h++) layout.lengths[h]++;
  const q = ref.uniform(rand, qHeads * headDim, 2);
  using tq = dev.fromArray("f32", q, [qHeads, headDim]);
  using out = dev.empty("f32", [qHeads, headDim]);
  ops.attentionDecodeRagged(out, tq, k, v, layout.dstOffsets, layout.lengths, 0.3);
  const keptNow = kept.map((rows) => [...rows, capacity]);
  const expected = ref.attentionKept(
    q,
    kDense.toHost(),
    vDense.toHost(),
    keptNow,
    capacity + 1,
    qHeads,
    headDim,
    0.3,
  );
  expectClose(out.toHost(), expected, `seed=${seed}`);
});

const SCORE_SHAPES = [
  // tokens, qPos0, kvLen, capacity, qHeads, kvHeads, headDim
  [1, 0, 1, 1, 1, 1, 4],
  [20, 40, 100, 110, 2, 2, 16], // a block in the middle of the prompt, GQA 1
  [7, 13, 30, 30, 4, 2, 7], // GQA 2, odd head_dim
  [32, 268, 300, 305, 8, 2, 64], // SnapKV's window at the end of the prompt, GQA 4
  [9, 0, 9, 12, 4, 1, 128], // H2O's first chunk
  [32, 1500, 2000, 2000, 8, 2, 128], // long prompt: many key tiles on CUDA
];

deviceTest("attention_scores accumulates causal probabilities summed over queries and GQA group", (dev) => {
  for (const [tokens, qPos0, kvLen, capacity, qHeads, kvHeads, headDim] of SCORE_SHAPES) {
    const seed = ref.freshSeed(), rand = ref.random(seed);
    const shape = { tokens, qPos0, kvLen, capacity, qHeads, kvHeads, headDim };
    const q = ref.uniform(rand, tokens * qHeads * headDim, 2);
    using k = denseCache(dev, rand, kvHeads, capacity, headDim);
    using tq = dev.fromArray("f32", q, [tokens, qHeads, headDim]);
    const initial = ref.uniform(rand, kvHeads * kvLen, 3);
    using out = dev.fromArray("f32", initial, [kvHeads, kvLen]);
    ops.attentionScores(out, tq, k, qPos0, kvLen, 0.2);
    const expected = ref.attentionScores(initial, q, k.toHost(), shape, 0.2);
    const label = `${JSON.stringify(shape)} seed=${seed}`;
    expectClose(out.toHost(), expected, label);
    const got = out.toHost();
    for (let h = 0; h < kvHeads; h++) {
      for (let j = qPos0 + tokens; j < kvLen; j++) {
        assert.equal(got[h * kvLen + j], initial[h * kvLen + j], `${label}: key ${j} is unseen, must stay`);
      }
    }
  }
});

deviceTest(
  "attention_scores over two blocks equals one call over both; each query adds 1 per head",
  (dev) => {
    const seed = ref.freshSeed(), rand = ref.random(seed);
    const [tokens, qPos0, kvLen, capacity, qHeads, kvHeads, headDim] = [24, 50, 80, 90, 8, 2, 64];
    const q = ref.uniform(rand, tokens * qHeads * headDim, 2);
    using k = denseCache(dev, rand, kvHeads, capacity, headDim);
    using tq = dev.fromArray("f32", q, [tokens, qHeads, headDim]);
    using whole = dev.zeros("f32", [kvHeads, kvLen]);
    ops.attentionScores(whole, tq, k, qPos0, kvLen);
    using split = dev.zeros("f32", [kvHeads, kvLen]);
    const first = 10, width = qHeads * headDim;
    using a = dev.fromArray("f32", q.subarray(0, first * width), [first, qHeads, headDim]);
    using b = dev.fromArray("f32", q.subarray(first * width), [tokens - first, qHeads, headDim]);
    ops.attentionScores(split, a, k, qPos0, kvLen);
    ops.attentionScores(split, b, k, qPos0 + first, kvLen);
    expectClose(split.toHost(), whole.toHost(), `seed=${seed}`, 1e-6);
    const perHead = qHeads / kvHeads * tokens;
    const sums = Array.from(
      { length: kvHeads },
      (_, h) => whole.toHost().subarray(h * kvLen, (h + 1) * kvLen),
    )
      .map((row) => row.reduce((s, x) => s + x, 0));
    for (const sum of sums) assert.ok(Math.abs(sum - perHead) < 1e-3, `row sum ${sum} != ${perHead}`);
  },
);
