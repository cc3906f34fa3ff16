/** Presses on real (fixture) models: ratio 0 is exact, kept sets are valid top-k under reference scores, memory really shrinks. */

import assert from "node:assert/strict";
import type { Tensor } from "../../src/backend/tensor.ts";
import { DenseKvCache } from "../../src/cache/dense.ts";
import type { ForwardObserver } from "../../src/model/observer.ts";
import { loadModel, type Model } from "../../src/pipeline/model.ts";
import { compressedPrefill } from "../../src/pipeline/prefill.ts";
import { append } from "../../src/pipeline/steps.ts";
import { makePress, parsePressName, PRESS_NAMES } from "../../src/press/registry.ts";
import type { LayerState } from "../../src/press/scorers/scorer.ts";
import { budgetStats } from "../../src/lukv/budgets.ts";
import { type Profile, uniformProfile } from "../../src/lukv/profile.ts";
import { budgetRatios } from "../../src/lukv/tables.ts";
import { writeSyntheticModel } from "../../bench/synthetic_model.ts";
import { deviceTest } from "../backend/devices.ts";
import { relativeError } from "../backend/reference.ts";

const FIXTURES = new URL("../fixtures/models/", import.meta.url).pathname;
/** GQA 1, 2 and 4. */
const GQA_FIXTURES = ["llama-linear-tied", "llama-llama3rope", "mistral-bf16"];
const PROTECTIONS = { sink: 2, window: 4 };

function promptOf(length: number): Int32Array {
  return Int32Array.from({ length }, (_, i) => i === 0 ? 285 : 32 + ((i * 37) % 220));
}

/** The presses that need no profile, `full` aside. */
const SCORED_PRESSES = PRESS_NAMES.filter((n) => n !== "full" && parsePressName(n).allocator !== "lukv");

/** A dense cache whose observer keeps host copies of every layer's queries, before RoPE and after. */
class SpyCache extends DenseKvCache implements ForwardObserver {
  readonly before: Float32Array[] = [];
  readonly after: Float32Array[] = [];
  queriesBeforeRope(l: number, q: Tensor<"f32">): void {
    this.before[l] = Float32Array.from(q.toHost());
  }
  queriesAfterWrite(l: number, q: Tensor<"f32">): void {
    this.after[l] = Float32Array.from(q.toHost());
  }
}

/** The scorer's inputs for layer l computed independently in float64 from full attention. */
function referenceState(
  model: Model,
  spy: SpyCache,
  l: number,
  length: number,
  windowQueries: number,
  querySink: number,
): LayerState {
  const { heads, kvHeads, headDim: d } = model.config;
  const group = heads / kvHeads;
  const keys = spy.keys[l].toHost().slice(0, kvHeads * spy.capacity * d);
  const window = new Float32Array(heads * length), all = new Float32Array(kvHeads * length);
  const q = spy.after[l];
  for (let t = 0; t < length; t++) {
    for (let qh = 0; qh < heads; qh++) {
      const h = Math.floor(qh / group);
      const logits = Array.from({ length: t + 1 }, (_, j) => {
        let dot = 0;
        for (let a = 0; a < d; a++) dot += q[(t * heads + qh) * d + a] * keys[(h * spy.capacity + j) * d + a];
        return dot / Math.sqrt(d);
      });
      const max = Math.max(...logits);
      const exp = logits.map((x) => Math.exp(x - max)), sum = exp.reduce((a, b) => a + b, 0);
      exp.forEach((p, j) => {
        all[h * length + j] += p / sum;
        if (t >= length - windowQueries) window[qh * length + j] += p / sum;
      });
    }
  }
  const pre = spy.before[l];
  const mean = new Float64Array(heads * d), covariance = new Float64Array(heads * d * d);
  const count = length - querySink;
  for (let t = querySink; t < length; t++) {
    for (let i = 0; i < heads * d; i++) mean[i] += pre[t * heads * d + i] / count;
  }
  for (let t = querySink; t < length; t++) {
    for (let qh = 0; qh < heads; qh++) {
      for (let a = 0; a < d; a++) {
        for (let b = 0; b < d; b++) {
          covariance[(qh * d + a) * d + b] += (pre[(t * heads + qh) * d + a] - mean[qh * d + a]) *
            (pre[(t * heads + qh) * d + b] - mean[qh * d + b]) / count;
        }
      }
    }
  }
  // Keys and values stay where the cache holds them: kernel scorers read them on the device.
  const flat = [kvHeads * spy.capacity, d];
  return {
    device: spy.device,
    layer: l,
    length,
    heads,
    kvHeads,
    headDim: d,
    keys: spy.keys[l].reshape(flat),
    values: spy.values[l].reshape(flat),
    offsets: Int32Array.from({ length: kvHeads }, (_, h) => h * spy.capacity),
    inverseFrequencies: model.scoringShape.inverseFrequencies,
    windowAttention: window,
    windowQueries,
    allAttention: all,
    queryStats: { mean, covariance, count },
  };
}

deviceTest("ratio 0 through the ragged path gives the dense cache's logits", async (device) => {
  const tolerance = device.kind === "cpu" ? 1e-6 : 1e-5;
  for (const name of GQA_FIXTURES) {
    using model = await loadModel(FIXTURES + name, { device });
    const prompt = promptOf(60), next = new Int32Array([101]);
    const whole = new Int32Array([...prompt, ...next]);
    const want = (await model.logits(whole)).subarray(60 * model.config.vocabSize);
    using cache = compressedPrefill(model, prompt, makePress("snapkv", PROTECTIONS), 0, 1).cache;
    const error = relativeError(append(model, cache, next), want);
    assert.ok(error <= tolerance, `${name}: max relative error ${error.toExponential(2)}`);
  }
});

Deno.test("every press x ratio x GQA: counts as allocated, protections kept, totals on target, valid top-k", async () => {
  const length = 100;
  for (const name of GQA_FIXTURES) {
    using model = await loadModel(FIXTURES + name, { device: "cpu" });
    const { layers, kvHeads } = model.config;
    const prompt = promptOf(length);
    using spy = new SpyCache(model.device, model.config, length);
    model.forward.run(prompt, spy, [spy]).close();
    for (const pressName of SCORED_PRESSES) {
      const press = makePress(pressName, PROTECTIONS);
      const { windowQueries = 32, querySink = 0 } = press.scorer!;
      const references = Array.from(
        { length: layers },
        (_, l) => press.scorer!.score(referenceState(model, spy, l, length, windowQueries, querySink)),
      );
      for (const ratio of [0.2, 0.5, 0.8]) {
        const where = `${name} ${pressName} @${ratio}`;
        const prefill = compressedPrefill(model, prompt, press, ratio, 1);
        using cache = prefill.cache;
        let total = 0;
        for (let l = 0; l < layers; l++) {
          assert.deepEqual(cache.keptCounts(l), prefill.selections[l].counts, `${where} layer ${l}`);
          const { indices, offsets } = prefill.selections[l].kept;
          for (let h = 0; h < kvHeads; h++) {
            const kept = new Set(indices.subarray(offsets[h], offsets[h + 1]));
            total += kept.size;
            for (let j = 0; j < length; j++) {
              if (j < PROTECTIONS.sink || j >= length - PROTECTIONS.window) {
                assert.ok(kept.has(j), `${where}: ${j} dropped`);
              }
            }
            // Every kept token scores at least as high, under the float64 reference, as every dropped one.
            const score = (j: number) => references[l][h * length + j];
            const open = [...Array(length).keys()].filter((j) =>
              j >= PROTECTIONS.sink && j < length - PROTECTIONS.window
            );
            const keptOpen = open.filter((j) => kept.has(j)).map(score),
              dropped = open.filter((j) => !kept.has(j)).map(score);
            if (keptOpen.length > 0 && dropped.length > 0) {
              const scale = Math.max(...open.map((j) => Math.abs(score(j))).filter(Number.isFinite), 1e-30);
              const [worstDropped, worstKept] = [Math.max(...dropped), Math.min(...keptOpen)];
              const gap = worstDropped === worstKept ? 0 : worstDropped - worstKept;
              assert.ok(
                gap <= 1e-4 * scale,
                `${where} layer ${l} head ${h}: a dropped token outscores a kept one by ${gap}`,
              );
            }
          }
        }
        const target = (1 - ratio) * layers * kvHeads * length;
        assert.ok(Math.abs(total - target) <= layers * kvHeads, `${where}: kept ${total}, target ${target}`);
      }
    }
  }
});

Deno.test("at ratio 0.8 the cache really holds about a fifth of the full cache", async () => {
  using model = await loadModel(FIXTURES + "llama-llama3rope", { device: "cpu" });
  const { layers, kvHeads, headDim } = model.config;
  const prompt = promptOf(120);
  using cache = compressedPrefill(model, prompt, makePress("snapkv", PROTECTIONS), 0.8, 8).cache;
  const row = 2 * headDim * 4;
  const full = layers * kvHeads * 120 * row, reserve = layers * kvHeads * 8 * row;
  assert.ok(cache.bytes() <= 0.2 * full + reserve, `${cache.bytes()} > 0.2 x ${full} + ${reserve}`);
});

deviceTest(
  "generation works with every press on every fixture, query-aware and query-agnostic",
  async (device) => {
    for (
      const name of ["llama-llama3rope", "llama-linear-tied", "mistral-bf16", "qwen2-bias", "qwen3-qknorm"]
    ) {
      using model = await loadModel(FIXTURES + name, { device });
      const prompt = promptOf(90);
      for (const press of ["full", ...SCORED_PRESSES]) {
        const ratio = press === "full" ? 0 : 0.5;
        const run = model.generate(prompt, {
          press,
          compressionRatio: ratio,
          maxNewTokens: 4,
          stopAtEos: false,
        });
        for await (const _ of run);
        const stats = await run.stats();
        assert.equal(stats.newTokens, 4, `${name} ${press}`);
        if (press !== "full") {
          const kept = run.keptCounts.reduce((sum, counts) => sum + counts.reduce((a, b) => a + b, 0), 0);
          const all = model.config.layers * model.config.kvHeads * prompt.length;
          assert.ok(
            Math.abs(kept - all / 2) <= model.config.layers * model.config.kvHeads,
            `${name} ${press}: kept ${kept}`,
          );
        }
      }
      const split = model.generate(
        { context: prompt.subarray(0, 80), question: prompt.subarray(80) },
        { press: "snapkv", compressionRatio: 0.5, maxNewTokens: 3, stopAtEos: false },
      );
      for await (const _ of split);
      assert.equal((await split.stats()).promptTokens, 90);
    }
  },
);

Deno.test("query-agnostic with nothing removed gives the same greedy tokens as the full cache", async () => {
  const dir = FIXTURES + "llama-llama3rope";
  const expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`)).generation;
  using model = await loadModel(dir, { device: "cpu" });
  const ids = Int32Array.from(expected.prompt_ids);
  const run = model.generate(
    { context: ids.subarray(0, 10), question: ids.subarray(10) },
    { press: "snapkv", compressionRatio: 0, maxNewTokens: expected.max_new_tokens, stopAtEos: false },
  );
  for await (const _ of run);
  assert.deepEqual(run.tokens, expected.greedy_ids);
});

Deno.test("a 2,000-token compressed generation grows the cache by the appended rows only", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const shape = {
      hidden: 64,
      layers: 2,
      heads: 4,
      kvHeads: 2,
      intermediate: 128,
      vocab: 512,
      maxPositions: 2400,
    };
    await writeSyntheticModel(dir, shape);
    using model = await loadModel(dir, { device: "cpu" });
    const prompt = Int32Array.from({ length: 300 }, (_, i) => 1 + ((i * 7919) % 500));
    const run = model.generate(prompt, {
      press: "snapkv",
      compressionRatio: 0.8,
      maxNewTokens: 2000,
      stopAtEos: false,
    });
    for await (const _ of run);
    const stats = await run.stats();
    assert.equal(stats.newTokens, 2000);
    const row = 2 * (shape.hidden / shape.heads) * 4, heads = shape.layers * shape.kvHeads;
    const kept = run.keptCounts.reduce((sum, counts) => sum + counts.reduce((a, b) => a + b, 0), 0);
    const appended = heads * 1999; // the last token is sampled, never fed back
    assert.ok(stats.kvBytes >= (kept + appended) * row, "every kept and appended row is held");
    assert.ok(
      stats.kvBytes <= (kept + appended + heads * 64) * row,
      `${stats.kvBytes}: more than one growth step of slack`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unknown presses, bad ratios and profiles for another model are refused", async () => {
  using model = await loadModel(FIXTURES + "llama-llama3rope", { device: "cpu" });
  const prompt = promptOf(20);
  assert.throws(
    () => model.generate(prompt, { press: "nope" }),
    /unknown press "nope"; presses: full \| SCORER/,
  );
  for (const ratio of [-0.1, 1, 1.5, NaN]) {
    assert.throws(() => model.generate(prompt, { press: "snapkv", compressionRatio: ratio }), /\[0, 1\)/);
  }
  const budgets = { layers: 3, heads: 2, ratios: budgetRatios(), prune: new Float64Array(99 * 6).fill(0.5) };
  const profile: Profile = {
    model: { id: "other", layers: 3, kvHeads: 2 },
    scorer: { name: "snapkv", params: {} },
    sink: 2,
    window: 4,
    decodeTokens: 64,
    scope: "global",
    minKeepFraction: 0.01,
    calibration: { name: "x", pairs: 1 },
    created: "2026-11-28T00:00:00.000Z",
    budgets,
    stats: budgetStats([budgets]),
  };
  assert.throws(
    () => model.generate(prompt, { press: "lukv", compressionRatio: 0.5, profile }),
    /profile "other" is for 3 layers x 2 KV heads, but .* has 2 layers x 2 KV heads/,
  );
  const fitting = uniformProfile({ id: "fixture", layers: 2, kvHeads: 2 }, { name: "snapkv", params: {} });
  const stale = { ...fitting, model: { ...fitting.model, weights: "0".repeat(64) } };
  assert.throws(
    () => model.generate(prompt, { press: "lukv", compressionRatio: 0.5, profile: stale }),
    /profile "fixture" was made for other weights \(fingerprint 000000000000\.\.\., the model's is [0-9a-f]{12}\.\.\.\)/,
  );
  const fresh = { ...fitting, model: { ...fitting.model, weights: model.weightsFingerprint } };
  for (const ok of [fitting, fresh]) { // a stand-in profile records no weights; a fresh one records these
    model.generate(prompt, { press: "lukv", compressionRatio: 0.5, profile: ok, maxNewTokens: 1 });
  }
});
