/**
 * `deno task eval`: the query-agnostic evaluation of presses x compression ratios on the
 * long-context tasks (DESIGN.md 8). Per sample the context is prefilled once, then each
 * press x ratio is compressed from that cache, the question appended and the answer
 * decoded greedily. Cells go to a JSONL file as they finish; rerunning the same command
 * resumes. A progress bar with ETA goes to stderr, a summary table to stdout.
 *
 * ```sh
 * deno task eval --model models/tiny --tasks needle,multikey --samples 100 --seed 0 \
 *   --presses full,streamingllm,snapkv,pyramidkv,adakv,expected-attention,lukv --ratios 0.5,0.7,0.8,0.9 \
 *   --workers 2 --out results.jsonl
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { DeviceRequest } from "../backend/device.ts";
import { type EvalItem, taskItems } from "../eval/items.ts";
import { runEvalInWorkers } from "../eval/parallel.ts";
import {
  DEFAULT_PRESSES,
  type EvalPress,
  evalPresses,
  loadProfiles,
  paramsForScorer,
} from "../eval/press_set.ts";
import { byProtocol, type Protocol, PROTOCOLS, ResultsFile } from "../eval/results.ts";
import { type EvalProgress, runEval } from "../eval/runner.ts";
import { answerBudget, encodeSample } from "../eval/sample_eval.ts";
import { summaryTable } from "../eval/summary.ts";
import { generateSample, TASK_NAMES, type TaskName } from "../eval/tasks/mod.ts";
import { loadModel, type Model } from "../pipeline/model.ts";
import { parsePressName, PRESS_GRAMMAR } from "../press/registry.ts";
import { makeScorer, scorerParamNames } from "../press/scorers/registry.ts";
import type { ScorerParams } from "../press/scorers/scorer.ts";
import { checkModelDir, cliArgs, progress, runCli, UsageError, usageError } from "./run.ts";
import { parseScorerParams, SCORER_PARAM_USAGE } from "./scorer_params.ts";

const USAGE = `usage: deno task eval --model DIR --out results.jsonl
  [--tasks T1,T2|all]       tasks (default all: ${TASK_NAMES.join(", ")})
  [--length N]              prompt tokens per sample (default: the model's context minus 64)
  [--samples S]             samples per task (default 100)
  [--seed X]                sample seed, evaluation split (default 0)
  [--presses P1,P2]         default ${DEFAULT_PRESSES.join(",")};
                            ${PRESS_GRAMMAR};
                            here lukv = one press per profile in DIR (lukv-<scorer>)
  ${SCORER_PARAM_USAGE}
  [--ratios R1,R2]          compression ratios in [0, 1) (default 0.5,0.7,0.8,0.9)
  [--mode agnostic|aware|both]  query-agnostic (compress the context, then append the question; the
                            default), query-aware (compress context and question), or both from one prefill
  [--profile SCORER=PATH]   an LU-KV profile, repeatable (default: DIR/lukv-<scorer>.json)
  [--max-new-tokens N]      answer budget (default: the target's tokens + 8)
  [--workers N]             worker threads, one model each (default 1; on CPUs, one per core:
                            each runs one OpenMP thread unless OMP_NUM_THREADS says otherwise)
  [--device cpu|cuda|auto]  (default auto; workers default to cpu)`;

function integer(flag: string, text: string | undefined, min: number): number {
  const value = Number(text);
  if (text === undefined || text.trim() === "" || !Number.isSafeInteger(value) || value < min) {
    throw new UsageError(`--${flag} needs an integer >= ${min}, got ${text ?? "nothing"}`);
  }
  return value;
}

function list(text: string): string[] {
  return text.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/** The command line, checked without touching the model. */
function parse(args: string[]) {
  const { values } = parseArgs({
    args: cliArgs(args),
    options: {
      model: { type: "string" },
      out: { type: "string" },
      tasks: { type: "string", default: "all" },
      length: { type: "string" },
      samples: { type: "string", default: "100" },
      seed: { type: "string", default: "0" },
      presses: { type: "string", default: DEFAULT_PRESSES.join(",") },
      ratios: { type: "string", default: "0.5,0.7,0.8,0.9" },
      profile: { type: "string", multiple: true, default: [] },
      "scorer-param": { type: "string", multiple: true, default: [] },
      mode: { type: "string", default: "agnostic" },
      "max-new-tokens": { type: "string" },
      workers: { type: "string", default: "1" },
      device: { type: "string" },
    },
  });
  if (!values.model || !values.out) throw new UsageError("--model and --out are required");
  const tasks = values.tasks === "all" ? [...TASK_NAMES] : list(values.tasks);
  const unknownTask = tasks.find((t) => !TASK_NAMES.includes(t as TaskName));
  if (unknownTask !== undefined || tasks.length === 0) {
    throw new UsageError(`unknown task "${unknownTask ?? ""}"; the tasks are ${TASK_NAMES.join(", ")}`);
  }
  const presses = list(values.presses);
  if (presses.length === 0) throw new UsageError(`--presses is empty; presses: ${PRESS_GRAMMAR}`);
  for (const press of presses) {
    try {
      parsePressName(press);
    } catch (error) {
      throw usageError(error);
    }
  }
  const ratios = list(values.ratios).map((text) => {
    const ratio = Number(text);
    if (!(ratio >= 0 && ratio < 1)) throw new UsageError(`--ratios: ${text} is not a ratio in [0, 1)`);
    return ratio;
  });
  if (ratios.length === 0 && presses.some((p) => p !== "full")) {
    throw new UsageError(`--ratios gives no ratio ("${values.ratios}"), and ${presses.join(", ")} compress`);
  }
  const scorerParams = parseScorerParams(values["scorer-param"]);
  checkScorerParams(presses, scorerParams);
  if (new Set(ratios).size !== ratios.length) throw new UsageError(`--ratios repeat: ${values.ratios}`);
  const modes: Protocol[] = values.mode === "both" ? [...PROTOCOLS] : [values.mode as Protocol];
  if (!["agnostic", "aware", "both"].includes(values.mode)) {
    throw new UsageError(`--mode is agnostic, aware or both, got ${values.mode}`);
  }
  const usesLukv = presses.some((p) => p.startsWith("lukv"));
  if (values.profile.length > 0 && !usesLukv) throw new UsageError("--profile is only for the lukv presses");
  const device = values.device ?? (Number(values.workers) > 1 ? "cpu" : "auto");
  if (!["cpu", "cuda", "auto"].includes(device)) {
    throw new UsageError(`--device is cpu, cuda or auto, got ${device}`);
  }
  return {
    model: values.model.replace(/\/+$/, ""),
    out: values.out,
    tasks: tasks as TaskName[],
    length: values.length === undefined ? undefined : integer("length", values.length, 1),
    samples: integer("samples", values.samples, 1),
    seed: integer("seed", values.seed, 0),
    presses,
    ratios,
    modes,
    profiles: usesLukv ? values.profile : [],
    scorerParams,
    maxNewTokens: values["max-new-tokens"] === undefined
      ? undefined
      : integer("max-new-tokens", values["max-new-tokens"], 1),
    workers: integer("workers", values.workers, 1),
    device: device as DeviceRequest,
  };
}

/** A one-line progress bar with an ETA, redrawn in place on stderr (at most 4 times a second). */
function progressBar(): (p: EvalProgress) => void {
  let drawn = -Infinity;
  return ({ done, total, written, elapsedMs }) => {
    const now = performance.now();
    if (now - drawn < 250 && done < total) return;
    drawn = now;
    progress(done, total, "cells", elapsedMs, written);
  };
}

/**
 * The scorer parameters, checked before the model loads: each must be taken by the
 * scorer of some press (a `lukv` press's scorer is its profile's, known only later), with
 * values its scorer accepts.
 */
function checkScorerParams(presses: readonly string[], params: ScorerParams): void {
  if (presses.includes("lukv")) return;
  const scorers = presses.map((p) => parsePressName(p).scorer);
  for (const key of Object.keys(params)) {
    if (!scorers.some((s) => s && scorerParamNames(s).includes(key))) {
      throw new UsageError(`no press's scorer takes ${key} (presses: ${presses.join(", ")})`);
    }
  }
  for (const scorer of new Set(scorers)) {
    if (!scorer) continue;
    try {
      makeScorer(scorer, paramsForScorer(scorer, params));
    } catch (error) {
      throw usageError(error);
    }
  }
}

/** The presses, the length and the samples, checked against the model before any work. */
async function prepare(
  model: Model,
  options: ReturnType<typeof parse>,
  profiles: Awaited<ReturnType<typeof loadProfiles>>,
): Promise<{ presses: EvalPress[]; length: number; items: EvalItem[] }> {
  const { layers, kvHeads } = model.config;
  const weights = model.weightsFingerprint;
  const presses = evalPresses(
    options.presses,
    profiles,
    { id: options.model, layers, kvHeads, weights },
    options.scorerParams,
  );
  const length = options.length ?? model.contextLimit - 64;
  if (length >= model.contextLimit) {
    throw new UsageError(`--length ${length} leaves no room for answers in ${model.contextLimit} positions`);
  }
  // The first sample of each task stands for the task: its questions and answers have one shape.
  for (const task of options.tasks) {
    const sample = await generateSample(task, {
      length,
      seed: options.seed,
      split: "eval",
      tokenizer: model.tokenizer,
    });
    const { context, question } = encodeSample(model, sample);
    answerBudget(model, { task, index: 0 }, sample, context.length + question.length, options.maxNewTokens);
  }
  return {
    presses,
    length,
    items: taskItems(options.tasks, { ...options, length, tokenizer: model.tokenizer }),
  };
}

async function main(args: string[]): Promise<void> {
  const options = parse(args);
  checkModelDir(options.model);
  // Evaluation is mostly one-token steps, too small for OpenMP; cores are filled by workers
  // instead, and OpenMP threads beyond the free cores spin (10x slower on a busy machine).
  if (Deno.env.get("OMP_NUM_THREADS") === undefined) Deno.env.set("OMP_NUM_THREADS", "1");
  const profiles = options.presses.some((p) => p.startsWith("lukv"))
    ? await loadProfiles(options.profiles, options.model)
    : new Map();
  const model = await loadModel(options.model, { device: options.device });
  let prepared;
  try {
    prepared = await prepare(model, options, profiles);
    if (options.workers > 1) model.close();
  } catch (error) {
    model.close();
    throw error;
  }
  const { presses, length, items } = prepared;
  using results = await ResultsFile.open(options.out, { model: options.model, length, seed: options.seed });
  const controller = new AbortController();
  const stop = () => {
    Deno.stderr.writeSync(new TextEncoder().encode("\nstopping; rerun the same command to resume\n"));
    controller.abort();
  };
  Deno.addSignalListener("SIGINT", stop);
  const workers = options.workers > 1 ? `${options.workers} workers` : model.device.selection;
  console.error(
    `evaluating ${options.model} (${workers}): ${options.tasks.length} tasks x ${options.samples} samples ` +
      `at ${length} tokens, ${presses.map((p) => p.label).join(", ")} at ${options.ratios.join(", ")} ` +
      `(${options.modes.join(" and ")})`,
  );
  const runOptions = {
    presses,
    ratios: options.ratios,
    modes: options.modes,
    results,
    maxNewTokens: options.maxNewTokens,
    signal: controller.signal,
    onProgress: progressBar(),
  };
  try {
    const summary = options.workers > 1
      ? await runEvalInWorkers(options.model, items, {
        ...runOptions,
        workers: options.workers,
        device: options.device,
      })
      : await runEval(model, items, runOptions);
    console.log(summaryTable(byProtocol(results.cells)));
    console.log(
      `${summary.written} cells computed, ${summary.skipped} found done, in ${
        (summary.elapsedMs / 1000).toFixed(1)
      } s -> ${options.out}${summary.stopped ? " (stopped early: rerun to resume)" : ""}`,
    );
    if (summary.stopped) Deno.exitCode = 130;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    if (options.workers === 1) model.close();
  }
}

if (import.meta.main) await runCli("eval", USAGE, () => main(Deno.args));
