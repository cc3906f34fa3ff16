/** Budget allocators: uniform, PyramidKV's linear pyramid and AdaKV's per-layer top-k with its safeguard. */

import assert from "node:assert/strict";
import type { HeadTable } from "../../src/lukv/tables.ts";
import { adaKvKeep } from "../../src/press/allocators/adakv.ts";
import { pyramidKvKeep, pyramidLayerSizes } from "../../src/press/allocators/pyramidkv.ts";
import { uniformKeep } from "../../src/press/allocators/uniform.ts";
import { random } from "../backend/reference.ts";

const shape = (layers: number, heads: number, length: number): HeadTable => ({
  layers,
  heads,
  length,
  data: new Float32Array(layers * heads * length),
});

Deno.test("uniform keeps round((1 - ratio) * T) in every head, at least one", () => {
  assert.deepEqual([...uniformKeep(shape(2, 2, 100), 0.75)], [25, 25, 25, 25]);
  assert.deepEqual([...uniformKeep(shape(1, 1, 3), 0.9)], [1]);
});

Deno.test("PyramidKV as kvpress computes it: linear from the bottom layer, flattened to fit, else uniform", () => {
  // B = 500, top 25, bottom 975 > T - window = 968: flattened to 968 .. 32, rounded per layer.
  assert.deepEqual(pyramidLayerSizes(4, 1000, 0.5, { window: 32 }), [968, 656, 344, 32]);
  // B = 100: the top layer (5) would keep less than the window, so every layer keeps B (kvpress falls back to SnapKV).
  assert.deepEqual(pyramidLayerSizes(4, 1000, 0.9, { window: 32 }), [100, 100, 100, 100]);
  // kvpress's default window is 64 (B = 2000, top 100, bottom 3900 fits); one layer is uniform.
  assert.deepEqual(pyramidLayerSizes(4, 4000, 0.5), [3900, 2633, 1367, 100]);
  assert.deepEqual([...pyramidKvKeep(shape(1, 2, 100), 0.5)], [50, 50]);
  assert.deepEqual([...pyramidKvKeep(shape(2, 2, 1000), 0.5, { window: 32 })], [968, 968, 32, 32]);
  const keep = pyramidKvKeep(shape(32, 1, 4096), 0.5, { beta: 5 });
  assert.ok(Math.abs(keep.reduce((a, b) => a + b, 0) - 32 * 0.5 * 4096) <= 16, "the mean is B");
  for (let l = 1; l < 32; l++) assert.ok(keep[l] < keep[l - 1]);
});

Deno.test("AdaKV: every head gets its safeguard, the rest goes to the layer's highest scores", () => {
  // Head 0 outscores head 1 everywhere; head 1 still keeps floor(0.2 * 5) = 1.
  const data = new Float32Array(20);
  for (let j = 0; j < 10; j++) [data[j], data[10 + j]] = [10 + j, j];
  assert.deepEqual([...adaKvKeep({ layers: 1, heads: 2, length: 10, data }, 0.5)], [9, 1]);
  // Without a safeguard head 1 gets nothing; with alpha = 1 the split is uniform.
  assert.deepEqual([...adaKvKeep({ layers: 1, heads: 2, length: 10, data }, 0.5, { alpha: 0 })], [10, 0]);
  assert.deepEqual([...adaKvKeep({ layers: 1, heads: 2, length: 10, data }, 0.5, { alpha: 1 })], [5, 5]);
  // Equal scores: earlier position first, then lower head; infinities are fine.
  const flat = new Float32Array([1, 1, 1, 1, 1, 1, Infinity, 1]);
  assert.deepEqual([...adaKvKeep({ layers: 1, heads: 2, length: 4, data: flat }, 0.5, { alpha: 0 })], [2, 2]);
  assert.deepEqual([...adaKvKeep({ layers: 1, heads: 2, length: 4, data: flat }, 0.75, { alpha: 0 })], [
    1,
    1,
  ]);
});

Deno.test("AdaKV on random scores: layer totals are H * B, each head between its safeguard and T", () => {
  const rand = random(11);
  const layers = 3, heads = 4, length = 300;
  const data = Float32Array.from({ length: layers * heads * length }, () => rand() ** (1 + 5 * rand()));
  for (const ratio of [0.3, 0.8, 0.95]) {
    const budget = Math.round((1 - ratio) * length), safe = Math.floor(0.2 * budget);
    const keep = adaKvKeep({ layers, heads, length, data }, ratio);
    for (let l = 0; l < layers; l++) {
      const row = [...keep.subarray(l * heads, (l + 1) * heads)];
      assert.equal(row.reduce((a, b) => a + b, 0), heads * budget);
      row.forEach((k) => assert.ok(k >= safe && k <= length, `${k}`));
    }
  }
});

Deno.test("allocators refuse NaN scores, bad ratios and bad parameters", () => {
  const nan = shape(1, 2, 4);
  nan.data[5] = NaN;
  assert.throws(() => adaKvKeep(nan, 0.5), /scores\[0, 1, 1\] is NaN/);
  for (const ratio of [-0.1, 1, NaN]) {
    assert.throws(() => uniformKeep(shape(1, 1, 4), ratio), /compression ratio/);
  }
  assert.throws(() => pyramidKvKeep(shape(2, 1, 4), 0.5, { beta: 0.5 }), /beta must be a finite number >= 1/);
  assert.throws(() => adaKvKeep(shape(1, 1, 4), 0.5, { alpha: 2 }), /alpha must lie in \[0, 1\]/);
  assert.throws(() => uniformKeep({ ...shape(1, 1, 4), length: 5 }, 0.5), /holds 4 values/);
});
