/** config.json: the four architectures normalised, each bad field named, head counts and rope scaling checked. */

import assert from "node:assert/strict";
import { LukvError, STATUS } from "../../src/backend/errors.ts";
import { loadConfig, type ModelConfig, parseConfig } from "../../src/model/config.ts";
import { withFolder } from "./files.ts";

/** Trimmed-down configs as the Hub ships them (values from real models, sizes shrunk). */
const llama = {
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  vocab_size: 128256,
  hidden_size: 64,
  intermediate_size: 256,
  num_hidden_layers: 2,
  num_attention_heads: 8,
  num_key_value_heads: 2,
  hidden_act: "silu",
  max_position_embeddings: 131072,
  rms_norm_eps: 1e-5,
  rope_theta: 500000.0,
  rope_scaling: {
    factor: 32.0,
    high_freq_factor: 4.0,
    low_freq_factor: 1.0,
    original_max_position_embeddings: 8192,
    rope_type: "llama3",
  },
  attention_bias: false,
  mlp_bias: false,
  tie_word_embeddings: true,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  torch_dtype: "bfloat16",
};

const mistral = {
  architectures: ["MistralForCausalLM"],
  model_type: "mistral",
  vocab_size: 32000,
  hidden_size: 64,
  intermediate_size: 224,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 1,
  head_dim: null,
  hidden_act: "silu",
  max_position_embeddings: 32768,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  sliding_window: 4096,
  tie_word_embeddings: false,
  bos_token_id: 1,
  eos_token_id: 2,
};

const qwen2 = {
  architectures: ["Qwen2ForCausalLM"],
  model_type: "qwen2",
  vocab_size: 151936,
  hidden_size: 56,
  intermediate_size: 128,
  num_hidden_layers: 3,
  num_attention_heads: 7,
  num_key_value_heads: 1,
  hidden_act: "silu",
  max_position_embeddings: 32768,
  max_window_layers: 21,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  rope_scaling: null,
  sliding_window: 32768,
  use_sliding_window: false,
  tie_word_embeddings: true,
  bos_token_id: 151643,
  eos_token_id: 151645,
};

const qwen3 = {
  architectures: ["Qwen3ForCausalLM"],
  model_type: "qwen3",
  vocab_size: 151936,
  hidden_size: 32,
  intermediate_size: 96,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 16,
  hidden_act: "silu",
  max_position_embeddings: 40960,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  attention_bias: false,
  tie_word_embeddings: true,
  use_sliding_window: false,
  sliding_window: null,
  bos_token_id: 151643,
  eos_token_id: 151645,
};

/** Asserts that parsing `raw` fails with a FORMAT error whose message matches every pattern. */
function refuses(raw: unknown, ...patterns: RegExp[]) {
  assert.throws(() => parseConfig(raw), (error: unknown) => {
    assert.ok(error instanceof LukvError, `not a LukvError: ${error}`);
    assert.equal(error.code, STATUS.FORMAT);
    assert.equal(error.op, "config");
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("Llama 3.2 config: GQA, llama3 rope scaling, tied embeddings, eos list", () => {
  const expected: ModelConfig = {
    architecture: "LlamaForCausalLM",
    vocabSize: 128256,
    hiddenSize: 64,
    intermediateSize: 256,
    layers: 2,
    heads: 8,
    kvHeads: 2,
    headDim: 8,
    rmsNormEps: 1e-5,
    ropeTheta: 500000,
    ropeScaling: {
      type: "llama3",
      factor: 32,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    },
    maxPositionEmbeddings: 131072,
    tieWordEmbeddings: true,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
    qkNorm: false,
    slidingWindow: null,
    bosTokenId: 128000,
    eosTokenIds: [128001, 128008, 128009],
  };
  assert.deepEqual(parseConfig(llama), expected);
  const withBias = parseConfig({ ...llama, attention_bias: true, mlp_bias: true, rope_scaling: null });
  assert.deepEqual([withBias.qkvBias, withBias.oBias, withBias.mlpBias], [true, true, true]);
  assert.equal(withBias.ropeScaling, null);
  const linear = parseConfig({ ...llama, rope_scaling: { type: "linear", factor: 4 } });
  assert.deepEqual(linear.ropeScaling, { type: "linear", factor: 4 });
  assert.equal(parseConfig({ ...llama, rope_scaling: { rope_type: "default" } }).ropeScaling, null);
});

Deno.test("Mistral, Qwen2 and Qwen3 configs and their defaults", () => {
  const m = parseConfig(mistral);
  assert.equal(m.architecture, "MistralForCausalLM");
  assert.deepEqual([m.heads, m.kvHeads, m.headDim], [4, 1, 16], "head_dim null falls back to hidden / heads");
  assert.deepEqual([m.qkvBias, m.oBias, m.qkNorm, m.tieWordEmbeddings], [false, false, false, false]);
  assert.equal(m.slidingWindow, 4096);
  assert.deepEqual([m.bosTokenId, m.eosTokenIds], [1, [2]]);

  const q2 = parseConfig(qwen2);
  assert.equal(q2.architecture, "Qwen2ForCausalLM");
  assert.deepEqual([q2.qkvBias, q2.oBias, q2.qkNorm], [true, false, false], "Qwen2 always has q/k/v biases");
  assert.deepEqual([q2.headDim, q2.ropeTheta, q2.ropeScaling, q2.slidingWindow], [8, 1e6, null, null]);

  const q3 = parseConfig(qwen3);
  assert.equal(q3.architecture, "Qwen3ForCausalLM");
  assert.deepEqual([q3.qkNorm, q3.qkvBias, q3.oBias], [true, false, false]);
  assert.equal(q3.headDim, 16, "an explicit head_dim wins over hidden / heads (32 / 4 = 8)");

  const minimal = parseConfig({
    architectures: ["LlamaForCausalLM"],
    vocab_size: 10,
    hidden_size: 8,
    intermediate_size: 16,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    max_position_embeddings: 32,
  });
  assert.deepEqual(
    [minimal.kvHeads, minimal.headDim, minimal.ropeTheta, minimal.rmsNormEps, minimal.tieWordEmbeddings],
    [2, 4, 10000, 1e-6, false],
  );
  assert.deepEqual([minimal.bosTokenId, minimal.eosTokenIds, minimal.ropeScaling], [null, [], null]);

  const { architectures: _, ...byModelType } = qwen3;
  assert.equal(
    parseConfig(byModelType).architecture,
    "Qwen3ForCausalLM",
    "model_type stands in for architectures",
  );

  const v5 = parseConfig({
    ...llama,
    rope_theta: undefined,
    rope_scaling: undefined,
    rope_parameters: { rope_type: "linear", factor: 2, rope_theta: 50000 },
  });
  assert.deepEqual([v5.ropeTheta, v5.ropeScaling], [50000, { type: "linear", factor: 2 }]);
});

Deno.test("every bad or missing field is named on its own line with what was found", () => {
  refuses(
    { ...llama, num_key_value_heads: -2, hidden_size: "64", vocab_size: undefined, rms_norm_eps: 0 },
    /^config\.json: field `vocab_size` is missing \(expected a positive integer\)$/m,
    /^config\.json: field `hidden_size`: expected a positive integer, got "64"$/m,
    /^config\.json: field `num_key_value_heads`: expected a positive integer, got -2$/m,
    /^config\.json: field `rms_norm_eps`: expected a positive number, got 0$/m,
  );
  refuses(
    { ...llama, num_hidden_layers: 2.5 },
    /field `num_hidden_layers`: expected a positive integer, got 2\.5/,
  );
  refuses(
    { ...llama, tie_word_embeddings: "yes" },
    /field `tie_word_embeddings`: expected true or false, got "yes"/,
  );
  refuses({ ...llama, eos_token_id: [1, -1] }, /field `eos_token_id\[1\]`: expected a token id, .*, got -1/);
  refuses(
    { ...llama, eos_token_id: "</s>" },
    /field `eos_token_id`: expected a token id, a list of token ids or null/,
  );
  refuses({ ...llama, hidden_act: "gelu" }, /field `hidden_act`: expected "silu" .*, got "gelu"/);
  refuses(
    { ...llama, rope_scaling: { rope_type: "llama3", factor: -8 } },
    /field `rope_scaling\.factor`: expected a positive number, got -8/,
  );
  refuses([], /^config\.json: expected a JSON object, got \[\]$/);
  refuses(
    { ...llama, architectures: "LlamaForCausalLM" },
    /field `architectures`: expected a list of strings/,
  );
});

Deno.test("head counts must divide and rope scaling must be complete", () => {
  refuses(
    { ...llama, num_key_value_heads: 3 },
    /field `num_key_value_heads`: 3 does not divide num_attention_heads \(8\)/,
  );
  refuses(
    { ...mistral, hidden_size: 66 },
    /field `num_attention_heads`: 4 does not divide hidden_size \(66\) and head_dim is absent/,
  );
  refuses({ ...qwen3, head_dim: 15 }, /field `head_dim`: the head dimension 15 must be even/);
  refuses(
    { ...llama, rope_scaling: { rope_type: "llama3", factor: 8 } },
    /field `rope_scaling\.low_freq_factor`: is missing \(required by rope type llama3\)/,
    /field `rope_scaling\.high_freq_factor`: is missing/,
    /field `rope_scaling\.original_max_position_embeddings`: is missing/,
  );
  refuses(
    { ...llama, rope_scaling: { ...llama.rope_scaling, high_freq_factor: 1 } },
    /field `rope_scaling\.high_freq_factor`: 1 must be greater than low_freq_factor \(1\)/,
  );
  refuses({ ...llama, rope_scaling: { type: "linear" } }, /field `rope_scaling\.factor`: is missing/);
  refuses(
    { ...llama, rope_scaling: { type: "yarn", factor: 4 } },
    /field `rope_scaling\.type`: "yarn" is not supported \(supported: linear, llama3\)/,
  );
  refuses({ ...llama, rope_scaling: { factor: 4 } }, /field `rope_scaling\.type`: is missing/);
  refuses({ ...qwen2, use_sliding_window: true }, /field `use_sliding_window`: true is not supported/);
});

Deno.test("an unknown architecture lists the supported ones", () => {
  refuses(
    { architectures: ["GPT2LMHeadModel"], n_embd: 768 },
    /field `architectures`: \["GPT2LMHeadModel"\] is not supported \(supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM\)/,
  );
  refuses(
    { model_type: "gpt2" },
    /field `architectures` is missing and model_type is "gpt2" \(supported: Llama/,
  );
  assert.equal(
    parseConfig({ ...llama, architectures: ["SomethingElse", "LlamaForCausalLM"] }).architecture,
    "LlamaForCausalLM",
  );
});

Deno.test("loadConfig reads the folder's config.json and names a missing or broken file", async () => {
  await withFolder({ "config.json": JSON.stringify(qwen3) }, async (dir) => {
    assert.equal((await loadConfig(dir)).architecture, "Qwen3ForCausalLM");
  });
  await withFolder({}, async (dir) => {
    await assert.rejects(loadConfig(dir), {
      name: "LukvError",
      code: STATUS.FORMAT,
      message: /config\.json is missing/,
    });
  });
  await withFolder({ "config.json": "{ vocab_size: 3 }" }, async (dir) => {
    await assert.rejects(loadConfig(dir), { code: STATUS.FORMAT, message: /config\.json is not valid JSON/ });
  });
});
