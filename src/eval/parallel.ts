/** The evaluation run spread over worker threads, one sample each at a time, cells still appended in the fixed order. */

import type { DeviceRequest } from "../backend/device.ts";
import { LukvError } from "../backend/errors.ts";
import type { EvalCell } from "./results.ts";
import type { EvalItem } from "./items.ts";
import { type EvalPress, makeEvalPress } from "./press_set.ts";
import { scorerKey } from "../press/score_recorder.ts";
import { type EvalOptions, type EvalRunSummary, planRun } from "./runner.ts";
import type { WorkerInit, WorkerSample } from "./eval_worker.ts";

/** Options of {@linkcode runEvalInWorkers}. */
export interface WorkerOptions extends EvalOptions {
  /** Worker threads, each with its own copy of the model (at least 1). */
  workers: number;
  /** The device each worker opens (default `"cpu"`). */
  device?: DeviceRequest;
}

/**
 * {@linkcode runEval}'s protocol on `workers` threads, each loading the model from
 * `modelDir` and evaluating one sample at a time (samples are generated on this
 * thread). Cells are appended in the same order as `runEval` writes them (a sample's
 * cells wait until every earlier sample is written), so the file is identical to a
 * one-thread run's, and an interruption leaves a prefix of it that a rerun completes.
 * A stop signal ends the run at once; cells in flight are dropped.
 *
 * On CPUs, give each worker one OpenMP thread (`OMP_NUM_THREADS=1` in the environment
 * before the native library is first loaded): workers already fill the cores, and more
 * threads than cores make OpenMP spin.
 *
 * @example
 * ```ts
 * await runEvalInWorkers("models/tiny", items, { presses, ratios: [0.5, 0.8], results, workers: 2 });
 * ```
 */
export async function runEvalInWorkers(
  modelDir: string,
  items: readonly EvalItem[],
  options: WorkerOptions,
): Promise<EvalRunSummary> {
  const { results, signal, onProgress, workers } = options;
  if (!Number.isSafeInteger(workers) || workers < 1) {
    throw new RangeError(`workers must be a positive integer, got ${workers}`);
  }
  for (const entry of options.presses) checkRebuildable(entry);
  const { jobs, total, skipped } = planRun(items, options);
  const started = performance.now();
  let written = 0, nextJob = 0, nextWrite = 0;
  const buffers: EvalCell[][] = jobs.map(() => []);
  const finished = jobs.map(() => false);
  const report = () =>
    onProgress?.({ done: skipped + written, total, written, elapsedMs: performance.now() - started });
  const flush = () => {
    while (nextWrite < jobs.length) {
      for (const cell of buffers[nextWrite].splice(0)) {
        results.append(cell);
        written++;
        report();
      }
      if (!finished[nextWrite]) break;
      nextWrite++;
    }
  };
  report();

  const init: WorkerInit = {
    type: "init",
    dir: modelDir,
    device: options.device ?? "cpu",
    presses: options.presses.map(({ label, profile, scorerParams }) => ({ label, profile, scorerParams })),
    run: results.run,
    maxNewTokens: options.maxNewTokens,
  };
  const pool = Array.from(
    { length: Math.min(workers, jobs.length) },
    () => new Worker(new URL("./eval_worker.ts", import.meta.url).href, { type: "module" }),
  );
  const drive = async (worker: Worker) => {
    await exchange(worker, init, () => false);
    for (let j = nextJob++; j < jobs.length && !signal?.aborted; j = nextJob++) {
      const { item, pending } = jobs[j];
      const sample = await item.load();
      if (signal?.aborted) return;
      const message: WorkerSample = {
        type: "sample",
        seq: j,
        task: item.task,
        index: item.index,
        sample,
        pending: pending.map(({ entry, ratio, mode }) => ({ label: entry.label, ratio, mode })),
      };
      await exchange(worker, message, (data) => {
        if (data.type === "cell") buffers[j].push(data.cell as EvalCell);
        else finished[j] = true;
        flush();
        return data.type === "cell";
      });
    }
  };
  const stopped = new Promise<void>((resolve) => {
    if (signal?.aborted) resolve();
    signal?.addEventListener("abort", () => resolve(), { once: true });
  });
  try {
    await Promise.race([Promise.all(pool.map(drive)), stopped]);
  } finally {
    for (const worker of pool) worker.terminate();
  }
  return { written, skipped, stopped: signal?.aborted ?? false, elapsedMs: performance.now() - started };
}

/** Workers rebuild presses from name, profile and scorer parameters: a press made otherwise would silently change there. */
function checkRebuildable(entry: EvalPress): void {
  const rebuilt = makeEvalPress(entry.label, entry);
  const describe = (p: EvalPress) =>
    JSON.stringify([p.label, p.press.protections, p.press.scorer ? scorerKey(p.press.scorer) : null]);
  if (describe(rebuilt) !== describe(entry)) {
    throw new RangeError(
      `press ${entry.label} differs from its rebuilt self (${describe(entry)} vs ${describe(rebuilt)}): ` +
        "workers rebuild presses from their name, profile and scorer parameters",
    );
  }
}

/**
 * Posts `message` and handles the replies until `onReply` returns false (after `ready`,
 * `onReply` is not called); an `error` reply or a crashed worker rejects.
 */
function exchange(
  worker: Worker,
  message: WorkerInit | WorkerSample,
  onReply: (data: { type: string; cell?: unknown }) => boolean,
): Promise<void> {
  return new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => {
      if (data.type === "error") {
        reject(
          data.name === "LukvError"
            ? new LukvError(data.op, data.code, data.message)
            : new Error(data.message),
        );
      } else if (data.type === "ready" || !onReply(data)) {
        resolve();
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(`evaluation worker failed: ${event.message}`));
    };
    worker.postMessage(message);
  });
}
