/**
 * lukv: Llama-family inference in Deno with a compressed KV cache and LU-KV per-head
 * budgets. This entry point is the public API: load a model, generate with any press
 * (a scorer under an allocator: `snapkv`, `adakv-expected-attention`, `lukv-snapkv`,
 * ...), profile a model for LU-KV, and the devices, tensors and ops underneath. The
 * LU-KV core alone (solver, profiles, `.npy`) is `@lukv/lukv/lukv`, with no native
 * library; the evaluation harness is `@lukv/lukv/eval`; the raw ABI (symbol table,
 * loader) is `@lukv/lukv/native`.
 *
 * @example
 * ```ts
 * import { loadModel } from "@lukv/lukv";
 *
 * using model = await loadModel("models/tiny");
 * const run = model.generate(prompt, { press: "lukv-expected-attention", compressionRatio: 0.8 });
 * for await (const piece of run) console.log(piece);
 * console.log(await run.stats()); // { kvBytes, kvBytesFull, prefillMs, ... }
 * ```
 *
 * @example
 * ```ts
 * import { openDevice, ops } from "@lukv/lukv";
 *
 * using dev = await openDevice("auto");
 * using x = dev.fromArray("f32", new Float32Array([1, 2, 3, 4]), [2, 2]);
 * using w = dev.fromArray("f32", new Float32Array([1, 0, 0, 1]), [2, 2]);
 * using y = dev.empty("f32", [2, 2]);
 * ops.matmul(y, x, w);
 * console.log(y.toHost()); // Float32Array [1, 2, 3, 4]
 * ```
 *
 * @module
 */

export { Device, type DeviceRequest, type MemoryInfo, openDevice } from "./src/backend/device.ts";
export type { DType, HostArray } from "./src/backend/dtype.ts";
export { LukvError, STATUS, type StatusName } from "./src/backend/errors.ts";
/** The ops of a Llama-family forward on tensors (matmul, rmsnorm, rope, attention, ...). */
export * as ops from "./src/backend/ops.ts";
export { Tensor } from "./src/backend/tensor.ts";
export { denseKvBytes, DenseKvCache, type KvShape } from "./src/cache/dense.ts";
export type { KvCache, LayerKv } from "./src/cache/kv_cache.ts";
export { type KeptTokens, RaggedKvCache } from "./src/cache/ragged.ts";
export {
  type Architecture,
  type ModelConfig,
  type RopeScaling,
  SUPPORTED_ARCHITECTURES,
} from "./src/model/config.ts";
export { type GenerationConfig } from "./src/model/generation_config.ts";
export type { LlamaForward } from "./src/model/forward.ts";
export type { LoadOptions, ModelRuntime, RunnableModel } from "./src/model/model.ts";
export type { LayerWeights, ModelWeights } from "./src/model/weights.ts";
export type { ForwardObserver } from "./src/model/observer.ts";
export type { SamplingOptions } from "./src/model/sampling.ts";
export type { ScoringShape } from "./src/model/shape.ts";
export {
  type ChatMessage,
  type DecodeOptions,
  StreamingDetokenizer,
  Tokenizer,
} from "./src/model/tokenizer.ts";
export {
  LLAMA_3_1_8B,
  type RandomLlama,
  randomLlama,
  type RandomLlamaOptions,
} from "./src/model/random_model.ts";
export type { LayerSelection, Press, PressShape } from "./src/press/press.ts";
export type { Protections } from "./src/press/select.ts";
export {
  type AllocatorParams,
  makePress,
  parsePressName,
  PRESS_GRAMMAR,
  PRESS_NAMES,
  type PressOptions,
} from "./src/press/registry.ts";
export { makeScorer, SCORER_NAMES, scorerParamNames } from "./src/press/scorers/registry.ts";
export type { LayerState, Scorer, ScorerNeed, ScorerParams } from "./src/press/scorers/scorer.ts";
export {
  type GenerateOptions,
  Generation,
  type GenerationStats,
  type SplitPrompt,
} from "./src/pipeline/generate.ts";
export { loadModel, Model } from "./src/pipeline/model.ts";
export { DEFAULT_PROFILE_SCORERS, pressFor, profilePath } from "./src/pipeline/presses.ts";
export {
  type CalibrationItem,
  profileModel,
  type ProfileOptions,
  type ProfileRun,
} from "./src/pipeline/profiling.ts";
export { calibrationSet } from "./src/eval/calibration.ts";
export { type Profile, readProfile, writeProfile } from "./src/lukv/profile.ts";
export { keepCounts } from "./src/lukv/budgets.ts";
export { solveBudgets } from "./src/lukv/solver.ts";
