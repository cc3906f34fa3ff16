/**
 * Decode speed of the model runtime: one decode step (forward of one token + logits)
 * after a prompt of 256 and of 2048 tokens, on a synthetic 27M-parameter Llama
 * (bench/synthetic_model.ts). The 256-token step is the baseline, so the ratio shows
 * what a longer context costs; tokens/s = 1000 / (ms per step).
 * LUKV_BENCH_DEVICE=cpu|cuda|auto picks the device (default auto).
 *
 * ```sh
 * deno bench --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/model.bench.ts
 * ```
 */

import type { DeviceRequest } from "../src/backend/device.ts";
import { loadModel } from "../src/pipeline/model.ts";
import { BENCH_SHAPE, writeSyntheticModel } from "./synthetic_model.ts";

const dir = await Deno.makeTempDir({ prefix: "lukv_bench_model_" });
await writeSyntheticModel(dir, BENCH_SHAPE);
const model = await loadModel(dir, {
  device: (Deno.env.get("LUKV_BENCH_DEVICE") ?? "auto") as DeviceRequest,
});
await Deno.remove(dir, { recursive: true });
console.error(`device: ${model.device.selection}`);

for (const promptLength of [256, 2048]) {
  const prompt = Int32Array.from({ length: promptLength }, (_, i) => (i * 7919) % BENCH_SHAPE.vocab);
  const cache = model.newCache(promptLength + 1);
  model.forward.run(prompt, cache).close();
  const next = new Int32Array([42]);
  Deno.bench(`decode step after ${promptLength} prompt tokens`, {
    group: "decode",
    baseline: promptLength === 256,
  }, () => {
    cache.length = promptLength; // rewind: every iteration decodes position promptLength again
    using hidden = model.forward.run(next, cache);
    model.forward.logits(hidden);
  });
}
