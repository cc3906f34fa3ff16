/** Parity of every native op with the float64 references, on fresh random inputs. */

import assert from "node:assert/strict";
import { type Device, type DType, ops } from "../../mod.ts";
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

const MATMUL_SHAPES = [
  [1, 1, 1],
  [1, 7, 13],
  [3, 5, 9],
  [4, 3, 8],
  [5, 17, 33],
  [9, 64, 100],
  [1, 257, 520],
  [33, 130, 515],
];

deviceTest("matmul f32 with and without bias", (dev) => {
  for (const [m, n, k] of MATMUL_SHAPES) {
    for (const withBias of [false, true]) {
      const seed = ref.freshSeed(), rand = ref.random(seed);
      const x = ref.uniform(rand, m * k), w = ref.uniform(rand, n * k), b = ref.uniform(rand, n);
      using tx = dev.fromArray("f32", x, [m, k]);
      using tw = dev.fromArray("f32", w, [n, k]);
      using tb = dev.fromArray("f32", b, [n]);
      using ty = dev.empty("f32", [m, n]);
      ops.matmul(ty, tx, tw, withBias ? tb : undefined);
      expectClose(
        ty.toHost(),
        ref.matmul(x, w, withBias ? b : null, m, n, k),
        `m=${m} n=${n} k=${k} seed=${seed}`,
      );
    }
  }
});

deviceTest("matmul with f16 and bf16 weights equals f32 arithmetic on the widened weights", (dev) => {
  const halves: [DType, (v: Float32Array) => Uint16Array, (b: Uint16Array) => Float32Array][] = [
    ["f16", ref.toF16, ref.fromF16],
    ["bf16", ref.toBf16, ref.fromBf16],
  ];
  // CUDA: m > 8 takes cuBLAS on weights widened block by block; the extra shape spans two
  // blocks of 2^24 widened weights. CPU: k = 1037 crosses two depth blocks and a tail.
  const shapes = [...MATMUL_SHAPES, dev.kind === "cpu" ? [6, 11, 1037] : [12, 4099, 4097]];
  for (const [dtype, encode, decode] of halves) {
    for (const [m, n, k] of shapes) {
      for (const withBias of [false, true]) {
        const seed = ref.freshSeed(), rand = ref.random(seed);
        const x = ref.uniform(rand, m * k), bits = encode(ref.uniform(rand, n * k));
        const b = ref.uniform(rand, n);
        using tx = dev.fromArray("f32", x, [m, k]);
        using tw = dev.fromArray(dtype as "f16", bits, [n, k]);
        using tb = dev.fromArray("f32", b, [n]);
        using ty = dev.empty("f32", [m, n]);
        ops.matmul(ty, tx, tw, withBias ? tb : undefined);
        expectClose(
          ty.toHost(),
          ref.matmul(x, decode(bits), withBias ? b : null, m, n, k),
          `${dtype} m=${m} n=${n} k=${k} bias=${withBias} seed=${seed}`,
        );
      }
    }
  }
});

deviceTest("rmsnorm", (dev) => {
  for (const [rows, dim] of [[1, 1], [1, 64], [3, 7], [5, 1000], [17, 4096]]) {
    const seed = ref.freshSeed(), rand = ref.random(seed);
    const x = ref.uniform(rand, rows * dim, 3), weight = ref.uniform(rand, dim);
    using tx = dev.fromArray("f32", x, [rows, dim]);
    using tw = dev.fromArray("f32", weight, [dim]);
    using ty = dev.empty("f32", [rows, dim]);
    ops.rmsnorm(ty, tx, tw, 1e-5);
    expectClose(ty.toHost(), ref.rmsnorm(x, weight, rows, dim, 1e-5), `rows=${rows} dim=${dim} seed=${seed}`);
    ops.rmsnorm(tx, tx, tw, 1e-5); // in place
    expectClose(tx.toHost(), ty.toHost(), `in place rows=${rows} dim=${dim}`, 0);
  }
});

deviceTest("rope at several offsets", (dev) => {
  for (
    const [rows, heads, headDim, pos0] of [[1, 1, 2, 0], [3, 2, 8, 5], [7, 3, 64, 0], [1, 8, 128, 99], [
      13,
      5,
      6,
      2,
    ]]
  ) {
    const seed = ref.freshSeed(), rand = ref.random(seed);
    const tableLen = pos0 + rows + 3, half = headDim / 2;
    const angles = Float64Array.from({ length: tableLen * half }, (_, i) => Math.floor(i / half) * rand());
    const cos = Float32Array.from(angles, Math.cos), sin = Float32Array.from(angles, Math.sin);
    const x = ref.uniform(rand, rows * heads * headDim);
    using tx = dev.fromArray("f32", x, [rows, heads, headDim]);
    using tc = dev.fromArray("f32", cos, [tableLen, half]);
    using ts = dev.fromArray("f32", sin, [tableLen, half]);
    ops.rope(tx, tc, ts, pos0);
    expectClose(
      tx.toHost(),
      ref.rope(x, cos, sin, rows, heads, headDim, pos0),
      `[${rows},${heads},${headDim}] seed=${seed}`,
    );
  }
});

deviceTest("silu_mul and add, including in place", (dev) => {
  for (const count of [1, 7, 4096, 100_003]) {
    const seed = ref.freshSeed(), rand = ref.random(seed);
    const a = ref.uniform(rand, count, 6), b = ref.uniform(rand, count);
    using ta = dev.fromArray("f32", a), tb = dev.fromArray("f32", b), out = dev.empty("f32", [count]);
    ops.siluMul(out, ta, tb);
    expectClose(out.toHost(), ref.siluMul(a, b), `silu_mul count=${count} seed=${seed}`);
    ops.add(ta, ta, tb);
    expectClose(ta.toHost(), Float64Array.from(a, (v, i) => v + b[i]), `add count=${count} seed=${seed}`);
  }
});

deviceTest("embedding gathers f32, f16 and bf16 rows", (dev) => {
  const seed = ref.freshSeed(), rand = ref.random(seed);
  const [vocab, dim] = [37, 24];
  const table = ref.uniform(rand, vocab * dim);
  const ids = Int32Array.from({ length: 11 }, () => Math.floor(rand() * vocab));
  ids[0] = 0, ids[1] = vocab - 1;
  const variants: [DType, Float32Array | Uint16Array, Float32Array][] = [
    ["f32", table, table],
    ["f16", ref.toF16(table), ref.fromF16(ref.toF16(table))],
    ["bf16", ref.toBf16(table), ref.fromBf16(ref.toBf16(table))],
  ];
  for (const [dtype, data, values] of variants) {
    using tt = dev.fromArray(dtype as "f32", data as Float32Array, [vocab, dim]);
    using out = dev.empty("f32", [ids.length, dim]);
    ops.embedding(out, tt, ids);
    const expected = Float32Array.from(
      { length: ids.length * dim },
      (_, i) => values[ids[Math.floor(i / dim)] * dim + (i % dim)],
    );
    expectClose(out.toHost(), expected, `${dtype} seed=${seed}`, 0);
  }
});

deviceTest("softmax", (dev) => {
  for (const [rows, cols] of [[1, 1], [2, 3], [5, 1000], [3, 32000]]) {
    const seed = ref.freshSeed(), rand = ref.random(seed);
    const x = ref.uniform(rand, rows * cols, 20);
    using tx = dev.fromArray("f32", x, [rows, cols]);
    ops.softmax(tx, tx);
    expectClose(tx.toHost(), ref.softmax(x, rows, cols), `[${rows},${cols}] seed=${seed}`);
  }
});

deviceTest("convert between f32, f16 and bf16 rounds like IEEE", (dev) => {
  const seed = ref.freshSeed(), rand = ref.random(seed);
  const values = ref.uniform(rand, 5000, 70000);
  values.set([0, -0, 1e-8, -6e-8, 65504, 65520, 1e-5, Infinity, -Infinity, 3.0e-38], 0);
  using src = dev.fromArray("f32", values);
  using half = dev.empty("f16", [values.length]);
  using brain = dev.empty("bf16", [values.length]);
  using back = dev.empty("f32", [values.length]);
  ops.convert(half, src);
  assert.deepEqual(half.toHost(), ref.toF16(values), `f32 -> f16 seed=${seed}`);
  ops.convert(brain, src);
  assert.deepEqual(brain.toHost(), ref.toBf16(values), `f32 -> bf16 seed=${seed}`);
  ops.convert(back, half);
  assert.deepEqual(back.toHost(), ref.fromF16(ref.toF16(values)), "f16 -> f32");
  ops.convert(back, brain);
  assert.deepEqual(back.toHost(), ref.fromBf16(ref.toBf16(values)), "bf16 -> f32");
  using nan = dev.fromArray("f32", new Float32Array([NaN]));
  using nanHalf = dev.empty("f16", [1]);
  ops.convert(nanHalf, nan);
  ops.convert(nan, nanHalf);
  assert.ok(Number.isNaN(nan.toHost()[0]), "NaN survives f32 -> f16 -> f32");
});

/** A dense cache [heads, capacity, headDim] filled by kvWrite in two calls, as prefill then decode would. */
function writeCache(
  dev: Device,
  rows: Float32Array,
  tokens: number,
  heads: number,
  headDim: number,
  capacity: number,
) {
  const cache = dev.zeros("f32", [heads, capacity, headDim]);
  const split = Math.ceil(tokens / 2), width = heads * headDim;
  for (const [start, end] of [[0, split], [split, tokens]]) {
    if (end === start) continue;
    using chunk = dev.fromArray("f32", rows.subarray(start * width, end * width), [
      end - start,
      heads,
      headDim,
    ]);
    ops.kvWrite(cache, chunk, start);
  }
  return cache;
}

const ATTENTION_SHAPES = [
  // tokens, kvLen, capacity, qHeads, kvHeads, headDim
  [1, 1, 1, 1, 1, 4],
  [4, 4, 6, 2, 2, 8], // GQA 1
  [3, 10, 12, 4, 2, 16], // GQA 2, prefill after a cached prefix
  [9, 9, 9, 8, 2, 64], // GQA 4
  [5, 37, 40, 4, 1, 7], // odd head_dim, GQA 4
  [2, 300, 301, 6, 3, 128],
];

deviceTest("kv_write places rows head-major", (dev) => {
  const [tokens, heads, headDim, capacity] = [5, 3, 4, 8];
  const rows = Float32Array.from({ length: tokens * heads * headDim }, (_, i) => i);
  using cache = writeCache(dev, rows, tokens, heads, headDim, capacity);
  const host = cache.toHost();
  for (let t = 0; t < tokens; t++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < headDim; i++) {
        assert.equal(host[(h * capacity + t) * headDim + i], rows[(t * heads + h) * headDim + i]);
      }
    }
  }
  assert.equal(host[(0 * capacity + tokens) * headDim], 0, "rows past the written ones stay untouched");
});

deviceTest("attention_prefill: causal GQA over a dense cache", (dev) => {
  for (const [tokens, kvLen, capacity, qHeads, kvHeads, headDim] of ATTENTION_SHAPES) {
    const seed = ref.freshSeed(), rand = ref.random(seed);
    const q = ref.uniform(rand, tokens * qHeads * headDim, 2);
    const k = ref.uniform(rand, kvLen * kvHeads * headDim, 2),
      v = ref.uniform(rand, kvLen * kvHeads * headDim);
    using kc = writeCache(dev, k, kvLen, kvHeads, headDim, capacity);
    using vc = writeCache(dev, v, kvLen, kvHeads, headDim, capacity);
    using tq = dev.fromArray("f32", q, [tokens, qHeads, headDim]);
    using out = dev.empty("f32", [tokens, qHeads, headDim]);
    ops.attentionPrefill(out, tq, kc, vc, kvLen);
    const shape = { tokens, kvLen, capacity, qHeads, kvHeads, headDim };
    const expected = ref.attention(q, kc.toHost(), vc.toHost(), shape, 1 / Math.sqrt(headDim));
    expectClose(out.toHost(), expected, `${JSON.stringify(shape)} seed=${seed}`);
  }
});

deviceTest("attention_decode: one query over contexts up to 5000", (dev) => {
  for (
    const [kvLen, capacity, qHeads, kvHeads, headDim] of [[1, 1, 1, 1, 4], [17, 20, 4, 4, 8], [
      300,
      310,
      8,
      4,
      64,
    ], [
      5000,
      5003,
      8,
      2,
      64,
    ], [129, 129, 4, 1, 33]]
  ) {
    const seed = ref.freshSeed(), rand = ref.random(seed);
    const q = ref.uniform(rand, qHeads * headDim, 2);
    const k = ref.uniform(rand, kvLen * kvHeads * headDim, 2),
      v = ref.uniform(rand, kvLen * kvHeads * headDim);
    using kc = writeCache(dev, k, kvLen, kvHeads, headDim, capacity);
    using vc = writeCache(dev, v, kvLen, kvHeads, headDim, capacity);
    using tq = dev.fromArray("f32", q, [qHeads, headDim]);
    using out = dev.empty("f32", [qHeads, headDim]);
    ops.attentionDecode(out, tq, kc, vc, kvLen, 0.3);
    const shape = { tokens: 1, kvLen, capacity, qHeads, kvHeads, headDim };
    const expected = ref.attention(q, kc.toHost(), vc.toHost(), shape, 0.3);
    expectClose(out.toHost(), expected, `${JSON.stringify(shape)} seed=${seed}`);
  }
});

deviceTest("argmax: lowest index on ties, NaN rejected", (dev) => {
  for (const [rows, cols] of [[1, 1], [3, 7], [4, 32000]]) {
    const seed = ref.freshSeed(), rand = ref.random(seed);
    const x = ref.uniform(rand, rows * cols);
    using tx = dev.fromArray("f32", x, [rows, cols]);
    const expected = Int32Array.from({ length: rows }, (_, r) => {
      let best = 0;
      for (let i = 1; i < cols; i++) if (x[r * cols + i] > x[r * cols + best]) best = i;
      return best;
    });
    assert.deepEqual(ops.argmax(tx), expected, `[${rows},${cols}] seed=${seed}`);
  }
  using ties = dev.fromArray("f32", new Float32Array([1, 5, 5, 2, 7, 7, 7, 7]), [2, 4]);
  assert.deepEqual(ops.argmax(ties), new Int32Array([1, 0]));
  using nan = dev.fromArray("f32", new Float32Array([1, NaN, 3]), [1, 3]);
  assert.throws(() => ops.argmax(nan), { name: "LukvError", code: 1, message: /NaN/ });
});
