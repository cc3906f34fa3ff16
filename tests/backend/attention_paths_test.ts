/**
 * The code paths of the one-pass CPU attention kernels against straightforward float64
 * references: decode heads cut into chunks and merged (a chunk is 32768 / head_dim rows
 * rounded down to 16, chunked the same on any thread count), blocks of 16 key rows with a
 * partial last block, head_dim not a multiple of the vector width, GQA groups of 1 to 8
 * (and 20, wider than a prefill tile), causal limits that end inside a block.
 */

import assert from "node:assert/strict";
import { ops } from "../../mod.ts";
import { deviceTest } from "./devices.ts";
import * as ref from "./reference.ts";

/** f32 arithmetic against a float64 reference, relative to the output's scale. */
const TOLERANCE = 1e-5;

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string) {
  const error = ref.relativeError(actual, expected);
  assert.ok(error <= TOLERANCE, `${label}: relative error ${error.toExponential(2)} > ${TOLERANCE}`);
}

/** Rows of one decode chunk, as kernels/cpu/attention.c's chunk_rows computes them. */
function chunkRows(headDim: number): number {
  return Math.max(16, Math.floor(32768 / headDim / 16) * 16);
}

/**
 * Decode attention of q [qHeads, d] over a ragged cache: KV head h holds lengths[h] rows
 * of k, v [rows, d] from row offsets[h]. The dense reference with capacity 0 reads absolute
 * rows of one buffer, which is the ragged layout.
 */
function raggedReference(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  offsets: Int32Array,
  lengths: Int32Array,
  qHeads: number,
  d: number,
  scale: number,
): Float64Array {
  const kept = Array.from(lengths, (n, h) => Array.from({ length: n }, (_, s) => offsets[h] + s));
  return ref.attentionKept(q, k, v, kept, 0, qHeads, d, scale);
}

deviceTest("attention_decode_ragged: chunk splits, partial blocks, odd head_dim, groups 1 to 8", (dev) => {
  const cases: [group: number, headDim: number][] = [
    ...[1, 2, 3, 4, 5, 6, 7, 8].map((group): [number, number] => [group, 64]),
    [4, 128],
    [3, 40],
    [5, 8],
    [2, 72],
  ];
  for (const [group, headDim] of cases) {
    const seed = ref.freshSeed(), rand = ref.random(seed);
    const chunk = chunkRows(headDim);
    // One row, around a block of 16, around a chunk, and several chunks plus a partial block.
    const lengths = Int32Array.from([1, 15, 16, 17, chunk - 1, chunk, chunk + 1, 2 * chunk + 5]);
    const kvHeads = lengths.length, qHeads = kvHeads * group;
    const offsets = new Int32Array(kvHeads);
    for (let h = 1; h < kvHeads; h++) offsets[h] = offsets[h - 1] + lengths[h - 1] + 3;
    const rows = offsets[kvHeads - 1] + lengths[kvHeads - 1] + 2;
    // Keys that grow along the sequence make later blocks raise the running max.
    const k = Float32Array.from(
      ref.uniform(rand, rows * headDim, 2),
      (x, i) => x * (1 + (i / headDim) * 1e-3),
    );
    const v = Float32Array.from(ref.uniform(rand, rows * headDim));
    const q = Float32Array.from(ref.uniform(rand, qHeads * headDim, 3));
    using tk = dev.fromArray("f32", k, [rows, headDim]);
    using tv = dev.fromArray("f32", v, [rows, headDim]);
    using tq = dev.fromArray("f32", q, [qHeads, headDim]);
    using out = dev.empty("f32", [qHeads, headDim]);
    const scale = 1 / Math.sqrt(headDim);
    ops.attentionDecodeRagged(out, tq, tk, tv, offsets, lengths, scale);
    const expected = raggedReference(q, k, v, offsets, lengths, qHeads, headDim, scale);
    expectClose(out.toHost(), expected, `group=${group} d=${headDim} seed=${seed}`);
  }
});

deviceTest("attention_decode over several chunks equals the reference", (dev) => {
  for (const [kvLen, qHeads, kvHeads, headDim] of [[1300, 6, 2, 64], [700, 7, 1, 128], [2000, 8, 8, 20]]) {
    const seed = ref.freshSeed(), rand = ref.random(seed);
    const capacity = kvLen + 5;
    const k = ref.uniform(rand, kvHeads * capacity * headDim, 2),
      v = ref.uniform(rand, kvHeads * capacity * headDim);
    const q = ref.uniform(rand, qHeads * headDim, 2);
    using kc = dev.fromArray("f32", k, [kvHeads, capacity, headDim]);
    using vc = dev.fromArray("f32", v, [kvHeads, capacity, headDim]);
    using tq = dev.fromArray("f32", q, [qHeads, headDim]);
    using out = dev.empty("f32", [qHeads, headDim]);
    ops.attentionDecode(out, tq, kc, vc, kvLen, 0.2);
    const shape = { tokens: 1, kvLen, capacity, qHeads, kvHeads, headDim };
    expectClose(
      out.toHost(),
      ref.attention(q, kc.toHost(), vc.toHost(), shape, 0.2),
      `${JSON.stringify(shape)} seed=${seed}`,
    );
  }
});

deviceTest(
  "attention_prefill: tiles of tokens and heads, causal limits inside blocks, groups 1 to 8 and 20",
  (dev) => {
    const shapes: [tokens: number, kvLen: number, qHeads: number, kvHeads: number, headDim: number][] = [
      [17, 17, 2, 2, 64], // group 1: 16 tokens per tile and one more
      [7, 40, 6, 2, 64], // group 3 after a cached prefix
      [9, 9, 5, 1, 72], // group 5, head_dim not a multiple of 16
      [20, 33, 14, 2, 8], // group 7, head_dim 8
      [13, 13, 16, 2, 128], // group 8
      [5, 50, 20, 1, 16], // group 20: two slices of the group per token
    ];
    for (const [tokens, kvLen, qHeads, kvHeads, headDim] of shapes) {
      const seed = ref.freshSeed(), rand = ref.random(seed);
      const capacity = kvLen + 3;
      const q = ref.uniform(rand, tokens * qHeads * headDim, 2);
      const k = ref.uniform(rand, kvHeads * capacity * headDim, 2),
        v = ref.uniform(rand, kvHeads * capacity * headDim);
      using kc = dev.fromArray("f32", k, [kvHeads, capacity, headDim]);
      using vc = dev.fromArray("f32", v, [kvHeads, capacity, headDim]);
      using tq = dev.fromArray("f32", q, [tokens, qHeads, headDim]);
      using out = dev.empty("f32", [tokens, qHeads, headDim]);
      ops.attentionPrefill(out, tq, kc, vc, kvLen);
      const shape = { tokens, kvLen, capacity, qHeads, kvHeads, headDim };
      const expected = ref.attention(q, kc.toHost(), vc.toHost(), shape, 1 / Math.sqrt(headDim));
      expectClose(out.toHost(), expected, `${JSON.stringify(shape)} seed=${seed}`);
    }
  },
);
