/** A Llama-family checkpoint's tensors on a device: names and shapes checked, dtypes chosen per device. */

import type { Device } from "../backend/device.ts";
import type { Tensor } from "../backend/tensor.ts";
import type { ModelConfig } from "./config.ts";
import { DTYPES } from "../backend/dtype.ts";
import { type Checkpoint, hostView, type StoredTensor, toFloat32, type WeightDType } from "./safetensors.ts";

/** One decoder layer's weights. Linear weights are `[out, in]`; vectors are f32. */
export interface LayerWeights {
  /** RMSNorm before attention, `[hidden]`. */
  inputNorm: Tensor;
  /** `[heads * headDim, hidden]`. */
  q: Tensor;
  /** `[kvHeads * headDim, hidden]`. */
  k: Tensor;
  /** `[kvHeads * headDim, hidden]`. */
  v: Tensor;
  /** `[hidden, heads * headDim]`. */
  o: Tensor;
  /** Projection biases, when the architecture has them. */
  qBias?: Tensor;
  /** `[kvHeads * headDim]`. */
  kBias?: Tensor;
  /** `[kvHeads * headDim]`. */
  vBias?: Tensor;
  /** `[hidden]`. */
  oBias?: Tensor;
  /** Qwen3's per-head RMSNorm of queries and keys, `[headDim]`. */
  qNorm?: Tensor;
  /** `[headDim]`. */
  kNorm?: Tensor;
  /** RMSNorm before the MLP, `[hidden]`. */
  postNorm: Tensor;
  /** `[intermediate, hidden]`. */
  gate: Tensor;
  /** `[intermediate, hidden]`. */
  up: Tensor;
  /** `[hidden, intermediate]`. */
  down: Tensor;
  /** MLP biases (Llama `mlp_bias`). */
  gateBias?: Tensor;
  /** `[intermediate]`. */
  upBias?: Tensor;
  /** `[hidden]`. */
  downBias?: Tensor;
}

/** Every weight of a model. `lmHead` is `embed` itself when embeddings are tied. */
export interface ModelWeights {
  /** `[vocab, hidden]`. */
  embed: Tensor;
  /** The decoder layers. */
  layers: LayerWeights[];
  /** Final RMSNorm, `[hidden]`. */
  norm: Tensor;
  /** `[vocab, hidden]`. */
  lmHead: Tensor;
}

/**
 * Places a checkpoint's weights on a device. Matrices keep their file dtype (f32, f16 or
 * bf16; the matmul widens 16-bit weights in registers, accumulating in f32); norms and
 * biases are f32. On CPU every tensor already in the dtype it needs is mapped from its
 * file (`Device.mapFile`: no copy, pages shared with the page cache); the rest, and every
 * tensor on CUDA, is read from the file once and uploaded. A missing tensor or a wrong
 * shape is a LukvError naming the tensor and its file.
 *
 * @returns the weights and the tensors to close with the model
 * @example
 * ```ts
 * const { weights, owned } = loadWeights(await Checkpoint.open(dir), config, dev);
 * ```
 */
export function loadWeights(
  checkpoint: Checkpoint,
  config: ModelConfig,
  device: Device,
): { weights: ModelWeights; owned: Tensor[] } {
  const owned: Tensor[] = [];
  const { hiddenSize: hidden, intermediateSize: inter, heads, kvHeads, headDim, vocabSize: vocab } = config;
  const upload = (name: string, shape: number[], keepDtype: boolean): Tensor => {
    const t = place(checkpoint, checkpoint.get(name, shape), keepDtype ? undefined : "f32", device);
    owned.push(t);
    return t;
  };
  const matrix = (name: string, shape: number[]) => upload(name, shape, true);
  const vector = (name: string, size: number) => upload(name, [size], false);
  try {
    const layers = Array.from({ length: config.layers }, (_, l): LayerWeights => {
      const p = `model.layers.${l}`;
      const a = `${p}.self_attn`, m = `${p}.mlp`;
      return {
        inputNorm: vector(`${p}.input_layernorm.weight`, hidden),
        q: matrix(`${a}.q_proj.weight`, [heads * headDim, hidden]),
        k: matrix(`${a}.k_proj.weight`, [kvHeads * headDim, hidden]),
        v: matrix(`${a}.v_proj.weight`, [kvHeads * headDim, hidden]),
        o: matrix(`${a}.o_proj.weight`, [hidden, heads * headDim]),
        ...(config.qkvBias && {
          qBias: vector(`${a}.q_proj.bias`, heads * headDim),
          kBias: vector(`${a}.k_proj.bias`, kvHeads * headDim),
          vBias: vector(`${a}.v_proj.bias`, kvHeads * headDim),
        }),
        ...(config.oBias && { oBias: vector(`${a}.o_proj.bias`, hidden) }),
        ...(config.qkNorm && {
          qNorm: vector(`${a}.q_norm.weight`, headDim),
          kNorm: vector(`${a}.k_norm.weight`, headDim),
        }),
        postNorm: vector(`${p}.post_attention_layernorm.weight`, hidden),
        gate: matrix(`${m}.gate_proj.weight`, [inter, hidden]),
        up: matrix(`${m}.up_proj.weight`, [inter, hidden]),
        down: matrix(`${m}.down_proj.weight`, [hidden, inter]),
        ...(config.mlpBias && {
          gateBias: vector(`${m}.gate_proj.bias`, inter),
          upBias: vector(`${m}.up_proj.bias`, inter),
          downBias: vector(`${m}.down_proj.bias`, hidden),
        }),
      };
    });
    const embed = matrix("model.embed_tokens.weight", [vocab, hidden]);
    const norm = vector("model.norm.weight", hidden);
    const lmHead = config.tieWordEmbeddings && !checkpoint.has("lm_head.weight")
      ? embed
      : matrix("lm_head.weight", [vocab, hidden]);
    return { weights: { embed, layers, norm, lmHead }, owned };
  } catch (error) {
    for (const t of owned) t.close();
    throw error;
  }
}

/**
 * One tensor on `device` in dtype `as` (default: its file dtype). Mapping needs the CPU,
 * no conversion, and an offset aligned to the element size (the safetensors writers pad
 * the header so that it is; an unaligned file is read instead).
 */
function place(
  checkpoint: Checkpoint,
  stored: StoredTensor,
  as: WeightDType | undefined,
  device: Device,
): Tensor {
  const dtype = as ?? stored.dtype;
  if (device.kind === "cpu" && dtype === stored.dtype && stored.offset % DTYPES[dtype].bytes === 0) {
    return device.mapFile(stored.path, stored.offset, dtype, stored.shape);
  }
  const tensor = checkpoint.read(stored);
  return dtype === stored.dtype
    ? device.fromArray(dtype, hostView(tensor) as never, stored.shape)
    : device.fromArray("f32", toFloat32(tensor), stored.shape);
}
