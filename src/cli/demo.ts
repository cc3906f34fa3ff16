/**
 * `deno task demo`: what a user should see first. The embedded model (models/tiny) answers
 * ten fresh long-context samples (needle, multi-key and variable tracking, evaluation split)
 * with the full KV cache, with the best LU-KV press and with the best baseline, at 80% and
 * 90% compression: the first sample's answers are streamed, then a table gives each
 * press's accuracy and the real KV bytes it held.
 *
 * ```sh
 * deno task demo [--seed 1] [--samples 10] [--device cpu|cuda|auto]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { DeviceRequest } from "../backend/device.ts";
import { makeEvalPress } from "../eval/press_set.ts";
import type { EvalCell } from "../eval/results.ts";
import { evaluateSample, planCells } from "../eval/sample_eval.ts";
import { generateSample, scoreAnswer, type TaskName } from "../eval/tasks/mod.ts";
import { loadModel } from "../pipeline/model.ts";
import { pressFor } from "../pipeline/presses.ts";
import { cliArgs, runCli, UsageError } from "./run.ts";

const MODEL_DIR = new URL("../../models/tiny/", import.meta.url).pathname;
const ANSWER_TOKENS = 24;
/** The tasks the embedded model answers with a full cache (models/tiny/README.md), in turn. */
const TASKS: TaskName[] = ["needle", "multikey", "variable-tracking"];
/**
 * The best LU-KV press and the best baseline of the published sweep (docs/results/tiny): Expected
 * Attention scores with the LU-KV release's epsilon 0.02, under LU-KV's budgets and under AdaKV's.
 */
const PRESSES = ["lukv-expected-attention", "adakv-expected-attention"];
const RATIOS = [0.8, 0.9];

const USAGE = "usage: deno task demo [--seed S] [--samples N] [--device cpu|cuda|auto]";

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(0)} KiB`;
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args: cliArgs(args),
    options: {
      seed: { type: "string", default: "1" },
      samples: { type: "string", default: "10" },
      device: { type: "string", default: "auto" },
    },
  });
  const seed = Number(values.seed), count = Number(values.samples);
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new UsageError(`--seed needs an integer >= 0, got ${values.seed}`);
  }
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new UsageError(`--samples needs an integer >= 1, got ${values.samples}`);
  }
  using model = await loadModel(MODEL_DIR, { device: values.device as DeviceRequest });
  const length = model.contextLimit - ANSWER_TOKENS;
  const samples = await Promise.all(Array.from({ length: count }, (_, i) => {
    const task = TASKS[i % TASKS.length];
    return generateSample(task, {
      length,
      seed,
      index: Math.floor(i / TASKS.length),
      split: "eval",
      tokenizer: model.tokenizer,
    });
  }));
  console.log(`device: ${model.device.selection}`);
  console.log(
    `${count} samples of about ${length} tokens (${TASKS.join(", ")}; evaluation split, seed ${seed})\n`,
  );

  // The first sample, streamed: the context is compressed, then the question appended (query-agnostic).
  const first = samples[0];
  console.log(`sample 1 (${first.task}):${first.question.replace(/^\n/, " ")}`);
  console.log(`expected: ${first.answers.join(", ")}`);
  const encoder = new TextEncoder();
  const runs = [
    { label: "full cache", options: {} },
    ...RATIOS.flatMap((ratio) =>
      PRESSES.map((press) => ({ label: `${press} at ${ratio}`, options: { press, compressionRatio: ratio } }))
    ),
  ];
  for (const { label, options } of runs) {
    await Deno.stdout.write(encoder.encode(`[${label}]${first.answerPrefix}`));
    const run = model.generate(
      { context: first.context, question: first.question + first.answerPrefix },
      { maxNewTokens: ANSWER_TOKENS, stop: ["\n"], ...options },
    );
    let text = "";
    for await (const piece of run) {
      text += piece;
      await Deno.stdout.write(encoder.encode(piece));
    }
    const stats = await run.stats();
    console.log(`  -> ${scoreAnswer(first, text) ? "correct" : "wrong"}, KV ${kib(stats.kvBytes)}`);
  }

  // All samples: one prefill each, every press and ratio compressed from it.
  // lukv-expected-attention reads models/tiny/lukv-expected-attention.json by its name.
  const presses = [
    makeEvalPress("full"),
    ...PRESSES.map((name) => ({ label: name, press: pressFor(model, name) })),
  ];
  const planned = planCells(presses, RATIOS);
  const cells: EvalCell[] = [];
  for (const [i, sample] of samples.entries()) {
    const item = { task: sample.task, index: i };
    cells.push(
      ...evaluateSample(model, item, sample, planned, { model: "models/tiny", length, seed }, ANSWER_TOKENS),
    );
  }
  console.log(`\n${count} samples, query-agnostic (context compressed, then the question appended):\n`);
  console.log("press                          ratio  correct   KV held (of a full cache)");
  for (const { entry, ratio } of planned) {
    const own = cells.filter((c) => c.press === entry.label && c.ratio === ratio);
    const kv = own.reduce((a, c) => a + c.kvBytes, 0) / own.length;
    const full = own.reduce((a, c) => a + c.kvBytesFull, 0) / own.length;
    console.log(
      `${entry.label.padEnd(30)} ${(ratio ? `${ratio * 100}%` : "-").padStart(5)}  ` +
        `${`${own.filter((c) => c.correct).length}/${own.length}`.padStart(7)}   ${kib(kv)} (${
          (100 * kv / full).toFixed(0)
        }%)`,
    );
  }
}

if (import.meta.main) await runCli("demo", USAGE, () => main(Deno.args));
