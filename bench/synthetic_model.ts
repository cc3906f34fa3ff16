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
 * Writes config.json, model.safetensors (f32, deterministic pseudo-random weights) and
 * the fixtures' byte-level tokenizer into `dir`.
 *
 * @example
 * ```ts
 * await writeSyntheticModel(dir, BENCH_SHAPE);
 * using model = await loadModel(dir);
 * ```
 */
export async function writeSyntheticModel(dir: string, s: SyntheticShape): Promise<void> {
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
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, shape] of tensors) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(
    JSON.stringify(header).padEnd(8 * Math.ceil(JSON.stringify(header).length / 8)),
  );
  const file = new Uint8Array(8 + json.length + offset);
  new DataView(file.buffer).setBigUint64(0, BigInt(json.length), true);
  file.set(json, 8);
  const data = new Float32Array(file.buffer, 8 + json.length, offset / 4);
  let at = 0;
  for (const [, shape] of tensors) {
    const size = shape.reduce((a, b) => a * b, 1);
    const scale = shape.length === 1 ? 0 : 1 / Math.sqrt(shape[1]);
    for (let i = 0; i < size; i++) data[at + i] = shape.length === 1 ? 1 : scale * Math.sin(i * 12.9898 + at);
    at += size;
  }
  await Deno.writeFile(`${dir}/model.safetensors`, file);
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
