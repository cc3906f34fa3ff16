/**
 * `deno task demo`: the embedded model (models/tiny) answers a long-context needle
 * question twice, with the full KV cache and with LU-KV at 80% compression, streaming
 * both answers and printing the real KV bytes each one held.
 *
 * ```sh
 * deno task demo [--task needle] [--seed 1] [--ratio 0.8] [--device cpu|cuda|auto]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { DeviceRequest } from "../backend/device.ts";
import { generateSample, scoreAnswer, TASK_NAMES, type TaskName } from "../eval/tasks/mod.ts";
import type { GenerationStats } from "../pipeline/generate.ts";
import { loadModel } from "../pipeline/model.ts";
import { runCli, UsageError } from "./run.ts";

const MODEL_DIR = new URL("../../models/tiny/", import.meta.url).pathname;
const ANSWER_TOKENS = 24;

const USAGE = `usage: deno task demo [--task ${
  TASK_NAMES.join("|")
}] [--seed S] [--ratio R] [--device cpu|cuda|auto]`;

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

function statsLine(s: GenerationStats): string {
  return `prefill ${s.prefillMs.toFixed(0)} ms, decode ${s.decodeTokensPerSecond.toFixed(1)} tokens/s, ` +
    `KV ${kib(s.kvBytes)} allocated (a dense cache of the same tokens: ${kib(s.kvBytesFull)})`;
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      task: { type: "string", default: "needle" },
      seed: { type: "string", default: "1" },
      ratio: { type: "string", default: "0.8" },
      device: { type: "string", default: "auto" },
    },
  });
  if (!TASK_NAMES.includes(values.task as TaskName)) throw new UsageError(`unknown task ${values.task}`);
  const seed = Number(values.seed), ratio = Number(values.ratio);
  if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed needs an integer, got ${values.seed}`);
  if (!(ratio > 0 && ratio < 1)) {
    throw new UsageError(`--ratio needs a number in (0, 1), got ${values.ratio}`);
  }

  using model = await loadModel(MODEL_DIR, { device: values.device as DeviceRequest });
  const length = model.contextLimit - ANSWER_TOKENS;
  const sample = await generateSample(values.task as TaskName, {
    length,
    seed,
    split: "eval",
    tokenizer: model.tokenizer,
  });
  const prompt = model.encode(sample.context + sample.question + sample.answerPrefix);
  console.log(`device: ${model.device.selection}`);
  console.log(`task: ${sample.task}, ${prompt.length} prompt tokens (seed ${seed}, evaluation split)`);
  console.log(`question:${sample.question.replace(/^\n/, " ")}`);
  console.log(`expected: ${sample.answers.join(", ")}\n`);

  // lukv-snapkv reads the shipped profile models/tiny/lukv-snapkv.json by its name.
  const runs = [
    { label: "full cache", options: {} },
    { label: `lukv-snapkv at ${ratio}`, options: { press: "lukv-snapkv", compressionRatio: ratio } },
  ];
  const encoder = new TextEncoder();
  for (const { label, options } of runs) {
    await Deno.stdout.write(encoder.encode(`[${label}]${sample.answerPrefix}`));
    const run = model.generate(prompt, { maxNewTokens: ANSWER_TOKENS, stop: ["\n"], ...options });
    let text = "";
    for await (const piece of run) {
      text += piece;
      await Deno.stdout.write(encoder.encode(piece));
    }
    const verdict = scoreAnswer(sample, text) ? "correct" : "wrong";
    console.log(`\n  -> ${verdict}; ${statsLine(await run.stats())}\n`);
  }
}

if (import.meta.main) await runCli("demo", USAGE, () => main(Deno.args));
