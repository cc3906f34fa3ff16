/** randomLlama: weights drawn on the device (uniform, fan-in scaled, norms 1), the same model on every device for a seed. */

import assert from "node:assert/strict";
import type { ModelConfig } from "../../src/model/config.ts";
import { LLAMA_3_1_8B, randomLlama } from "../../src/model/random_model.ts";
import { cpuDevice, deviceTest } from "../backend/devices.ts";
import { relativeError } from "../backend/reference.ts";

const SMALL: ModelConfig = {
  ...LLAMA_3_1_8B,
  vocabSize: 300,
  hiddenSize: 64,
  intermediateSize: 96,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  headDim: 16,
  maxPositionEmbeddings: 64,
  qkvBias: true,
  qkNorm: true,
};
const PROMPT = Int32Array.from({ length: 20 }, (_, i) => (i * 37) % 300);

function logitsOf(model: ReturnType<typeof randomLlama>): Float32Array {
  using cache = model.newCache(PROMPT.length);
  using hidden = model.forward.run(PROMPT, cache);
  return model.forward.logits(hidden);
}

deviceTest("randomLlama makes the same f32 model on every device for a seed", (dev) => {
  using mine = randomLlama(SMALL, dev, { seed: 5, dtype: "f32" });
  using cpu = randomLlama(SMALL, cpuDevice(), { seed: 5 });
  const error = relativeError(logitsOf(mine), logitsOf(cpu));
  assert.ok(error <= 1e-4, `relative error ${error.toExponential(2)}`);
});

deviceTest("randomLlama defaults to bf16 matrices on CUDA and f32 on CPU", (dev) => {
  using model = randomLlama(SMALL, dev);
  const want = dev.kind === "cpu" ? "f32" : "bf16";
  assert.equal(model.weights.layers[0].gate.dtype, want);
  assert.equal(model.weights.layers[0].inputNorm.dtype, "f32");
  assert.ok(Number.isFinite(logitsOf(model).reduce((a, b) => a + b, 0)));
});

Deno.test("randomLlama: uniform fan-in scaled matrices, unit norms, seeds that matter", () => {
  using model = randomLlama(SMALL, cpuDevice(), { seed: 1 });
  const down = model.weights.layers[1].down.toHost();
  const bound = 1 / Math.sqrt(SMALL.intermediateSize);
  assert.ok(down.every((v) => Math.abs(v) <= bound), "|w| <= 1/sqrt(fan-in)");
  assert.ok(Math.max(...down) > 0.9 * bound && Math.min(...down) < -0.9 * bound, "spans the range");
  assert.deepEqual([...model.weights.layers[0].postNorm.toHost()], new Array(SMALL.hiddenSize).fill(1));
  assert.deepEqual([...model.weights.layers[0].qNorm!.toHost()], new Array(SMALL.headDim).fill(1));
  assert.notEqual(model.weights.lmHead, model.weights.embed, "untied");
  const first = logitsOf(model);
  using again = randomLlama(SMALL, cpuDevice(), { seed: 1 });
  assert.deepEqual(logitsOf(again), first, "same seed, same model");
  using other = randomLlama(SMALL, cpuDevice(), { seed: 2 });
  assert.ok(relativeError(logitsOf(other), first) > 0.1, "another seed, another model");
});

Deno.test("randomLlama counts its weight bytes and frees everything it made on close (twice is harmless)", () => {
  const dev = cpuDevice();
  const before = dev.liveBytes();
  const model = randomLlama(SMALL, dev);
  const { hiddenSize: h, intermediateSize: i, heads, kvHeads, headDim: d, vocabSize: v } = SMALL;
  const perLayer = 2 * h * heads * d + 2 * h * kvHeads * d + 3 * h * i + (heads + 2 * kvHeads) * d + 2 * h +
    2 * d;
  assert.equal(model.parameters, 2 * v * h + SMALL.layers * perLayer + h);
  assert.equal(model.weightBytes, 4 * model.parameters);
  logitsOf(model);
  model.close();
  model.close();
  assert.equal(dev.liveBytes(), before);
});

Deno.test("randomLlama ties the head to the embedding when asked, and refuses bad options", () => {
  const dev = cpuDevice();
  using tied = randomLlama({ ...SMALL, tieWordEmbeddings: true }, dev);
  assert.equal(tied.weights.lmHead, tied.weights.embed);
  assert.throws(() => randomLlama(SMALL, dev, { dtype: "bf16" }), RangeError);
  assert.throws(() => randomLlama(SMALL, dev, { seed: -1 }), RangeError);
  assert.throws(() => randomLlama(SMALL, dev, { dtype: "i32" as "f32" }), TypeError);
});
