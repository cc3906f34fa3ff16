/** The GGUF writer (tools/gguf): files parse back with the checkpoint's values, the RoPE permutation, errors. */

import assert from "node:assert/strict";
import { writeSyntheticModel } from "../../bench/synthetic_model.ts";
import { Checkpoint, toFloat32 } from "../../src/model/safetensors.ts";
import { convertToGguf, permuteRope, unpermuteRope } from "../../tools/gguf/convert.ts";
import {
  encodeGgufHeader,
  GGUF_ALIGNMENT,
  ggufTensorBytes,
  type GgufValue,
  layoutTensors,
  parseGgufHeader,
} from "../../tools/gguf/gguf.ts";

const FIXTURES = new URL("../fixtures/models/", import.meta.url).pathname;
const SHAPE = {
  hidden: 64,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  intermediate: 96,
  vocab: 320,
  maxPositions: 256,
};

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lukv_gguf_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A tensor's data in a GGUF file, widened to f32. */
function tensorValues(file: Uint8Array, name: string): Float32Array {
  const header = parseGgufHeader(file);
  const info = header.tensors.find((t) => t.name === name);
  assert.ok(info, `tensor ${name} is in the file`);
  const start = header.dataStart + info.offset;
  const bytes = file.slice(start, start + ggufTensorBytes(info));
  return info.type === "f32"
    ? new Float32Array(bytes.buffer)
    : new Float32Array(new Float16Array(bytes.buffer));
}

Deno.test("a converted checkpoint parses back: metadata, tensor infos, alignment and data", async () => {
  await withDir(async (dir) => {
    await writeSyntheticModel(dir, SHAPE);
    await convertToGguf(dir, `${dir}/m.gguf`, { dtype: "f32" });
    const file = await Deno.readFile(`${dir}/m.gguf`);
    const header = parseGgufHeader(file);
    const meta = (key: string) => header.metadata.get(key)?.value;
    assert.equal(header.version, 3);
    assert.equal(meta("general.architecture"), "llama");
    assert.equal(meta("general.alignment"), GGUF_ALIGNMENT);
    assert.equal(meta("general.file_type"), 0);
    assert.deepEqual(header.metadata.get("llama.block_count"), { type: "u32", value: 2 });
    assert.equal(meta("llama.embedding_length"), 64);
    assert.equal(meta("llama.feed_forward_length"), 96);
    assert.equal(meta("llama.attention.head_count"), 4);
    assert.equal(meta("llama.attention.head_count_kv"), 2);
    assert.equal(meta("llama.rope.dimension_count"), 16);
    assert.equal(meta("llama.rope.freq_base"), 500000);
    assert.equal(meta("llama.context_length"), 256);
    assert.ok(Math.abs(Number(meta("llama.attention.layer_norm_rms_epsilon")) - 1e-5) < 1e-12);
    assert.equal(meta("tokenizer.ggml.model"), "gpt2");
    assert.equal(meta("tokenizer.ggml.bos_token_id"), 285);
    assert.equal(meta("tokenizer.ggml.eos_token_id"), 286);

    // Token ids mean the same: the tokenizer's own tokens at their ids, padding after.
    const tokens = header.metadata.get("tokenizer.ggml.tokens")!.value as string[];
    const types = header.metadata.get("tokenizer.ggml.token_type")!.value as number[];
    const vocab = JSON.parse(await Deno.readTextFile(`${dir}/tokenizer.json`)).model.vocab;
    assert.equal(tokens.length, 320);
    for (const [content, id] of Object.entries(vocab)) assert.equal(tokens[id as number], content);
    assert.equal(tokens[285], "<|begin_of_text|>");
    assert.equal(types[285], 3, "special tokens are control tokens");
    assert.equal(tokens[300], "[PAD300]");
    assert.equal(types[300], 5, "ids the tokenizer lacks are unused");

    // Embeddings, 9 per layer, final norm and output; dims innermost first, every offset aligned.
    assert.equal(header.tensors.length, 1 + 9 * 2 + 2);
    const q = header.tensors.find((t) => t.name === "blk.1.attn_q.weight")!;
    assert.deepEqual(q.dims, [64, 64]);
    assert.deepEqual(header.tensors.find((t) => t.name === "blk.0.ffn_down.weight")!.dims, [96, 64]);
    assert.deepEqual(header.tensors.find((t) => t.name === "token_embd.weight")!.dims, [64, 320]);
    assert.equal(header.dataStart % GGUF_ALIGNMENT, 0);
    for (const t of header.tensors) assert.equal(t.offset % GGUF_ALIGNMENT, 0, t.name);
    const last = header.tensors.at(-1)!;
    assert.equal(file.length, header.dataStart + last.offset + ggufTensorBytes(last));

    // Data: copied as is, except q/k, permuted with their own head counts.
    const checkpoint = await Checkpoint.open(dir);
    const source = (name: string) => toFloat32(checkpoint.read(checkpoint.get(name)));
    assert.deepEqual(tensorValues(file, "token_embd.weight"), source("model.embed_tokens.weight"));
    assert.deepEqual(
      tensorValues(file, "blk.1.ffn_gate.weight"),
      source("model.layers.1.mlp.gate_proj.weight"),
    );
    assert.deepEqual(tensorValues(file, "output.weight"), source("lm_head.weight"));
    assert.deepEqual(
      tensorValues(file, "blk.1.attn_q.weight"),
      permuteRope(source("model.layers.1.self_attn.q_proj.weight"), 4, 64),
    );
    assert.deepEqual(
      tensorValues(file, "blk.0.attn_k.weight"),
      permuteRope(source("model.layers.0.self_attn.k_proj.weight"), 2, 64),
    );
    assert.notDeepEqual(
      tensorValues(file, "blk.0.attn_k.weight"),
      source("model.layers.0.self_attn.k_proj.weight"),
    );
  });
});

Deno.test("the q/k permutation is convert_hf_to_gguf.py's reshape (n_head, 2, d/2, ...).swapaxes(1, 2), and invertible", () => {
  assert.deepEqual(permuteRope(new Float32Array([0, 1, 2, 3]), 1, 1), new Float32Array([0, 2, 1, 3]));
  // Two heads of dim 6 (3 pairs), 2 columns: value = row * 10 + column.
  const heads = 2, headDim = 6, cols = 2;
  const w = Float32Array.from(
    { length: heads * headDim * cols },
    (_, i) => Math.floor(i / cols) * 10 + (i % cols),
  );
  const permuted = permuteRope(w, heads, cols);
  const rows = Array.from({ length: heads * headDim }, (_, r) => permuted[r * cols] / 10);
  // Per head, rows (i, j) with i in {0, 1}, j < 3 come out in (j, i) order: 0 3 1 4 2 5.
  assert.deepEqual(rows, [0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11]);
  for (let r = 0; r < rows.length; r++) assert.equal(permuted[r * cols + 1], rows[r] * 10 + 1);
  assert.deepEqual(unpermuteRope(permuted, heads, cols), w);
  const random = Float32Array.from({ length: 8 * 32 * 5 }, () => Math.random());
  assert.deepEqual(unpermuteRope(permuteRope(random, 8, 5), 8, 5), random);
  assert.throws(() => permuteRope(new Float32Array(6), 2, 1), /into 2 heads of pairs/);
});

Deno.test("f16 output: matrices are rounded to f16, norms stay f32, f16 checkpoints copy exactly", async () => {
  await withDir(async (dir) => {
    await writeSyntheticModel(dir, SHAPE, { dtype: "f32" });
    await convertToGguf(dir, `${dir}/m.gguf`, { dtype: "f16" });
    const file = await Deno.readFile(`${dir}/m.gguf`);
    const header = parseGgufHeader(file);
    assert.equal(header.metadata.get("general.file_type")?.value, 1);
    const type = (name: string) => header.tensors.find((t) => t.name === name)!.type;
    assert.equal(type("blk.0.attn_v.weight"), "f16");
    assert.equal(type("token_embd.weight"), "f16");
    assert.equal(type("blk.0.attn_norm.weight"), "f32");
    assert.equal(type("output_norm.weight"), "f32");
    const checkpoint = await Checkpoint.open(dir);
    const v = toFloat32(checkpoint.read(checkpoint.get("model.layers.0.self_attn.v_proj.weight")));
    assert.deepEqual(tensorValues(file, "blk.0.attn_v.weight"), new Float32Array(new Float16Array(v)));

    const f16dir = `${dir}/f16`;
    await Deno.mkdir(f16dir);
    await writeSyntheticModel(f16dir, SHAPE, { dtype: "f16" });
    await convertToGguf(f16dir, `${dir}/h.gguf`, { dtype: "f16" });
    const again = await Checkpoint.open(f16dir);
    const up = again.read(again.get("model.layers.1.mlp.up_proj.weight")).bytes;
    const h = await Deno.readFile(`${dir}/h.gguf`);
    const hh = parseGgufHeader(h), info = hh.tensors.find((t) => t.name === "blk.1.ffn_up.weight")!;
    assert.deepEqual(h.subarray(hh.dataStart + info.offset, hh.dataStart + info.offset + up.length), up);
  });
});

Deno.test("a llama3-RoPE checkpoint with attention biases: rope_freqs tensor and permuted q/k biases", async () => {
  await withDir(async (dir) => {
    const model = FIXTURES + "llama-llama3rope";
    await convertToGguf(model, `${dir}/m.gguf`);
    const file = await Deno.readFile(`${dir}/m.gguf`);
    const freqs = tensorValues(file, "rope_freqs.weight");
    assert.equal(freqs.length, 8); // head_dim 16 / 2
    assert.equal(freqs[0], 1, "the highest frequency is not scaled");
    assert.equal(freqs[7], 8, "the lowest is divided by the factor");
    const checkpoint = await Checkpoint.open(model);
    const bias = toFloat32(checkpoint.read(checkpoint.get("model.layers.0.self_attn.q_proj.bias")));
    assert.deepEqual(tensorValues(file, "blk.0.attn_q.bias"), permuteRope(bias, 4, 1));
    // Its second EOS id stays out of the single-valued GGUF key; the first is kept.
    assert.equal(parseGgufHeader(file).metadata.get("tokenizer.ggml.eos_token_id")?.value, 286);
  });
});

Deno.test("bad input is a clear error: missing config key, unsupported dtype or architecture, other tokenizers", async () => {
  await withDir(async (dir) => {
    await writeSyntheticModel(dir, SHAPE);
    const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    await assert.rejects(
      () => convertToGguf(dir, `${dir}/m.gguf`, { dtype: "q8_0" as "f16" }),
      /dtype must be f32 or f16, got q8_0/,
    );

    const { hidden_size: _, ...noHidden } = config;
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(noHidden));
    await assert.rejects(() => convertToGguf(dir, `${dir}/m.gguf`), /hidden_size/);

    await Deno.writeTextFile(
      `${dir}/config.json`,
      JSON.stringify({ ...config, architectures: ["Qwen2ForCausalLM"] }),
    );
    await assert.rejects(
      () => convertToGguf(dir, `${dir}/m.gguf`),
      /only Llama and Mistral.*Qwen2ForCausalLM/,
    );

    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
    const tokenizer = JSON.parse(await Deno.readTextFile(`${dir}/tokenizer.json`));
    await Deno.writeTextFile(
      `${dir}/tokenizer.json`,
      JSON.stringify({ ...tokenizer, model: { type: "Unigram" } }),
    );
    await assert.rejects(() => convertToGguf(dir, `${dir}/m.gguf`), /only byte-level BPE.*Unigram/);
  });
});

Deno.test("the header codec: every value type round-trips, bad files and values are refused", () => {
  const metadata = new Map<string, GgufValue>([
    ["general.alignment", { type: "u32", value: 32 }],
    ["a.u8", { type: "u8", value: 255 }],
    ["a.i8", { type: "i8", value: -128 }],
    ["a.u16", { type: "u16", value: 65535 }],
    ["a.i16", { type: "i16", value: -32768 }],
    ["a.i32", { type: "i32", value: -5 }],
    ["a.f32", { type: "f32", value: 0.5 }],
    ["a.f64", { type: "f64", value: Math.PI }],
    ["a.bool", { type: "bool", value: true }],
    ["a.u64", { type: "u64", value: 2n ** 63n }],
    ["a.i64", { type: "i64", value: -(2n ** 40n) }],
    ["a.string", { type: "string", value: "héllo" }],
    ["a.array", { type: "array", itemType: "string", value: ["x", "", "z z"] }],
    ["a.empty", { type: "array", itemType: "i32", value: [] }],
  ]);
  const { infos, dataBytes } = layoutTensors([
    { name: "w", dims: [3, 2], type: "f16" },
    { name: "n", dims: [5], type: "f32" },
  ]);
  assert.deepEqual(infos.map((t) => t.offset), [0, 32]);
  assert.equal(dataBytes, 64);
  const header = encodeGgufHeader(metadata, infos);
  assert.equal(header.length % 32, 0);
  assert.deepEqual([...header.subarray(0, 4)].map((b) => String.fromCharCode(b)).join(""), "GGUF");
  const parsed = parseGgufHeader(header);
  assert.deepEqual(parsed.metadata, metadata);
  assert.deepEqual(parsed.tensors, infos);
  assert.equal(parsed.dataStart, header.length);

  const bad = header.slice();
  bad[0] = 0;
  assert.throws(() => parseGgufHeader(bad), /bad magic/);
  assert.throws(() => parseGgufHeader(header.subarray(0, 40)), /file ends inside/);
  assert.throws(
    () => encodeGgufHeader(new Map([["k", { type: "u32", value: -1 }]]), []),
    /GGUF key k: -1 is not a u32/,
  );
  assert.throws(
    () => encodeGgufHeader(new Map([["general.alignment", { type: "u32", value: 64 }]]), []),
    /general.alignment is 64/,
  );
});
