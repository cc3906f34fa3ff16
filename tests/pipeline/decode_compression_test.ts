/** Decode-time compression: memory follows the press's rate over long generations, and nothing changes before the first compression. */

import assert from "node:assert/strict";
import { loadModel } from "../../src/pipeline/model.ts";
import { parsePressName, PRESS_NAMES } from "../../src/press/registry.ts";

const MODEL = new URL("../../models/tiny/", import.meta.url).pathname;
const FIXTURE = new URL("../fixtures/models/llama-llama3rope/", import.meta.url).pathname;

Deno.test("a 1,500-token generation with snapkv at 0.5 compressed every 64 tokens ends under 60% of a full cache", async () => {
  using model = await loadModel(MODEL, { device: "cpu" });
  const prompt = "The train left the station at noon. Alice counted the cars while Bob read the map. ";
  const options = { press: "snapkv", compressionRatio: 0.5, stopAtEos: false } as const;
  const plain = model.generate(prompt, { ...options, maxNewTokens: 80 });
  const run = model.generate(prompt, { ...options, maxNewTokens: 1500, compressEvery: 64 });
  await plain.stats();
  const stats = await run.stats();
  assert.equal(stats.newTokens, 1500, "it keeps generating");
  assert.ok(
    stats.kvBytes <= 0.6 * stats.kvBytesFull,
    `${stats.kvBytes} bytes held, ${(100 * stats.kvBytes / stats.kvBytesFull).toFixed(1)}% of a full cache`,
  );
  // The first compression runs after the 64th token is fed back: the first 65 tokens are the plain run's.
  assert.deepEqual(run.tokens.slice(0, 65), plain.tokens.slice(0, 65));
});

Deno.test("every scorer and allocator compresses during decoding, each head keeping its share", async () => {
  using model = await loadModel(FIXTURE, { device: "cpu" });
  const { layers, kvHeads } = model.config;
  const prompt = Int32Array.from({ length: 30 }, (_, i) => i === 0 ? 285 : 32 + ((i * 37) % 220));
  const presses = PRESS_NAMES.filter((n) => n !== "full" && parsePressName(n).allocator !== "lukv");
  for (const press of presses) {
    const run = model.generate(prompt, {
      press,
      compressionRatio: 0.5,
      maxNewTokens: 90,
      compressEvery: 16,
      stopAtEos: false,
      sink: 2,
      window: 4,
    });
    const stats = await run.stats();
    assert.equal(stats.newTokens, 90, press);
    // After the last compression (80 tokens in, 110 seen) the layers keep about half, plus the 9 rows appended
    // since and 16 free rows per head; keeping every decoded token would be 15 + 89 + free rows per head.
    const rowBytes = 2 * model.config.headDim * 4, heads = layers * kvHeads;
    const held = stats.kvBytes / rowBytes / heads;
    assert.ok(held <= 0.5 * 110 + 2 + 9 + 16, `${press}: ${held.toFixed(1)} rows per head`);
  }
});

Deno.test("compressEvery is refused without a compressing press, or when not a positive integer", async () => {
  using model = await loadModel(FIXTURE, { device: "cpu" });
  assert.throws(
    () => model.generate("Hi", { compressEvery: 16 }),
    /compressEvery needs a press that compresses/,
  );
  for (const every of [0, 1.5, -3]) {
    assert.throws(
      () => model.generate("Hi", { press: "snapkv", compressionRatio: 0.5, compressEvery: every }),
      /compressEvery must be a positive integer/,
    );
  }
});
