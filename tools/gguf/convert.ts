/**
 * Converts a Hugging Face Llama checkpoint folder (config.json, safetensors, tokenizer.json)
 * into a GGUF v3 file llama.cpp loads: arch `llama`, f32 or f16 matrices (norms stay f32,
 * as llama.cpp's convert_hf_to_gguf.py keeps them), the `llama.*` hyperparameters and the
 * checkpoint's own byte-level BPE vocabulary, so token ids mean the same on both sides.
 *
 * ```sh
 * deno run --allow-read --allow-write tools/gguf/convert.ts --model DIR --out model.gguf [--dtype f32|f16]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { loadConfig, type ModelConfig } from "../../src/model/config.ts";
import { inverseFrequencies } from "../../src/model/rope.ts";
import { Checkpoint, type StoredTensor, toFloat32 } from "../../src/model/safetensors.ts";
import {
  encodeGgufHeader,
  type GgmlTypeName,
  GGUF_ALIGNMENT,
  ggufTensorBytes,
  type GgufTensorInfo,
  type GgufValue,
  layoutTensors,
} from "./gguf.ts";

/** The element types a conversion can write its matrices in. */
export type GgufOutputDType = "f32" | "f16";

/**
 * Reorders the rows of a q_proj or k_proj weight (or bias) from Hugging Face's
 * rotate-half RoPE layout to llama.cpp's interleaved one, exactly as
 * convert_hf_to_gguf.py's `permute(w, n_head, n_head_kv)`: per head, rows
 * `(i, j)` of shape `(2, headDim / 2)` become `(j, i)`. Without it llama.cpp rotates
 * the wrong pairs of dimensions and its logits differ from lukv's. `values` is
 * `[heads * headDim, cols]` row-major (cols 1 for a bias); returns a new array.
 *
 * @example
 * ```ts
 * permuteRope(new Float32Array([0, 1, 2, 3]), 1, 1); // [0, 2, 1, 3]: rows 0,1 | 2,3 interleave
 * ```
 */
export function permuteRope(values: Float32Array, heads: number, cols: number): Float32Array {
  const { headDim, half } = ropeShape(values, heads, cols);
  const out = new Float32Array(values.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < half; j++) {
        const from = (h * headDim + i * half + j) * cols, to = (h * headDim + 2 * j + i) * cols;
        out.set(values.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}

/**
 * The inverse of {@linkcode permuteRope}: llama.cpp's interleaved rows back to Hugging
 * Face's rotate-half layout.
 *
 * @example
 * ```ts
 * unpermuteRope(permuteRope(w, heads, cols), heads, cols); // equals w
 * ```
 */
export function unpermuteRope(values: Float32Array, heads: number, cols: number): Float32Array {
  const { headDim, half } = ropeShape(values, heads, cols);
  const out = new Float32Array(values.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < half; j++) {
        const from = (h * headDim + 2 * j + i) * cols, to = (h * headDim + i * half + j) * cols;
        out.set(values.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}

function ropeShape(values: Float32Array, heads: number, cols: number): { headDim: number; half: number } {
  const rows = values.length / cols;
  if (!Number.isInteger(rows) || rows % (2 * heads) !== 0) {
    throw new RangeError(
      `cannot split ${values.length} values of ${cols} columns into ${heads} heads of pairs`,
    );
  }
  return { headDim: rows / heads, half: rows / heads / 2 };
}

/** One tensor of the output: llama.cpp's name, where it comes from, how it is stored. */
interface PlannedTensor {
  info: Omit<GgufTensorInfo, "offset">;
  source: StoredTensor | null;
  /** Makes the f32 values to write (permutation, computed tensors). */
  values: () => Float32Array;
}

/** Hugging Face tensor name suffixes to llama.cpp's, per layer. */
const LAYER_NAMES: [string, string][] = [
  ["input_layernorm.weight", "attn_norm.weight"],
  ["self_attn.q_proj.weight", "attn_q.weight"],
  ["self_attn.q_proj.bias", "attn_q.bias"],
  ["self_attn.k_proj.weight", "attn_k.weight"],
  ["self_attn.k_proj.bias", "attn_k.bias"],
  ["self_attn.v_proj.weight", "attn_v.weight"],
  ["self_attn.v_proj.bias", "attn_v.bias"],
  ["self_attn.o_proj.weight", "attn_output.weight"],
  ["self_attn.o_proj.bias", "attn_output.bias"],
  ["post_attention_layernorm.weight", "ffn_norm.weight"],
  ["mlp.gate_proj.weight", "ffn_gate.weight"],
  ["mlp.up_proj.weight", "ffn_up.weight"],
  ["mlp.down_proj.weight", "ffn_down.weight"],
];

function planTensors(config: ModelConfig, checkpoint: Checkpoint, dtype: GgufOutputDType): PlannedTensor[] {
  const plan: PlannedTensor[] = [];
  const add = (from: string, to: string, heads?: number) => {
    const source = checkpoint.get(from);
    const cols = source.shape.length === 2 ? source.shape[1] : 1;
    // 1-D tensors (norms, biases) stay f32: llama.cpp's converter keeps them so, and they are tiny.
    const type: GgmlTypeName = source.shape.length === 1 ? "f32" : dtype;
    plan.push({
      info: { name: to, dims: [...source.shape].reverse(), type },
      source,
      values: () => {
        const values = toFloat32(checkpoint.read(source));
        return heads === undefined ? values : permuteRope(values, heads, cols);
      },
    });
  };
  add("model.embed_tokens.weight", "token_embd.weight");
  for (let l = 0; l < config.layers; l++) {
    for (const [from, to] of LAYER_NAMES) {
      const name = `model.layers.${l}.${from}`;
      if (from.endsWith(".bias") && !checkpoint.has(name)) continue;
      const heads = from.startsWith("self_attn.q_proj")
        ? config.heads
        : from.startsWith("self_attn.k_proj")
        ? config.kvHeads
        : undefined;
      add(name, `blk.${l}.${to}`, heads);
    }
  }
  add("model.norm.weight", "output_norm.weight");
  // Tied embeddings: llama.cpp falls back to token_embd when output.weight is absent.
  if (checkpoint.has("lm_head.weight") && !config.tieWordEmbeddings) add("lm_head.weight", "output.weight");
  if (config.ropeScaling?.type === "llama3") {
    const factors = llama3RopeFactors(config);
    plan.push({
      info: { name: "rope_freqs.weight", dims: [factors.length], type: "f32" },
      source: null,
      values: () => factors,
    });
  }
  const unused = checkpoint.unused().filter((n) => !(n === "lm_head.weight" && config.tieWordEmbeddings));
  if (unused.length > 0) throw new RangeError(`tensors this converter does not map: ${unused.join(", ")}`);
  return plan;
}

/**
 * llama.cpp's per-frequency divisors for Llama 3.1 RoPE scaling (the `rope_freqs`
 * tensor convert_hf_to_gguf.py computes): the unscaled inverse frequencies over the
 * scaled ones, as lukv's own RoPE computes them (1 for high frequencies, `factor` for
 * low ones, a smooth blend between).
 */
function llama3RopeFactors(config: ModelConfig): Float32Array {
  const plain = inverseFrequencies(config.headDim, config.ropeTheta);
  const scaled = inverseFrequencies(config.headDim, config.ropeTheta, config.ropeScaling);
  return Float32Array.from(plain, (f, i) => f / scaled[i]);
}

/** GGUF token types (llama.cpp's `llama_token_type`). */
const TOKEN_TYPE = { normal: 1, control: 3, userDefined: 4, unused: 5 } as const;

interface TokenizerJson {
  model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[] };
  added_tokens?: { id: number; content: string; special?: boolean }[];
  pre_tokenizer?: { type?: string; use_regex?: boolean } | null;
}

/**
 * The `tokenizer.ggml.*` metadata of a byte-level BPE tokenizer.json (GPT-2 / Llama 3
 * style): every id below `vocabSize` gets its token (ids the tokenizer lacks become
 * `[PAD<id>]`, unused, as convert_hf_to_gguf.py pads), merges as "a b" strings.
 *
 * @example
 * ```ts
 * const meta = tokenizerMetadata(JSON.parse(await Deno.readTextFile("tokenizer.json")), config);
 * meta.get("tokenizer.ggml.model"); // { type: "string", value: "gpt2" }
 * ```
 */
export function tokenizerMetadata(tokenizer: unknown, config: ModelConfig): Map<string, GgufValue> {
  const t = tokenizer as TokenizerJson;
  if (t?.model?.type !== "BPE" || typeof t.model.vocab !== "object" || !Array.isArray(t.model.merges)) {
    throw new TypeError(
      `tokenizer.json: only byte-level BPE tokenizers are converted (model.type "${t?.model?.type}")`,
    );
  }
  const tokens: (string | undefined)[] = new Array(config.vocabSize);
  const types = new Array<number>(config.vocabSize).fill(TOKEN_TYPE.normal);
  const place = (id: number, content: string, type: number) => {
    if (!Number.isInteger(id) || id < 0 || id >= config.vocabSize) {
      throw new RangeError(
        `tokenizer.json: token "${content}" has id ${id}, outside vocab_size ${config.vocabSize}`,
      );
    }
    tokens[id] = content;
    types[id] = type;
  };
  for (const [content, id] of Object.entries(t.model.vocab)) place(id, content, TOKEN_TYPE.normal);
  for (const added of t.added_tokens ?? []) {
    place(added.id, added.content, added.special ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined);
  }
  for (let id = 0; id < config.vocabSize; id++) {
    if (tokens[id] === undefined) {
      tokens[id] = `[PAD${id}]`;
      types[id] = TOKEN_TYPE.unused;
    }
  }
  const merges = t.model.merges.map((m) => Array.isArray(m) ? m.join(" ") : m);
  const pre = t.pre_tokenizer;
  const meta = new Map<string, GgufValue>([
    ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
    // llama.cpp picks its pre-tokenizer regex by name; ByteLevel with use_regex is GPT-2's.
    ["tokenizer.ggml.pre", {
      type: "string",
      value: pre?.type === "ByteLevel" && pre.use_regex !== false ? "gpt-2" : "default",
    }],
    ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tokens as string[] }],
    ["tokenizer.ggml.token_type", { type: "array", itemType: "i32", value: types }],
    ["tokenizer.ggml.merges", { type: "array", itemType: "string", value: merges }],
  ]);
  if (config.bosTokenId !== null) {
    meta.set("tokenizer.ggml.bos_token_id", { type: "u32", value: config.bosTokenId });
    meta.set("tokenizer.ggml.add_bos_token", { type: "bool", value: true });
  }
  if (config.eosTokenIds.length > 0) {
    meta.set("tokenizer.ggml.eos_token_id", { type: "u32", value: config.eosTokenIds[0] });
  }
  return meta;
}

/**
 * The `general.*` and `llama.*` metadata of a Llama configuration. Features llama.cpp's
 * `llama` architecture does not have (q/k norms, MLP biases, sliding windows) are refused.
 *
 * @example
 * ```ts
 * llamaMetadata(await loadConfig("models/tiny"), "f16").get("llama.block_count"); // { type: "u32", value: 4 }
 * ```
 */
export function llamaMetadata(
  config: ModelConfig,
  dtype: GgufOutputDType,
  name = "lukv",
): Map<string, GgufValue> {
  if (config.architecture !== "LlamaForCausalLM" && config.architecture !== "MistralForCausalLM") {
    throw new TypeError(
      `only Llama and Mistral checkpoints convert to GGUF "llama", not ${config.architecture}`,
    );
  }
  for (const [flag, what] of [[config.qkNorm, "q/k norms"], [config.mlpBias, "MLP biases"]] as const) {
    if (flag) throw new TypeError(`llama.cpp's llama architecture has no ${what}`);
  }
  if (config.slidingWindow !== null) {
    throw new TypeError("sliding-window attention does not convert to GGUF llama");
  }
  const u32 = (value: number): GgufValue => ({ type: "u32", value });
  const f32 = (value: number): GgufValue => ({ type: "f32", value });
  const meta = new Map<string, GgufValue>([
    ["general.architecture", { type: "string", value: "llama" }],
    ["general.name", { type: "string", value: name }],
    ["general.alignment", u32(GGUF_ALIGNMENT)],
    // llama_ftype: 0 all f32, 1 mostly f16.
    ["general.file_type", u32(dtype === "f32" ? 0 : 1)],
    ["llama.vocab_size", u32(config.vocabSize)],
    ["llama.context_length", u32(config.maxPositionEmbeddings)],
    ["llama.embedding_length", u32(config.hiddenSize)],
    ["llama.block_count", u32(config.layers)],
    ["llama.feed_forward_length", u32(config.intermediateSize)],
    ["llama.attention.head_count", u32(config.heads)],
    ["llama.attention.head_count_kv", u32(config.kvHeads)],
    ["llama.attention.key_length", u32(config.headDim)],
    ["llama.attention.value_length", u32(config.headDim)],
    ["llama.attention.layer_norm_rms_epsilon", f32(config.rmsNormEps)],
    ["llama.rope.freq_base", f32(config.ropeTheta)],
    ["llama.rope.dimension_count", u32(config.headDim)],
  ]);
  if (config.ropeScaling?.type === "linear") {
    meta.set("llama.rope.scaling.type", { type: "string", value: "linear" });
    meta.set("llama.rope.scaling.factor", f32(config.ropeScaling.factor));
  }
  return meta;
}

/**
 * Converts the checkpoint folder `dir` into the GGUF file `out`, streaming one tensor at
 * a time (memory stays near the largest tensor). q/k projections are permuted with
 * {@linkcode permuteRope}. Returns the header's tensor infos.
 *
 * @example
 * ```ts
 * await convertToGguf("models/tiny", "/tmp/tiny-f16.gguf", { dtype: "f16" });
 * ```
 */
export async function convertToGguf(
  dir: string,
  out: string,
  options: { dtype?: GgufOutputDType; name?: string } = {},
): Promise<GgufTensorInfo[]> {
  const dtype = options.dtype ?? "f32";
  if (dtype !== "f32" && dtype !== "f16") throw new TypeError(`dtype must be f32 or f16, got ${dtype}`);
  const config = await loadConfig(dir);
  const metadata = llamaMetadata(config, dtype, options.name);
  const tokenizerText = await Deno.readTextFile(`${dir}/tokenizer.json`);
  for (const [k, v] of tokenizerMetadata(JSON.parse(tokenizerText), config)) metadata.set(k, v);
  const checkpoint = await Checkpoint.open(dir);
  const plan = planTensors(config, checkpoint, dtype);
  const { infos } = layoutTensors(plan.map((p) => p.info));
  const header = encodeGgufHeader(metadata, infos);
  using file = await Deno.open(out, { write: true, create: true, truncate: true });
  await writeAll(file, header);
  let written = 0;
  for (const [i, p] of plan.entries()) {
    if (written < infos[i].offset) await writeAll(file, new Uint8Array(infos[i].offset - written));
    const values = p.values();
    const bytes = p.info.type === "f32"
      ? new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
      : new Uint8Array(new Float16Array(values).buffer);
    if (bytes.length !== ggufTensorBytes(p.info)) {
      throw new Error(`internal: ${p.info.name} has the wrong size`);
    }
    await writeAll(file, bytes);
    written = infos[i].offset + bytes.length;
  }
  return infos;
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      model: { type: "string" },
      out: { type: "string" },
      dtype: { type: "string", default: "f32" },
    },
  });
  if (!values.model || !values.out) {
    console.error("usage: convert.ts --model DIR --out FILE.gguf [--dtype f32|f16]");
    Deno.exit(2);
  }
  await convertToGguf(values.model, values.out, { dtype: values.dtype as GgufOutputDType });
}
