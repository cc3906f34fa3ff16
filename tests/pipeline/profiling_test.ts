/** The profiling protocol on a fixture model: the oracle against full attention in float64, reproducibility, refusals. */

import assert from "node:assert/strict";
import type { Tensor } from "../../src/backend/tensor.ts";
import { DenseKvCache } from "../../src/cache/dense.ts";
import { readProfile, writeProfile } from "../../src/lukv/profile.ts";
import { type CalibrationItem, profileModel } from "../../src/pipeline/profiling.ts";
import { readBudgetNpy, writeBudgetNpy } from "../../src/lukv/table_npy.ts";
import { loadModel, type Model } from "../../src/pipeline/model.ts";
import { makePress } from "../../src/press/registry.ts";
import type { ForwardObserver } from "../../src/model/observer.ts";
import { relativeError } from "../backend/reference.ts";

const FIXTURE = new URL("../fixtures/models/llama-llama3rope/", import.meta.url).pathname;
const ITEMS: CalibrationItem[] = [
  {
    context: "The special magic number for lamp is 481516. Keep it in mind, it matters.",
    questions: [" Number?", " Lamp:"],
  },
  { context: "Bits and bytes: the quick brown fox jumps over the lazy dog, twice.", questions: [" Fox?"] },
];
const OPTIONS = {
  scorer: "snapkv",
  sink: 2,
  window: 4,
  decodeTokens: 4,
  calibration: { name: "test", items: ITEMS },
};

/** Keeps host copies of every post-RoPE query block, per layer, in call order. */
class SpyCache extends DenseKvCache implements ForwardObserver {
  readonly queries: Float32Array[][] = [];
  queriesAfterWrite(l: number, q: Tensor<"f32">): void {
    (this.queries[l] ??= []).push(Float32Array.from(q.toHost()));
  }
}

/** The oracle of one (context, question) pair from full attention rows in float64, written independently. */
function referenceOracle(model: Model, context: Int32Array, question: Int32Array, steps: number) {
  const { layers, heads, kvHeads, headDim: d, hiddenSize } = model.config;
  const group = heads / kvHeads, t = context.length;
  using spy = new SpyCache(model.device, model.config, t + question.length + steps);
  const decode = (ids: Int32Array) => {
    using hidden = model.forward.run(ids, spy, [spy]);
    const logits = model.forward.logits(hidden.rows(ids.length - 1, 1));
    return logits.indexOf(Math.max(...logits));
  };
  decode(context);
  let next = decode(question);
  for (let s = 1; s < steps; s++) next = decode(new Int32Array([next]));
  const oracle = new Float64Array(layers * kvHeads * t);
  for (let l = 0; l < layers; l++) {
    const keys = spy.keys[l].toHost(), values = spy.values[l].toHost();
    const wo = model.forward.weights.layers[l].o.toHost() as Float32Array; // [hidden, heads * d]
    const norm = new Float64Array(heads * t);
    for (let q = 0; q < heads; q++) {
      const h = Math.floor(q / group);
      for (let j = 0; j < t; j++) {
        let sq = 0;
        for (let r = 0; r < hiddenSize; r++) {
          let dot = 0;
          for (let a = 0; a < d; a++) {
            dot += wo[r * heads * d + q * d + a] * values[(h * spy.capacity + j) * d + a];
          }
          sq += dot * dot;
        }
        norm[q * t + j] = Math.sqrt(sq);
      }
    }
    const total = norm.reduce((a, b) => a + b, 0);
    const blocks = spy.queries[l].slice(1); // the context block is not a decode step
    blocks.forEach((block, s) => {
      const rows = block.length / (heads * d), kvLen = t + question.length + s;
      for (let q = 0; q < heads; q++) {
        const h = Math.floor(q / group), qrow = ((rows - 1) * heads + q) * d;
        const logits = Array.from({ length: kvLen }, (_, j) => {
          let dot = 0;
          for (let a = 0; a < d; a++) dot += block[qrow + a] * keys[(h * spy.capacity + j) * d + a];
          return dot / Math.sqrt(d);
        });
        const max = Math.max(...logits), exps = logits.map((x) => Math.exp(x - max));
        const sum = exps.reduce((a, b) => a + b, 0);
        for (let j = 0; j < t; j++) {
          const i = (l * kvHeads + h) * t + j;
          oracle[i] = Math.max(oracle[i], (exps[j] / sum) * norm[q * t + j] / total);
        }
      }
    });
  }
  return oracle;
}

Deno.test("the oracle kernel's table equals full attention x normalised value-output norms (float64)", async () => {
  using model = await loadModel(FIXTURE, { device: "cpu" });
  const run = await profileModel(model, OPTIONS);
  let pair = 0;
  for (const item of ITEMS) {
    const context = model.encode(item.context);
    for (const q of item.questions) {
      const want = referenceOracle(model, context, model.encode(q, { addSpecialTokens: false }), 4);
      const error = relativeError(run.oracles[pair++].data, want);
      assert.ok(error <= 1e-4, `pair ${pair}: max relative error ${error.toExponential(2)}`);
    }
  }
  assert.equal(run.tables.length, 3);
  assert.equal(run.profile.calibration.pairs, 3);
});

Deno.test("a deterministic calibration run gives the same profile bit for bit, and its .npy round-trips", async () => {
  using model = await loadModel(FIXTURE, { device: "cpu" });
  const [a, b] = [await profileModel(model, OPTIONS), await profileModel(model, OPTIONS)];
  assert.deepEqual(a.profile.budgets, b.profile.budgets);
  assert.deepEqual(a.profile.stats, b.profile.stats);
  const strip = (text: string) => text.replace(/"created": "[^"]*"/, "");
  assert.equal(strip(writeProfile(a.profile)), strip(writeProfile(b.profile)));
  assert.deepEqual(readProfile(writeProfile(a.profile)).budgets, a.profile.budgets);
  assert.deepEqual(readBudgetNpy(writeBudgetNpy(a.profile.budgets)), a.profile.budgets);
});

Deno.test("a profile is refused for another model, scorer, sink or window, naming the mismatch", async () => {
  using model = await loadModel(FIXTURE, { device: "cpu" });
  const { profile } = await profileModel(model, OPTIONS);
  assert.throws(
    () => makePress("lukv-keydiff", { profile }),
    /scorer keydiff \(profile: snapkv\)/,
  );
  assert.throws(
    () => makePress("lukv", { profile, sink: 4, window: 32 }),
    /sink 4 \(profile: 2\), window 32 \(profile: 4\)/,
  );
  const other = {
    ...profile,
    model: { ...profile.model, layers: 3 },
    budgets: { ...profile.budgets, layers: 3 },
  };
  other.budgets.prune = new Float64Array(99 * 3 * profile.budgets.heads);
  assert.throws(
    () => model.generate(model.encode("Hi"), { press: "lukv", compressionRatio: 0.5, profile: other }),
    /is for 3 layers x 2 KV heads, but .* has 2 layers x 2 KV heads/,
  );
  await assert.rejects(() => profileModel(model, { ...OPTIONS, scorer: "magic" }), /unknown scorer "magic"/);
});
