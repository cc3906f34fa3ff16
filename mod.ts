/**
 * lukv: Llama-family inference in Deno with a compressed KV cache and LU-KV per-head
 * budgets. This entry point exports the native backend (devices, tensors, ops) and the
 * LU-KV core: eviction curves, the budget solver, profiles and budget allocators. The
 * LU-KV core is pure TypeScript: it needs no native library and no permissions.
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
 * @example
 * ```ts
 * import { evictionCurves, keepCounts, readHeadTableNpy, solveBudgets } from "@lukv/lukv";
 *
 * const oracle = readHeadTableNpy(await Deno.readFile("oracle.npy")); // [L, H, T]
 * const scores = readHeadTableNpy(await Deno.readFile("scores.npy"));
 * const budgets = solveBudgets(evictionCurves(oracle, scores, { sink: 4, window: 32 }));
 * const keep = keepCounts(budgets, 0.8, 8192); // Int32Array [L * H]
 * ```
 *
 * @module
 */

export type { LibraryKind } from "./ffi/build.ts";
export { Device, type DeviceRequest, type MemoryInfo, openDevice } from "./src/backend/device.ts";
export { type DType, DTYPES, type HostArray } from "./src/backend/dtype.ts";
export { LukvError, STATUS, type StatusName } from "./src/backend/errors.ts";
export { loadLibrary, type NativeLibrary } from "./src/backend/library.ts";
/** The ops of a Llama-family forward on tensors (matmul, rmsnorm, rope, attention, ...). */
export * as ops from "./src/backend/ops.ts";
export { ABI_VERSION, type LukvSymbols, SYMBOLS } from "./src/backend/symbols.ts";
export { Tensor } from "./src/backend/tensor.ts";
export { averageBudgets, budgetStats, keepCounts, type RatioStats } from "./src/lukv/budgets.ts";
export { type EvictionCurves, evictionCurves, type Protection } from "./src/lukv/curves.ts";
export { type NpyArray, readNpy, writeNpy } from "./src/lukv/npy.ts";
export {
  type Profile,
  PROFILE_VERSION,
  readProfile,
  uniformProfile,
  writeProfile,
} from "./src/lukv/profile.ts";
export { solveBudgets, type SolveOptions } from "./src/lukv/solver.ts";
export { readBudgetNpy, readHeadTableNpy, writeBudgetNpy, writeHeadTableNpy } from "./src/lukv/table_npy.ts";
export {
  budgetRatios,
  type BudgetTable,
  checkBudgetTable,
  checkCompressionRatio,
  checkHeadTable,
  type HeadTable,
  RATIO_COUNT,
} from "./src/lukv/tables.ts";
export { adaKvKeep } from "./src/press/allocators/adakv.ts";
export { type Allocator, meanKeep } from "./src/press/allocators/allocator.ts";
export { pyramidKvKeep, pyramidLayerSizes } from "./src/press/allocators/pyramidkv.ts";
export { uniformKeep } from "./src/press/allocators/uniform.ts";
export { denseKvBytes, DenseKvCache, type KvShape } from "./src/cache/dense.ts";
export type { KvCache, LayerKv } from "./src/cache/kv_cache.ts";
export { type KeptTokens, RaggedKvCache } from "./src/cache/ragged.ts";
export { CompressingCache, type CompressionShape } from "./src/press/compressing_cache.ts";
export { LayerScoring, type ScoringShape } from "./src/press/layer_scoring.ts";
export {
  checkRatio,
  fullPress,
  type LayerAllocator,
  type Press,
  type PressShape,
  scoredPress,
} from "./src/press/press.ts";
export { makePress, PRESS_NAMES, type PressOptions } from "./src/press/presets.ts";
export { keptIndices, protectedCount, type Protections } from "./src/press/select.ts";
export { expectedAttentionScorer, QUERY_STATS_SINK } from "./src/press/scorers/expected_attention.ts";
export { h2oScorer } from "./src/press/scorers/h2o.ts";
export { keyDiffScorer } from "./src/press/scorers/keydiff.ts";
export { knormScorer } from "./src/press/scorers/knorm.ts";
export type { LayerState, Scorer, ScorerNeed } from "./src/press/scorers/scorer.ts";
export { snapKvScorer } from "./src/press/scorers/snapkv.ts";
export { streamingScorer } from "./src/press/scorers/streaming.ts";
export { checkProfileFits, luKvLayerKeep } from "./src/press/allocators/lukv.ts";
export {
  generateSample,
  generateSamples,
  type SampleOptions,
  type SamplesOptions,
  scoreAnswer,
  type Split,
  SPLITS,
  TASK_NAMES,
  type TaskName,
  type TaskSample,
  type TaskTokenizer,
} from "./src/eval/tasks/mod.ts";
export {
  type Architecture,
  loadConfig,
  type ModelConfig,
  parseConfig,
  type RopeScaling,
  SUPPORTED_ARCHITECTURES,
} from "./src/model/config.ts";
export { LlamaForward } from "./src/model/forward.ts";
export {
  type GenerateOptions,
  Generation,
  type GenerationStats,
  type SplitPrompt,
} from "./src/model/generate.ts";
export { weightsFingerprint } from "./src/model/fingerprint.ts";
export { type GenerationConfig, loadGenerationConfig } from "./src/model/generation_config.ts";
export { loadModel, type LoadOptions, Model, scoringShapeOf } from "./src/model/model.ts";
export { sampleToken, type SamplingOptions, seededRandom } from "./src/model/sampling.ts";
export {
  Checkpoint,
  parseSafetensors,
  type SafetensorsFile,
  type WeightDType,
  type WeightTensor,
} from "./src/model/safetensors.ts";
export { StopStrings } from "./src/model/stop.ts";
export {
  type ChatMessage,
  type DecodeOptions,
  StreamingDetokenizer,
  Tokenizer,
} from "./src/model/tokenizer.ts";
export { type LayerWeights, loadWeights, type ModelWeights } from "./src/model/weights.ts";
export {
  type CalibrationItem,
  calibrationSet,
  profileModel,
  type ProfileOptions,
  type ProfileRun,
} from "./src/lukv/profiling.ts";
export { keepHeatmapSvg, utilityCurvesSvg } from "./src/eval/charts/profile_charts.ts";
export { renderSvg } from "./src/eval/charts/render.ts";
export { AttentionProbe } from "./src/eval/attention_probe.ts";
export { type EvalItem, type EvalSample, fixedItems, taskItems } from "./src/eval/items.ts";
export { attentionError, klDivergence } from "./src/eval/metrics.ts";
export { runEvalInWorkers, type WorkerOptions } from "./src/eval/parallel.ts";
export { type PairedComparison, pairedComparison, signTestPValue } from "./src/eval/paired.ts";
export {
  DEFAULT_PRESSES,
  type EvalPress,
  evalPresses,
  loadProfiles,
  makeEvalPress,
} from "./src/eval/press_set.ts";
export {
  reportMarkdown,
  type ReportOptions,
  type TimeSplit,
  timeSplit,
  writeReport,
} from "./src/eval/report.ts";
export {
  cellKey,
  type CellTimings,
  type EvalCell,
  parseResults,
  readResults,
  ResultsFile,
  type RunIdentity,
} from "./src/eval/results.ts";
export {
  type EvalOptions,
  type EvalProgress,
  type EvalRunSummary,
  planRun,
  runEval,
  type RunPlan,
} from "./src/eval/runner.ts";
export {
  ANSWER_MARGIN_TOKENS,
  answerBudget,
  encodeSample,
  evaluateSample,
  planCells,
  type PlannedCell,
} from "./src/eval/sample_eval.ts";
export { ScoredPrefillCache, scorerKey } from "./src/eval/scored_prefill.ts";
export { axes, type CellAxes, type CellStats, cellStats, summaryTable } from "./src/eval/summary.ts";
export { accuracyByTaskSvg, type ChartMetric, metricSvg } from "./src/eval/charts/eval_charts.ts";
export { compactScoredLayer, type LayerCompaction } from "./src/press/compact.ts";
export { type HeadCell, headHeatmapSvg } from "./src/eval/charts/head_heatmap.ts";
export { retrievalScores } from "./src/eval/retrieval_heads.ts";
export {
  LLAMA_3_1_8B,
  type RandomLlama,
  randomLlama,
  type RandomLlamaOptions,
} from "./src/model/random_model.ts";
