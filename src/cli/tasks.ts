/**
 * `deno task tasks`: long-context task samples (src/eval/tasks/) as JSONL on standard
 * output, one sample per line and nothing else, for the training recipe and evaluation.
 * Each line is `{ task, context, question, answerPrefix, answers, target, tokens }`.
 *
 * ```sh
 * deno task tasks --task needle --length 1024 --count 500 --seed 0 [--split eval] [--model models/tiny]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { cliArgs, runCli, UsageError } from "./run.ts";
import {
  DEFAULT_MODEL_URL,
  generateSample,
  type Split,
  SPLITS,
  TASK_NAMES,
  type TaskName,
} from "../eval/tasks/mod.ts";
import { Tokenizer } from "../model/tokenizer.ts";

const USAGE =
  `usage: deno task tasks --task T --length N --count C --seed S [--split train|calib|eval] [--model DIR]
  --task T     ${TASK_NAMES.join(", ")}
  --length N   the prompt's maximum length in tokens (BOS included)
  --count C    samples to write (indices 0..C-1 of the seed)
  --seed S     a non-negative integer
  --split      which filler text and PRNG streams (default eval)
  --model DIR  whose tokenizer counts tokens (default models/tiny)`;

/** Bytes gathered before each write to standard output. */
const FLUSH_BYTES = 1 << 16;

function integer(flag: string, text: string | undefined, min: number): number {
  const value = Number(text);
  if (text === undefined || text.trim() === "" || !Number.isSafeInteger(value) || value < min) {
    throw new UsageError(`--${flag} needs an integer >= ${min}, got ${text ?? "nothing"}`);
  }
  return value;
}

async function writeAll(bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) done += await Deno.stdout.write(bytes.subarray(done));
}

async function loadTokenizer(model: string | undefined): Promise<Tokenizer> {
  if (model !== undefined) return await Tokenizer.load(model);
  const dir = fileURLToPath(DEFAULT_MODEL_URL);
  try {
    await Deno.stat(`${dir}tokenizer.json`);
  } catch {
    throw new UsageError(
      `the embedded model's tokenizer (${dir}tokenizer.json) is missing; pass --model DIR of a model with a tokenizer.json`,
    );
  }
  return await Tokenizer.load(dir);
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args: cliArgs(args),
    options: {
      task: { type: "string" },
      length: { type: "string" },
      count: { type: "string" },
      seed: { type: "string" },
      split: { type: "string", default: "eval" },
      model: { type: "string" },
    },
  });
  if (!TASK_NAMES.includes(values.task as TaskName)) {
    throw new UsageError(
      `--task needs one of ${TASK_NAMES.join(", ")}, got ${
        values.task === undefined ? "nothing" : values.task
      }`,
    );
  }
  const task = values.task as TaskName;
  const length = integer("length", values.length, 1);
  const count = integer("count", values.count, 1);
  const seed = integer("seed", values.seed, 0);
  if (!SPLITS.includes(values.split as Split)) {
    throw new UsageError(`--split needs one of ${SPLITS.join(", ")}, got ${values.split}`);
  }
  const split = values.split as Split;
  const tokenizer = await loadTokenizer(values.model);

  const encoder = new TextEncoder();
  let pending = "";
  for (let index = 0; index < count; index++) {
    let sample;
    try {
      sample = await generateSample(task, { length, seed, index, split, tokenizer });
    } catch (e) {
      throw e instanceof RangeError ? new UsageError(e.message) : e;
    }
    pending += `${JSON.stringify(sample)}\n`;
    if (pending.length >= FLUSH_BYTES) {
      await writeAll(encoder.encode(pending));
      pending = "";
    }
  }
  await writeAll(encoder.encode(pending));
}

if (import.meta.main) await runCli("tasks", USAGE, () => main(Deno.args));
