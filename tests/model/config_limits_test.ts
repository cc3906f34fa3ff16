/** Config values out of range are refused at load naming the field; a huge configured context loads like a small one. */

import assert from "node:assert/strict";
import { LukvError, STATUS } from "../../src/backend/errors.ts";
import { CONFIG_LIMITS, parseConfig } from "../../src/model/config.ts";
import { ROPE_MIN_ROWS } from "../../src/model/forward.ts";
import { loadModel } from "../../src/pipeline/model.ts";

const FIXTURE = new URL("../fixtures/models/llama-llama3rope/", import.meta.url).pathname;
const CONFIG = JSON.parse(await Deno.readTextFile(FIXTURE + "config.json"));

/** Copies the fixture into a temporary folder with `config.json` edited, runs `fn`, then removes it. */
async function withConfig(
  edit: (config: Record<string, unknown>) => void,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lukv_config_limits_" });
  try {
    for await (const entry of Deno.readDir(FIXTURE)) {
      if (entry.isFile) await Deno.copyFile(FIXTURE + entry.name, `${dir}/${entry.name}`);
    }
    const config = structuredClone(CONFIG);
    edit(config);
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Asserts that loading the fixture with `fields` merged into its config rejects with FORMAT naming `patterns`. */
function refusesAtLoad(name: string, fields: Record<string, unknown>, patterns: (RegExp | string)[]) {
  Deno.test(`load refuses ${name}`, () =>
    withConfig((c) => Object.assign(c, fields), async (dir) => {
      await assert.rejects(loadModel(dir, { device: "cpu" }), (error: unknown) => {
        assert.ok(error instanceof LukvError, `not a LukvError: ${error}`);
        assert.equal(error.code, STATUS.FORMAT, error.message);
        assert.ok(error.message.includes("config.json"), error.message);
        for (const p of patterns) {
          if (typeof p === "string") assert.ok(error.message.includes(p), `"${error.message}" lacks ${p}`);
          else assert.match(error.message, p);
        }
        return true;
      });
    }));
}

// Each of these was a 147 s / 16 GB load, a raw RangeError or a 47 s scoring shape before.
refusesAtLoad("max_position_embeddings 2^31", { max_position_embeddings: 2 ** 31 }, [
  /field `max_position_embeddings`: expected a positive integer up to 134217728 .*, got 2147483648/,
]);
refusesAtLoad("max_position_embeddings 2^53 - 1", { max_position_embeddings: Number.MAX_SAFE_INTEGER }, [
  "field `max_position_embeddings`",
]);
refusesAtLoad("num_hidden_layers 2^53 - 1", { num_hidden_layers: Number.MAX_SAFE_INTEGER }, [
  /field `num_hidden_layers`: expected a positive integer up to 1024/,
]);
refusesAtLoad("head_dim 1e9", { head_dim: 1e9 }, [/field `head_dim`: expected a positive integer up to 256/]);
refusesAtLoad("a derived head dimension above 256", {
  head_dim: null,
  hidden_size: 2048,
  num_attention_heads: 4,
}, [
  /field `hidden_size`: hidden_size \/ num_attention_heads = 512 exceeds the head dimension limit 256/,
]);
refusesAtLoad("vocab_size 2^31", { vocab_size: 2 ** 31 }, [
  "field `vocab_size`: expected a positive integer up to",
]);
refusesAtLoad("hidden_size 2^40", { hidden_size: 2 ** 40 }, ["field `hidden_size`"]);
refusesAtLoad("intermediate_size 2^40", { intermediate_size: 2 ** 40 }, ["field `intermediate_size`"]);
refusesAtLoad("num_attention_heads 2^20", { num_attention_heads: 2 ** 20 }, ["field `num_attention_heads`"]);
refusesAtLoad("rope_theta below 1", { rope_theta: 1e-320 }, [/field `rope_theta`: expected a number >= 1/]);
refusesAtLoad("rms_norm_eps of 1 or more", { rms_norm_eps: 5 }, [
  /field `rms_norm_eps`: expected a positive number below 1/,
]);
refusesAtLoad("an eos_token_id of 2^32 (int32 wrap-around)", { eos_token_id: 2 ** 32 }, [
  /field `eos_token_id`: expected a token id/,
]);
refusesAtLoad("a bos_token_id outside the vocabulary", { bos_token_id: 288 }, [
  /field `bos_token_id`: token id 288 is not below vocab_size \(288\)/,
]);
refusesAtLoad(
  "rope scaling with an original context above the limit",
  { rope_scaling: { ...CONFIG.rope_scaling, original_max_position_embeddings: 2 ** 40 } },
  ["field `rope_scaling.original_max_position_embeddings`"],
);

Deno.test("sizes within every bound whose KV cache would pass 2^53 bytes are refused, naming the context", () => {
  const big = {
    ...CONFIG,
    num_hidden_layers: CONFIG_LIMITS.layers,
    num_attention_heads: CONFIG_LIMITS.heads,
    num_key_value_heads: CONFIG_LIMITS.heads,
    head_dim: CONFIG_LIMITS.headDim,
    max_position_embeddings: CONFIG_LIMITS.maxPositionEmbeddings,
  };
  assert.throws(() => parseConfig(big), (error: unknown) => {
    assert.ok(error instanceof LukvError && error.code === STATUS.FORMAT);
    assert.match(error.message, /field `max_position_embeddings`: 134217728 positions make a full KV cache/);
    return true;
  });
  // Llama 4 Scout's shape (48 layers, 8 KV heads of 128, 10M positions) stays within.
  const scout = parseConfig({
    ...CONFIG,
    num_hidden_layers: 48,
    num_attention_heads: 40,
    num_key_value_heads: 8,
    head_dim: 128,
    max_position_embeddings: 10_485_760,
  });
  assert.equal(scout.maxPositionEmbeddings, 10_485_760);
});

Deno.test("a 10M-token context loads without building its RoPE tables and computes the same logits", async () => {
  using reference = await loadModel(FIXTURE, { device: "cpu" });
  const prompt = Int32Array.from([285, 72, 101, 108, 108, 111, 44, 32, 119]);
  const expected = await reference.logits(prompt);
  await withConfig((c) => c.max_position_embeddings = 10_000_000, async (dir) => {
    using model = await loadModel(dir, { device: "cpu" });
    assert.equal(model.config.maxPositionEmbeddings, 10_000_000);
    assert.equal(model.forward.ropeTableLength, 0, "nothing is built at load");
    const logits = await model.logits(prompt);
    assert.equal(model.forward.ropeTableLength, ROPE_MIN_ROWS, "a short run builds the smallest table");
    assert.deepEqual(logits, expected);
    const run = model.generate(prompt, { maxNewTokens: 4, stopAtEos: false });
    for await (const _ of run) { /* drain */ }
    assert.equal(run.tokens.length, 4);
    assert.equal(model.forward.ropeTableLength, ROPE_MIN_ROWS);
  });
});

Deno.test("RoPE tables grow by doubling when a run reaches past them, with the same results as one built whole", async () => {
  await withConfig((c) => c.max_position_embeddings = 10_000_000, async (dir) => {
    using model = await loadModel(dir, { device: "cpu" });
    const ids = Int32Array.from({ length: ROPE_MIN_ROWS + 40 }, (_, i) => 32 + (i * 7) % 200);
    // One run over every position: the table is built once, exactly as long as needed.
    using whole = model.newCache(ids.length);
    using wholeHidden = model.forward.run(ids, whole);
    assert.equal(model.forward.ropeTableLength, ids.length);
    const wholeLast = model.forward.logits(wholeHidden.rows(ids.length - 1, 1));

    using fresh = await loadModel(dir, { device: "cpu" });
    using grown = fresh.newCache(ids.length);
    fresh.forward.run(ids.subarray(0, ROPE_MIN_ROWS - 8), grown).close();
    assert.equal(fresh.forward.ropeTableLength, ROPE_MIN_ROWS);
    using grownHidden = fresh.forward.run(ids.subarray(ROPE_MIN_ROWS - 8), grown);
    assert.equal(fresh.forward.ropeTableLength, 2 * ROPE_MIN_ROWS, "the table doubles");
    const grownLast = fresh.forward.logits(grownHidden.rows(grownHidden.shape[0] - 1, 1));
    for (let i = 0; i < wholeLast.length; i++) {
      assert.ok(
        Math.abs(wholeLast[i] - grownLast[i]) <= 1e-4 * Math.max(1, Math.abs(wholeLast[i])),
        `logit ${i}`,
      );
    }
  });
});

Deno.test("a run past max_position_embeddings still fails in the rope kernel's table check", async () => {
  using model = await loadModel(FIXTURE, { device: "cpu" });
  const max = model.config.maxPositionEmbeddings;
  using cache = model.newCache(max + 1);
  assert.throws(() => model.forward.run(new Int32Array(max + 1).fill(97), cache), LukvError);
  assert.equal(model.forward.ropeTableLength, max, "capped at max_position_embeddings");
});
