/**
 * The evaluation harness: RULER-style task generators, the press x ratio runner (in
 * worker threads too), metrics, paired comparisons, result files and reports with charts.
 *
 * @example
 * ```ts
 * import { loadModel } from "@lukv/lukv";
 * import { evalPresses, loadProfiles, ResultsFile, runEval, taskItems } from "@lukv/lukv/eval";
 *
 * using model = await loadModel("models/tiny");
 * const profiles = await loadProfiles([], "models/tiny");
 * const presses = evalPresses(["full", "adakv-snapkv", "lukv-snapkv"], profiles, { id: "models/tiny", layers: 4, kvHeads: 2 });
 * using results = await ResultsFile.open("results.jsonl", { model: "models/tiny", length: 1984, seed: 0 });
 * const items = taskItems(["needle"], { length: 1984, samples: 10, seed: 0, tokenizer: model.tokenizer });
 * await runEval(model, items, { presses, ratios: [0.8], results });
 * ```
 *
 * @module
 */

export { AttentionProbe } from "./attention_probe.ts";
export { calibrationSet } from "./calibration.ts";
export { type EvalItem, type EvalSample, fixedItems, taskItems } from "./items.ts";
export { attentionError, klDivergence } from "./metrics.ts";
export { type PairedComparison, pairedComparison, signTestPValue } from "./paired.ts";
export { runEvalInWorkers, type WorkerOptions } from "./parallel.ts";
export {
  DEFAULT_PRESSES,
  type EvalPress,
  evalPresses,
  loadProfiles,
  makeEvalPress,
  paramsForScorer,
} from "./press_set.ts";
export { reportMarkdown, type ReportOptions, type TimeSplit, timeSplit, writeReport } from "./report.ts";
export {
  byProtocol,
  cellKey,
  type CellTimings,
  type EvalCell,
  parseResults,
  type Protocol,
  PROTOCOLS,
  readResults,
  ResultsFile,
  type RunIdentity,
} from "./results.ts";
export { retrievalScores } from "./retrieval_heads.ts";
export {
  type EvalOptions,
  type EvalProgress,
  type EvalRunSummary,
  planRun,
  runEval,
  type RunPlan,
} from "./runner.ts";
export {
  ANSWER_MARGIN_TOKENS,
  answerBudget,
  encodeSample,
  evaluateSample,
  planCells,
  type PlannedCell,
} from "./sample_eval.ts";
export { axes, type CellAxes, type CellStats, cellStats, summaryTable } from "./summary.ts";
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
} from "./tasks/mod.ts";
export { accuracyByTaskSvg, type ChartMetric, metricSvg } from "./charts/eval_charts.ts";
export { type HeadCell, headHeatmapSvg } from "./charts/head_heatmap.ts";
export { keepHeatmapSvg, utilityCurvesSvg } from "./charts/profile_charts.ts";
export { renderSvg } from "./charts/render.ts";
