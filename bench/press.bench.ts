/**
 * One decode step at long context with a compressed cache vs the full one: a synthetic
 * model shaped like the embedded tiny model (hidden 256, 6 layers, 8 query / 2 KV heads
 * of 32), prompt of 8192 tokens, `lukv` at 0.8 (uniform stand-in profile: the budgets'
 * shape does not change the step's cost, only its size) against `full` as the baseline.
 * LUKV_BENCH_DEVICE=cpu|cuda|auto picks the device (default auto); LUKV_BENCH_PROMPT the prompt length.
 *
 * ```sh
 * deno bench --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/press.bench.ts
 * ```
 */

import type { DeviceRequest } from "../src/backend/device.ts";
import type { KvCache } from "../src/cache/kv_cache.ts";
import { uniformProfile } from "../src/lukv/profile.ts";
import { loadModel } from "../src/pipeline/model.ts";
import { compressedPrefill } from "../src/pipeline/prefill.ts";
import { makePress } from "../src/press/registry.ts";
import { writeSyntheticModel } from "./synthetic_model.ts";

const PROMPT = Number(Deno.env.get("LUKV_BENCH_PROMPT") ?? 8192);
/** `tiny` (default) is shaped like models/tiny; `medium` (150M parameters) makes the cache matter on a GPU. */
const SHAPES = {
  tiny: { hidden: 256, layers: 6, heads: 8, kvHeads: 2, intermediate: 688, vocab: 2048 },
  medium: { hidden: 1024, layers: 12, heads: 16, kvHeads: 4, intermediate: 2816, vocab: 8192 },
};
const shape = {
  ...SHAPES[(Deno.env.get("LUKV_BENCH_MODEL") ?? "tiny") as keyof typeof SHAPES],
  maxPositions: PROMPT + 64,
};
const dir = await Deno.makeTempDir({ prefix: "lukv_bench_press_" });
await writeSyntheticModel(dir, shape);
const model = await loadModel(dir, {
  device: (Deno.env.get("LUKV_BENCH_DEVICE") ?? "auto") as DeviceRequest,
});
await Deno.remove(dir, { recursive: true });
console.error(`device: ${model.device.selection}`);

const { layers, kvHeads } = model.config;
const prompt = Int32Array.from({ length: PROMPT }, (_, i) => (i * 7919) % shape.vocab);
const profile = uniformProfile({ id: "bench", layers, kvHeads }, { name: "snapkv", params: {} });

const full = model.newCache(PROMPT + 1);
model.forward.run(prompt, full).close();
const compressed = compressedPrefill(model, prompt, makePress("lukv", { profile }), 0.8, 1).cache;
console.error(`KV bytes: full ${full.bytes()}, lukv@0.8 ${compressed.bytes()}`);

const group = `decode step after ${PROMPT} prompt tokens`;
for (const [name, cache] of [["full", full], ["lukv 0.8", compressed]] as [string, KvCache][]) {
  const next = new Int32Array([42]);
  Deno.bench(name, { group, baseline: name === "full" }, () => {
    using hidden = model.forward.run(next, cache);
    model.forward.logits(hidden);
    rewind(cache);
  });
}

/** Puts the cache back to its prompt-only state, so every iteration decodes the same position. */
function rewind(cache: KvCache): void {
  if (cache === full) full.length = PROMPT;
  else compressed.dropLast();
}
