// The LU-KV profiles shipped in models/tiny fit the model shipped beside them (its shape, name
// and weights fingerprint: after retraining, rerun `deno task profile`, tools/train/README.md)
// and their kvpress .npy twins hold the same table.
import assert from "node:assert/strict";
import { loadConfig } from "../../src/model/config.ts";
import { readProfile } from "../../src/lukv/profile.ts";
import { readBudgetNpy } from "../../src/lukv/table_npy.ts";
import { Checkpoint } from "../../src/model/safetensors.ts";
import { checkProfileFits } from "../../src/press/allocators/lukv.ts";
import { makePress } from "../../src/press/registry.ts";

const MODEL_DIR = new URL("../../models/tiny/", import.meta.url).pathname;

/** The parameters each shipped profile was made with: the scorers' reference defaults. */
const PARAMS: Record<string, Record<string, number | boolean | string>> = {
  snapkv: { window: 32, kernel: 7, pooling: "max" },
  "expected-attention": { future: 512, nSink: 4, epsilon: 0.02, useCovariance: true, useVnorm: true },
  keydiff: {},
};

for (const scorer of Object.keys(PARAMS)) {
  Deno.test(`models/tiny/lukv-${scorer}.json fits the shipped model and equals its .npy twin`, async () => {
    const config = await loadConfig(MODEL_DIR);
    const profile = readProfile(await Deno.readTextFile(`${MODEL_DIR}lukv-${scorer}.json`));
    assert.equal(profile.scorer.name, scorer);
    assert.deepEqual(profile.scorer.params, PARAMS[scorer]);
    makePress(`lukv-${scorer}`, { profile }); // the press with default parameters takes it
    assert.equal(profile.model.id, "models/tiny");
    const weights = await (await Checkpoint.open(MODEL_DIR)).fingerprint();
    assert.equal(profile.model.weights, weights, "profiled from other weights: run deno task profile again");
    checkProfileFits(profile, { ...config, weights });
    const npy = readBudgetNpy(await Deno.readFile(`${MODEL_DIR}lukv-${scorer}.npy`));
    assert.deepEqual([npy.layers, npy.heads], [profile.budgets.layers, profile.budgets.heads]);
    assert.deepEqual(npy.prune, profile.budgets.prune);
    assert.equal(profile.model.queryHeads ?? config.heads, config.heads);
  });
}
