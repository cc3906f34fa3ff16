/** Presses for a model: LU-KV profiles found by name in the model folder, and refused when made with other settings. */

import assert from "node:assert/strict";
import { LukvError, STATUS } from "../../src/backend/errors.ts";
import { readProfile } from "../../src/lukv/profile.ts";
import { loadModel } from "../../src/pipeline/model.ts";
import { pressFor } from "../../src/pipeline/presses.ts";
import { makePress } from "../../src/press/registry.ts";

const MODEL = new URL("../../models/tiny/", import.meta.url).pathname;
const KEPT = new URL("../fixtures/kept/", import.meta.url).pathname;

Deno.test("lukv-<scorer> reads lukv-<scorer>.json from the model folder; lukv alone the first default profile", async () => {
  using model = await loadModel(MODEL, { device: "cpu" });
  const snap = pressFor(model, "lukv-snapkv");
  assert.deepEqual([snap.name, snap.allocator, snap.scorer?.name], ["lukv-snapkv", "lukv", "snapkv"]);
  const plain = pressFor(model, "lukv");
  assert.deepEqual([plain.allocator, plain.scorer?.name], ["lukv", "expected-attention"]);
  assert.equal(plain.scorer?.params.epsilon, 0.02);
  const run = model.generate("Tell me a story.", {
    press: "lukv-snapkv",
    compressionRatio: 0.5,
    maxNewTokens: 2,
  });
  await run.stats();
  assert.equal(run.keptCounts.length, model.config.layers);
});

Deno.test("a lukv press refuses a profile made with other scorer parameters, naming both", () => {
  const shipped = readProfile(Deno.readTextFileSync(`${MODEL}lukv-expected-attention.json`));
  assert.throws(
    () => makePress("lukv-expected-attention", { profile: shipped, scorerParams: { epsilon: 0.01 } }),
    (e) =>
      e instanceof LukvError && e.code === STATUS.INVALID_ARGUMENT &&
      /epsilon 0.01 \(profile: epsilon 0.02\)/.test(e.message),
  );
  // The profile shipped before epsilon was a parameter recorded epsilon 0: refused under the default 0.02.
  const old = readProfile(Deno.readTextFileSync(`${KEPT}lukv-expected-attention-6597010.json`));
  assert.throws(
    () => makePress("lukv-expected-attention", { profile: old }),
    /asked for epsilon 0.02 \(profile: epsilon 0\)/,
  );
  // Asked for with its own parameters, or as plain lukv (the profile's scorer as profiled), it is taken.
  assert.equal(
    makePress("lukv-expected-attention", { profile: old, scorerParams: { epsilon: 0 } }).scorer?.params
      .epsilon,
    0,
  );
  assert.equal(makePress("lukv", { profile: old }).scorer?.params.epsilon, 0);
});

Deno.test("presses compose every scorer with every allocator, and refuse what does not compose", () => {
  const press = makePress("adakv-expected-attention", { scorerParams: { epsilon: 0.01 } });
  assert.deepEqual([press.allocator, press.scorer?.name, press.scorer?.params.epsilon], [
    "adakv",
    "expected-attention",
    0.01,
  ]);
  assert.equal(makePress("pyramidkv").name, "pyramidkv");
  assert.equal(makePress("pyramidkv").scorer?.name, "snapkv");
  assert.equal(makePress("adakv").allocator, "adakv");
  for (const bad of ["adakv-full", "lukv-nope", "snapkv-adakv", "adakv-", ""]) {
    assert.throws(() => makePress(bad), /unknown press/);
  }
  assert.throws(
    () => makePress("snapkv", { scorerParams: { window: true } }),
    /snapkv's window must be a number/,
  );
  assert.throws(() => makePress("full", { scorerParams: { epsilon: 0.1 } }), /press full has no scorer/);
});
