/** A Llama-family model with random weights made on the device: any shape, no checkpoint, for benchmarks at full size. */

import type { Device } from "../backend/device.ts";
import type { DType } from "../backend/dtype.ts";
import * as ops from "../backend/ops.ts";
import type { Tensor } from "../backend/tensor.ts";
import { DenseKvCache } from "../cache/dense.ts";
import type { ModelConfig } from "./config.ts";
import { LlamaForward } from "./forward.ts";
import type { LayerWeights, ModelWeights } from "./weights.ts";

/**
 * The shape of Llama-3.1-8B: 32 layers, hidden 4096, 32 query / 8 KV heads of 128, MLP
 * 14336, vocabulary 128256, llama3 RoPE scaling (factor 8) up to 131072 positions,
 * untied embeddings. About 8.0 billion parameters (16 GB in bf16).
 *
 * @example
 * ```ts
 * using model = randomLlama({ ...LLAMA_3_1_8B, maxPositionEmbeddings: 32832 }, dev);
 * ```
 */
export const LLAMA_3_1_8B: Readonly<ModelConfig> = Object.freeze(
  {
    architecture: "LlamaForCausalLM",
    vocabSize: 128256,
    hiddenSize: 4096,
    intermediateSize: 14336,
    layers: 32,
    heads: 32,
    kvHeads: 8,
    headDim: 128,
    rmsNormEps: 1e-5,
    ropeTheta: 500000,
    ropeScaling: {
      type: "llama3",
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    },
    maxPositionEmbeddings: 131072,
    tieWordEmbeddings: false,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
    qkNorm: false,
    slidingWindow: null,
    bosTokenId: 128000,
    eosTokenIds: [128001, 128008, 128009],
  } satisfies ModelConfig,
);

/** Options of {@linkcode randomLlama}. */
export interface RandomLlamaOptions {
  /** Seed of every weight's stream (default 0): the same seed gives the same weights on every device. */
  seed?: number;
  /** Dtype of the matrices: default bf16 on CUDA, f32 on CPU (whose matmul takes f32 only). */
  dtype?: "f32" | "f16" | "bf16";
}

/** A random model: its config, weights and forward pass on one device. */
export interface RandomLlama extends Disposable {
  /** The shape it was made for. */
  readonly config: ModelConfig;
  /** Where the weights live. */
  readonly device: Device;
  /** Every weight (owned: freed by `close()`). */
  readonly weights: ModelWeights;
  /** The forward pass over the weights. */
  readonly forward: LlamaForward;
  /** Number of weights (a tied head counted once). */
  readonly parameters: number;
  /** Bytes of all weight tensors. */
  readonly weightBytes: number;
  /** A dense KV cache with room for `tokens` tokens. */
  newCache(tokens: number): DenseKvCache;
  /** Frees the weights, RoPE tables and scratch (not the device). Harmless twice. */
  close(): void;
}

/**
 * Builds a Llama-family model of `config`'s shape whose weights are drawn on the device
 * with {@linkcode ops.fillRandom}: every linear weight `[out, in]` uniform in
 * ±1/sqrt(in) (the embedding and LM head too, `in` being the hidden size), biases alike,
 * every RMSNorm weight 1. Nothing is read from disk or copied from the host, so an
 * 8B-shaped model is ready in well under a second on a GPU. Weight `n` (in the order
 * embedding, layers, norm, head) uses the stream `seed * 2^20 + n`, so a model is the
 * same on CPU and CUDA for the same seed and dtype. `forward.run` and `forward.logits`
 * work as on a loaded model.
 *
 * @example
 * ```ts
 * using dev = await openDevice("cuda");
 * using model = randomLlama({ ...LLAMA_3_1_8B, maxPositionEmbeddings: 33000 }, dev, { seed: 1 });
 * using cache = model.newCache(32768 + 64);
 * using hidden = model.forward.run(prompt, cache); // prompt: Int32Array of 32768 ids
 * ```
 */
export function randomLlama(
  config: ModelConfig,
  device: Device,
  options: RandomLlamaOptions = {},
): RandomLlama {
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0 || seed >= 2 ** 40) {
    throw new RangeError(`seed must be an integer in [0, 2^40), got ${seed}`);
  }
  const dtype: DType = options.dtype ?? (device.kind === "cpu" ? "f32" : "bf16");
  if (!["f32", "f16", "bf16"].includes(dtype)) {
    throw new TypeError(`dtype must be f32, f16 or bf16, got ${JSON.stringify(dtype)}`);
  }
  if (device.kind === "cpu" && dtype !== "f32") {
    throw new RangeError(`the CPU library's matmul takes f32 weights only; got dtype ${dtype}`);
  }
  const owned: Tensor[] = [];
  let stream = 0;
  const random = (shape: number[], type: DType, fanIn: number): Tensor => {
    const t = device.empty(type, shape);
    owned.push(t);
    ops.fillRandom(t, (BigInt(seed) << 20n) + BigInt(stream++), 1 / Math.sqrt(fanIn));
    return t;
  };
  const matrix = (rows: number, cols: number) => random([rows, cols], dtype, cols);
  const bias = (size: number, fanIn: number) => random([size], "f32", fanIn);
  const ones = (size: number): Tensor => {
    const t = device.empty("f32", [size]);
    owned.push(t);
    stream++;
    return t.fill(1);
  };
  try {
    const { hiddenSize: hidden, intermediateSize: inter, heads, kvHeads, headDim, vocabSize } = config;
    const embed = matrix(vocabSize, hidden);
    const layers = Array.from({ length: config.layers }, (): LayerWeights => ({
      inputNorm: ones(hidden),
      q: matrix(heads * headDim, hidden),
      k: matrix(kvHeads * headDim, hidden),
      v: matrix(kvHeads * headDim, hidden),
      o: matrix(hidden, heads * headDim),
      ...(config.qkvBias && {
        qBias: bias(heads * headDim, hidden),
        kBias: bias(kvHeads * headDim, hidden),
        vBias: bias(kvHeads * headDim, hidden),
      }),
      ...(config.oBias && { oBias: bias(hidden, heads * headDim) }),
      ...(config.qkNorm && { qNorm: ones(headDim), kNorm: ones(headDim) }),
      postNorm: ones(hidden),
      gate: matrix(inter, hidden),
      up: matrix(inter, hidden),
      down: matrix(hidden, inter),
      ...(config.mlpBias && {
        gateBias: bias(inter, hidden),
        upBias: bias(inter, hidden),
        downBias: bias(hidden, inter),
      }),
    }));
    const norm = ones(hidden);
    const lmHead = config.tieWordEmbeddings ? embed : matrix(vocabSize, hidden);
    const weights: ModelWeights = { embed, layers, norm, lmHead };
    const forward = new LlamaForward(device, config, weights);
    const parameters = owned.reduce((sum, t) => sum + t.size, 0);
    const weightBytes = owned.reduce((sum, t) => sum + t.byteLength, 0);
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      forward[Symbol.dispose]();
      for (const t of owned) t.close();
    };
    return {
      config,
      device,
      weights,
      forward,
      parameters,
      weightBytes,
      newCache: (tokens) => new DenseKvCache(device, { layers: config.layers, kvHeads, headDim }, tokens),
      close,
      [Symbol.dispose]: close,
    };
  } catch (error) {
    for (const t of owned) t.close();
    throw error;
  }
}
