/** A loaded Hugging Face Llama-family model: tokenizer, weights on a device, logits and streaming generation. */

import { type Device, type DeviceRequest, openDevice } from "../backend/device.ts";
import { LukvError, STATUS } from "../backend/errors.ts";
import type { Tensor } from "../backend/tensor.ts";
import { DenseKvCache } from "../cache/dense.ts";
import { loadConfig, type ModelConfig } from "./config.ts";
import { LlamaForward } from "./forward.ts";
import { type GenerationConfig, loadGenerationConfig } from "./generation_config.ts";
import { Checkpoint } from "./safetensors.ts";
import { Tokenizer } from "./tokenizer.ts";
import { loadWeights } from "./weights.ts";
import { type ScoringShape, scoringShapeOf } from "./shape.ts";

/** Options of {@linkcode loadModelParts}. */
export interface LoadOptions {
  /** A device, or which one to open (default `"auto"`: CUDA when a GPU answers, else CPU). */
  device?: Device | DeviceRequest;
}

/**
 * What the pipeline needs of a model to run it: its config, device and forward pass
 * (a loaded `ModelRuntime`, or a random model made on the device).
 */
export interface RunnableModel {
  /** The validated config. */
  readonly config: ModelConfig;
  /** Where the weights live. */
  readonly device: Device;
  /** The forward pass over the weights. */
  readonly forward: LlamaForward;
}

/** What a loaded model folder consists of (see {@linkcode loadModelParts}). */
export interface ModelParts {
  /** The folder it was loaded from. */
  dir: string;
  /** The validated config. */
  config: ModelConfig;
  /** The tokenizer. */
  tokenizer: Tokenizer;
  /** generation_config.json, when present. */
  generationConfig: GenerationConfig | null;
  /** The checkpoint's fingerprint: which weights these are, so that a profile made for other weights is refused. */
  weightsFingerprint: string;
  /** Where the weights live. */
  device: Device;
  /** The forward pass over the weights. */
  forward: LlamaForward;
  /** Tensors to free on close. */
  owned: Tensor[];
  /** Whether closing the model closes the device. */
  ownsDevice: boolean;
}

/**
 * The model runtime: tokenizer, weights on a device, the forward pass and full-cache
 * logits. Generation with presses is the pipeline's `Model`, which extends this. Close
 * it (or `using`) to free its device memory.
 *
 * @example
 * ```ts
 * using model = new ModelRuntime(await loadModelParts("models/tiny", { device: "cpu" }));
 * const logits = await model.logits(model.encode("Hello")); // Float32Array [T * vocab]
 * ```
 */
export class ModelRuntime implements RunnableModel, Disposable {
  readonly #owned: Tensor[];
  readonly #ownsDevice: boolean;
  /** The forward pass (weights, RoPE tables, scratch). */
  readonly forward: LlamaForward;

  /** The folder it was loaded from. */
  readonly dir: string;
  /** The validated config. */
  readonly config: ModelConfig;
  /** The tokenizer. */
  readonly tokenizer: Tokenizer;
  /** generation_config.json, when present. */
  readonly generationConfig: GenerationConfig | null;
  /** The checkpoint's fingerprint (see `Checkpoint.fingerprint`). */
  readonly weightsFingerprint: string;
  /** Where the weights live. */
  readonly device: Device;

  /** Takes over the parts {@linkcode loadModelParts} made. */
  constructor(parts: ModelParts) {
    ({
      dir: this.dir,
      config: this.config,
      tokenizer: this.tokenizer,
      generationConfig: this.generationConfig,
      weightsFingerprint: this.weightsFingerprint,
      device: this.device,
      forward: this.forward,
    } = parts);
    this.#owned = parts.owned;
    this.#ownsDevice = parts.ownsDevice;
  }

  /**
   * Token ids of `text` (with the tokenizer's special tokens, e.g. BOS, unless asked not to).
   *
   * @example
   * ```ts
   * model.encode("Hello"); // Int32Array [128000, 9906]
   * ```
   */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): Int32Array {
    return this.tokenizer.encode(text, options);
  }

  /** Text of token ids (special tokens skipped). */
  decode(ids: ArrayLike<number>): string {
    return this.tokenizer.decode(ids, { skipSpecialTokens: true });
  }

  /** The ids EOS stops at: generation_config.json's, else config.json's. */
  get eosTokenIds(): number[] {
    const fromGeneration = this.generationConfig?.eosTokenIds ?? [];
    return fromGeneration.length > 0 ? fromGeneration : this.config.eosTokenIds;
  }

  /**
   * Logits of every position of `ids` with a full cache, row-major `[T, vocab]`. A refused
   * prompt (empty, beyond the context, unknown ids) rejects with a LukvError (INVALID_ARGUMENT).
   *
   * @example
   * ```ts
   * const logits = await model.logits(model.encode("Hi")); // Float32Array, length T * vocab
   * ```
   */
  // deno-lint-ignore require-await -- async so that a refused prompt rejects rather than throws
  async logits(ids: Int32Array): Promise<Float32Array> {
    this.checkPrompt(ids);
    using cache = this.newCache(ids.length);
    using hidden = this.forward.run(ids, cache);
    return this.forward.logits(hidden);
  }

  /** A dense cache with room for `tokens` tokens. */
  newCache(tokens: number): DenseKvCache {
    const { layers, kvHeads, headDim } = this.config;
    return new DenseKvCache(this.device, { layers, kvHeads, headDim }, tokens);
  }

  /**
   * The longest sequence this runtime computes exactly: `max_position_embeddings`, or
   * Mistral's `sliding_window` when smaller (within the window, full attention is the
   * sliding one; beyond it lukv would differ, so it refuses instead).
   */
  get contextLimit(): number {
    return Math.min(this.config.maxPositionEmbeddings, this.config.slidingWindow ?? Infinity);
  }

  /**
   * The extents scorers and presses need: layers, query and KV heads, head dimension
   * and the RoPE inverse frequencies (Expected Attention rotates query statistics).
   */
  get scoringShape(): ScoringShape {
    return scoringShapeOf(this.config);
  }

  /** Refuses empty prompts, prompts beyond the context and unknown ids, naming the problem. */
  checkPrompt(ids: Int32Array): void {
    const { maxPositionEmbeddings, slidingWindow, vocabSize } = this.config;
    if (ids.length === 0) throw new LukvError("model", STATUS.INVALID_ARGUMENT, "the prompt is empty");
    if (ids.length > this.contextLimit) {
      const limit = this.contextLimit === maxPositionEmbeddings
        ? `max_position_embeddings = ${maxPositionEmbeddings}`
        : `sliding_window = ${slidingWindow} (sliding-window attention is not implemented)`;
      throw new LukvError(
        "model",
        STATUS.INVALID_ARGUMENT,
        `the prompt has ${ids.length} tokens, more than ${limit}`,
      );
    }
    const bad = ids.findIndex((id) => id < 0 || id >= vocabSize);
    if (bad >= 0) {
      throw new LukvError(
        "model",
        STATUS.INVALID_ARGUMENT,
        `token ${bad} is ${ids[bad]}, outside the vocabulary`,
      );
    }
  }

  /** Frees weights, tables and scratch (and the device when the model opened it). */
  close(): void {
    this.forward[Symbol.dispose]();
    for (const t of this.#owned) t.close();
    if (this.#ownsDevice) this.device.close();
  }

  /** Called by `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Loads a Hugging Face model folder: `config.json`, `model.safetensors` (or a sharded
 * index), `tokenizer.json` (+ `tokenizer_config.json`, chat template) and
 * `generation_config.json` when present. Malformed files are LukvErrors naming the
 * file, tensor or field.
 *
 * @example
 * ```ts
 * const parts = await loadModelParts("models/tiny", { device: "cpu" });
 * using model = new ModelRuntime(parts);
 * ```
 */
export async function loadModelParts(dir: string, options: LoadOptions = {}): Promise<ModelParts> {
  const config = await loadConfig(dir);
  const tokenizer = await Tokenizer.load(dir);
  const generationConfig = await loadGenerationConfig(dir);
  const checkpoint = await Checkpoint.open(dir);
  const fingerprint = await checkpoint.fingerprint();
  const request = options.device ?? "auto";
  const device = typeof request === "string" ? await openDevice(request) : request;
  try {
    const { weights, owned } = loadWeights(checkpoint, config, device);
    try {
      const forward = new LlamaForward(device, config, weights);
      return {
        dir,
        config,
        tokenizer,
        generationConfig,
        weightsFingerprint: fingerprint,
        device,
        forward,
        owned,
        ownsDevice: typeof request === "string",
      };
    } catch (error) {
      for (const t of owned) t.close();
      throw error;
    }
  } catch (error) {
    if (typeof request === "string") device.close();
    throw error;
  }
}
