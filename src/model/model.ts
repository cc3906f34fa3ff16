/** A loaded Hugging Face Llama-family model: tokenizer, weights on a device, logits and streaming generation. */

import { type Device, type DeviceRequest, openDevice } from "../backend/device.ts";
import { LukvError, STATUS } from "../backend/errors.ts";
import type { Tensor } from "../backend/tensor.ts";
import { DenseKvCache } from "../cache/dense.ts";
import { loadConfig, type ModelConfig } from "./config.ts";
import { LlamaForward } from "./forward.ts";
import { type GenerateOptions, Generation, type SplitPrompt } from "./generate.ts";
import { type GenerationConfig, loadGenerationConfig } from "./generation_config.ts";
import { Checkpoint } from "./safetensors.ts";
import { Tokenizer } from "./tokenizer.ts";
import { loadWeights } from "./weights.ts";
import { inverseFrequencies } from "./rope.ts";
import type { ScoringShape } from "../press/layer_scoring.ts";

/** Options of {@linkcode loadModel}. */
export interface LoadOptions {
  /** A device, or which one to open (default `"auto"`: CUDA when a GPU answers, else CPU). */
  device?: Device | DeviceRequest;
}

/**
 * The extents scorers and presses need, from a model's config: layers, query and KV
 * heads, head dimension and the RoPE inverse frequencies. For code that holds a config
 * but no {@linkcode Model} (random models, benchmarks); a model has it as `scoringShape`.
 *
 * @example
 * ```ts
 * const shape = scoringShapeOf(config); // { layers, heads, kvHeads, headDim, inverseFrequencies }
 * ```
 */
export function scoringShapeOf(config: ModelConfig): ScoringShape {
  const { layers, heads, kvHeads, headDim, ropeTheta, ropeScaling } = config;
  return {
    layers,
    heads,
    kvHeads,
    headDim,
    inverseFrequencies: inverseFrequencies(headDim, ropeTheta, ropeScaling),
  };
}

/**
 * A model ready to run. Close it (or `using`) to free its device memory.
 *
 * @example
 * ```ts
 * using model = await loadModel("models/tiny");
 * for await (const piece of model.generate("The capital of France is", { maxNewTokens: 8 })) {
 *   Deno.stdout.writeSync(new TextEncoder().encode(piece));
 * }
 * ```
 */
export class Model implements Disposable {
  readonly #owned: Tensor[];
  readonly #ownsDevice: boolean;
  /** The forward pass (weights, RoPE tables, scratch). */
  readonly forward: LlamaForward;

  /**
   * Use {@linkcode loadModel}.
   *
   * @param weightsFingerprint The checkpoint's {@linkcode Checkpoint.fingerprint}: which
   *   weights these are, so that a profile made for other weights is refused.
   */
  constructor(
    readonly dir: string,
    readonly config: ModelConfig,
    readonly tokenizer: Tokenizer,
    readonly generationConfig: GenerationConfig | null,
    readonly weightsFingerprint: string,
    readonly device: Device,
    forward: LlamaForward,
    owned: Tensor[],
    ownsDevice: boolean,
  ) {
    this.forward = forward;
    this.#owned = owned;
    this.#ownsDevice = ownsDevice;
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

  /**
   * Generates from a prompt (text is encoded with special tokens; ids are used as
   * given). With a press, the cache is compressed after the whole prompt
   * (query-aware); with `{ context, question }`, after the context, and the question is
   * then appended to the compressed cache (query-agnostic). The result is
   * async-iterable over decoded text pieces and its `stats()` resolve after the last token.
   *
   * @example
   * ```ts
   * const run = model.generate("Once upon a time", { maxNewTokens: 32, temperature: 0.7, seed: 1 });
   * for await (const piece of run) console.log(piece);
   * console.log(await run.stats()); // { promptTokens, newTokens, prefillMs, decodeTokensPerSecond, ... }
   * ```
   */
  generate(prompt: string | Int32Array | SplitPrompt, options: GenerateOptions = {}): Generation {
    const encode = (p: string | Int32Array, special: boolean) =>
      typeof p === "string" ? this.encode(p, { addSpecialTokens: special }) : p;
    if (typeof prompt === "string" || prompt instanceof Int32Array) {
      const ids = encode(prompt, true);
      this.checkPrompt(ids);
      return new Generation(this, ids, options);
    }
    const context = encode(prompt.context, true), question = encode(prompt.question, false);
    const whole = new Int32Array(context.length + question.length);
    whole.set(context);
    whole.set(question, context.length);
    this.checkPrompt(whole);
    return new Generation(this, context, options, question);
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
 * using model = await loadModel("models/tiny", { device: "cpu" });
 * ```
 */
export async function loadModel(dir: string, options: LoadOptions = {}): Promise<Model> {
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
      return new Model(
        dir,
        config,
        tokenizer,
        generationConfig,
        fingerprint,
        device,
        forward,
        owned,
        typeof request === "string",
      );
    } catch (error) {
      for (const t of owned) t.close();
      throw error;
    }
  } catch (error) {
    if (typeof request === "string") device.close();
    throw error;
  }
}
