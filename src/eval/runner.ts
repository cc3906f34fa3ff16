/** The evaluation run: which cells remain, computing them sample by sample, appending them in a fixed order. */

import type { Model } from "../pipeline/model.ts";
import type { EvalItem } from "./items.ts";
import type { EvalPress } from "./press_set.ts";
import type { Protocol, ResultsFile } from "./results.ts";
import { evaluateSample, planCells, type PlannedCell } from "./sample_eval.ts";

/** Where a run stands, after each cell. */
export interface EvalProgress {
  /** Cells finished, including those found in the results file. */
  done: number;
  /** Cells of the whole run. */
  total: number;
  /** Cells computed by this call. */
  written: number;
  /** Milliseconds since this call started. */
  elapsedMs: number;
}

/** Options of {@linkcode runEval}. */
export interface EvalOptions {
  /** The presses; `full` (if present) gets one cell per sample, the others one per ratio. */
  presses: readonly EvalPress[];
  /** Compression ratios, each in [0, 1). */
  ratios: readonly number[];
  /** The protocols (default `["agnostic"]`): query-agnostic, query-aware, or both from one prefill. */
  modes?: readonly Protocol[];
  /** Where cells go; cells already there are skipped. */
  results: ResultsFile;
  /** Answer budget (default: the target's tokens + `ANSWER_MARGIN_TOKENS`), within the context. */
  maxNewTokens?: number;
  /** Stops the run between two cells; what is written stays, and a rerun resumes. */
  signal?: AbortSignal;
  /** Called before the first cell and after each. */
  onProgress?: (progress: EvalProgress) => void;
}

/** What a run did. */
export interface EvalRunSummary {
  /** Cells computed and appended. */
  written: number;
  /** Cells found already done. */
  skipped: number;
  /** Whether the signal stopped the run early. */
  stopped: boolean;
  /** Wall time of the call. */
  elapsedMs: number;
}

/** The samples that still have cells to compute, each with those cells, in order. */
export interface RunPlan {
  /** Samples with at least one cell to compute. */
  jobs: { item: EvalItem; pending: PlannedCell[] }[];
  /** Cells of the whole run. */
  total: number;
  /** Cells already in the results file. */
  skipped: number;
}

/**
 * The work left: every item's planned cells (see `planCells`) minus those already in
 * the results file. Checks the presses and ratios.
 *
 * @example
 * ```ts
 * const { jobs, total, skipped } = planRun(items, { presses, ratios: [0.5, 0.8], results });
 * ```
 */
export function planRun(
  items: readonly EvalItem[],
  options: Pick<EvalOptions, "presses" | "ratios" | "modes" | "results">,
): RunPlan {
  const { presses, ratios, modes, results } = options;
  const plan = planCells(presses, ratios, modes);
  const jobs = items.map((item) => ({
    item,
    pending: plan.filter(({ entry, ratio, mode }) =>
      !results.has({ task: item.task, sample: item.index, press: entry.label, ratio, mode })
    ),
  }));
  const total = items.length * plan.length;
  const left = jobs.reduce((n, job) => n + job.pending.length, 0);
  return { jobs: jobs.filter((job) => job.pending.length > 0), total, skipped: total - left };
}

/**
 * Runs the evaluation protocols (DESIGN.md 8) over `items` on this thread: per sample,
 * one scored dense prefill, then every protocol x press x ratio compacted from it (see
 * `evaluateSample`). Cells are appended to the results file as they finish, in a fixed
 * order (samples in order; `full`, then protocols x presses x ratios), so an interrupted run
 * resumed later writes exactly what an uninterrupted one would.
 *
 * @example
 * ```ts
 * using results = await ResultsFile.open("results.jsonl", { model: "models/tiny", length: 1984, seed: 0 });
 * const presses = evalPresses(["full", "snapkv"], new Map(), { id: "models/tiny", layers: 4, kvHeads: 2 });
 * const items = taskItems(["needle"], { length: 1984, samples: 10, seed: 0, tokenizer: model.tokenizer });
 * await runEval(model, items, { presses, ratios: [0.5, 0.8], results });
 * ```
 */
export async function runEval(
  model: Model,
  items: readonly EvalItem[],
  options: EvalOptions,
): Promise<EvalRunSummary> {
  const { results, signal, onProgress } = options;
  const { jobs, total, skipped } = planRun(items, options);
  const started = performance.now();
  let written = 0;
  const report = () =>
    onProgress?.({ done: skipped + written, total, written, elapsedMs: performance.now() - started });
  report();
  for (const { item, pending } of jobs) {
    if (signal?.aborted) break;
    const sample = await item.load();
    for (const cell of evaluateSample(model, item, sample, pending, results.run, options.maxNewTokens)) {
      results.append(cell);
      written++;
      report();
      // A macrotask turn, so that a signal handler (e.g. Ctrl-C's) can run between cells.
      await new Promise((resolve) => setTimeout(resolve));
      if (signal?.aborted) break;
    }
  }
  return { written, skipped, stopped: signal?.aborted ?? false, elapsedMs: performance.now() - started };
}
