/** A randomly initialised Llama checkpoint written in Hugging Face layout, sized for benchmarks (no download needed). */

/** The shape of a synthetic model. */
export interface SyntheticShape {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  vocab: number;
  maxPositions: number;
}

/** About 27M parameters: big enough that decode is bound by weights and cache traffic. */
export const BENCH_SHAPE: SyntheticShape = {
  hidden: 512,
  layers: 8,
  heads: 8,
  kvHeads: 2,
  intermediate: 1408,
  vocab: 4096,
  maxPositions: 4096,
};

/**
 * How {@linkcode writeSyntheticModel} stores the weights.
 *
 * @example
 * ```ts
 * const options: SyntheticOptions = { dtype: "f16" };
 * ```
 */
export interface SyntheticOptions {
  /** Element type of every tensor in model.safetensors (default `"f32"`). */
  dtype?: "f32" | "f16";
}

/**
 * Writes config.json, model.safetensors (deterministic pseudo-random weights, f32 or f16)
 * and the fixtures' byte-level tokenizer into `dir`. Matrices are independent uniform
 * draws of variance 1 / fan-in, so they are full rank (a low-rank matrix would let a
 * peer's kernels or a compressed cache look better than they are on real weights); norms
 * are 1. The file is written one tensor at a time, so memory stays near one tensor.
 *
 * @example
 * ```ts
 * await writeSyntheticModel(dir, BENCH_SHAPE, { dtype: "f16" });
 * using model = await loadModel(dir);
 * ```
 */
export async function writeSyntheticModel(
  dir: string,
  s: SyntheticShape,
  options: SyntheticOptions = {},
): Promise<void> {
  const { dtype = "f32" } = options;
  const headDim = s.hidden / s.heads;
  const tensors: [string, number[]][] = [["model.embed_tokens.weight", [s.vocab, s.hidden]]];
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}`;
    tensors.push(
      [`${p}.input_layernorm.weight`, [s.hidden]],
      [`${p}.self_attn.q_proj.weight`, [s.heads * headDim, s.hidden]],
      [`${p}.self_attn.k_proj.weight`, [s.kvHeads * headDim, s.hidden]],
      [`${p}.self_attn.v_proj.weight`, [s.kvHeads * headDim, s.hidden]],
      [`${p}.self_attn.o_proj.weight`, [s.hidden, s.heads * headDim]],
      [`${p}.post_attention_layernorm.weight`, [s.hidden]],
      [`${p}.mlp.gate_proj.weight`, [s.intermediate, s.hidden]],
      [`${p}.mlp.up_proj.weight`, [s.intermediate, s.hidden]],
      [`${p}.mlp.down_proj.weight`, [s.hidden, s.intermediate]],
    );
  }
  tensors.push(["model.norm.weight", [s.hidden]], ["lm_head.weight", [s.vocab, s.hidden]]);
  const elementBytes = dtype === "f32" ? 4 : 2;
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, shape] of tensors) {
    const bytes = shape.reduce((a, b) => a * b, 1) * elementBytes;
    header[name] = { dtype: dtype === "f32" ? "F32" : "F16", shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(
    JSON.stringify(header).padEnd(8 * Math.ceil(JSON.stringify(header).length / 8)),
  );
  const prefix = new Uint8Array(8 + json.length);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(json.length), true);
  prefix.set(json, 8);
  using file = await Deno.open(`${dir}/model.safetensors`, { write: true, create: true, truncate: true });
  const writeAll = async (bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
  };
  await writeAll(prefix);
  // xorshift32: fast, deterministic, and its draws are independent enough for full rank.
  let state = 2654435761; // any nonzero start; fixed, so every run writes the same model
  for (const [, shape] of tensors) {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (shape.length === 1) values.fill(1);
    else {
      const scale = Math.sqrt(3 / shape[1]) / 2 ** 31; // uniform(-a, a) has variance a^2 / 3
      for (let i = 0; i < values.length; i++) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        values[i] = (state | 0) * scale;
      }
    }
    await writeAll(new Uint8Array(dtype === "f32" ? values.buffer : new Float16Array(values).buffer));
  }
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify({
      architectures: ["LlamaForCausalLM"],
      hidden_size: s.hidden,
      intermediate_size: s.intermediate,
      num_hidden_layers: s.layers,
      num_attention_heads: s.heads,
      num_key_value_heads: s.kvHeads,
      max_position_embeddings: s.maxPositions,
      vocab_size: s.vocab,
      rms_norm_eps: 1e-5,
      rope_theta: 500000,
      hidden_act: "silu",
      tie_word_embeddings: false,
      bos_token_id: 285,
      eos_token_id: 286,
    }),
  );
  const fixture = new URL("../tests/fixtures/models/llama-llama3rope/", import.meta.url).pathname;
  for (const name of ["tokenizer.json", "tokenizer_config.json"]) {
    await Deno.copyFile(fixture + name, `${dir}/${name}`);
  }
}
