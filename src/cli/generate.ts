/**
 * `deno task generate`: stream a model's continuation of a prompt to stdout, then one
 * line of stats on stderr.
 *
 * ```sh
 * deno task generate --model tests/fixtures/models/llama-llama3rope --prompt "Once upon a time"
 * deno task generate --model DIR --prompt-file question.txt --chat --max-new-tokens 64 --temperature 0.7 --seed 1
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { checkModelDir, cliArgs, runCli, UsageError, usageError } from "./run.ts";
import type { DeviceRequest } from "../backend/device.ts";
import { budgetStats } from "../lukv/budgets.ts";
import type { Profile } from "../lukv/profile.ts";
import { readProfileFile } from "../pipeline/presses.ts";
import { readBudgetNpy } from "../lukv/table_npy.ts";
import { loadModel } from "../pipeline/model.ts";
import { checkCompressionRatio } from "../lukv/tables.ts";
import { sampleToken } from "../model/sampling.ts";
import { StopStrings } from "../model/stop.ts";
import type { GenerateOptions } from "../pipeline/generate.ts";
import { parsePressName, PRESS_GRAMMAR } from "../press/registry.ts";
import { makeScorer } from "../press/scorers/registry.ts";
import { parseScorerParams, SCORER_PARAM_USAGE } from "./scorer_params.ts";

const USAGE = `usage: deno task generate --model DIR (--prompt TEXT | --prompt-file F)
  [--chat]                 wrap the prompt in the model's chat template as a user message
  [--max-new-tokens N]     default: generation_config.json's, else 128
  [--temperature T] [--top-k K] [--top-p P] [--seed S]   greedy unless T > 0
  [--stop TEXT ...]        end when the text contains one of these
  [--press NAME --ratio R] compress the KV cache: ${PRESS_GRAMMAR}
  ${SCORER_PARAM_USAGE}
  [--compress-every N]     compress again every N generated tokens (long generations keep the press's rate)
  [--profile P.json|P.npy] LU-KV budgets for the lukv presses (default DIR/lukv-<scorer>.json;
                           .npy: with --scorer, default snapkv)
  [--question TEXT]        query-agnostic: compress the prompt as context, then append this
  [--device cpu|cuda|auto] default auto`;

function number(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) {
    throw new UsageError(`--${flag} needs a number, got ${text}`);
  }
  return value;
}

/** A JSON profile, or a published `[99, L, H]` .npy wrapped with the given scorer and default protections. */
async function loadProfile(path: string, scorer: string): Promise<Profile> {
  if (!path.endsWith(".npy")) return readProfileFile(path, scorer);
  const budgets = readBudgetNpy(await Deno.readFile(path), { name: path });
  return {
    model: { id: path, layers: budgets.layers, kvHeads: budgets.heads },
    scorer: { name: scorer, params: {} },
    sink: 4,
    window: 32,
    decodeTokens: 64,
    scope: "global",
    minKeepFraction: 0.01,
    calibration: { name: `${path} (published curves)`, pairs: 1 },
    created: new Date().toISOString(),
    budgets,
    stats: budgetStats([budgets]),
  };
}

/**
 * The generation options a command line gives, checked before any model loads: the press
 * (a press other than `full` needs `--ratio`, `--ratio` needs such a press) and its scorer
 * parameters, the sampling options, the numbers.
 */
function checkOptions(options: GenerateOptions): void {
  const press = options.press as string;
  try {
    const { scorer } = parsePressName(press);
    if (scorer) makeScorer(scorer, options.scorerParams);
    if (press !== "full" && options.compressionRatio === undefined) {
      throw new UsageError(`--press ${press} needs --ratio R (the fraction of the KV cache to remove)`);
    }
    if (press === "full" && options.compressionRatio !== undefined) {
      throw new UsageError(`--ratio needs a --press that compresses; ${PRESS_GRAMMAR}`);
    }
    if (options.compressionRatio !== undefined) checkCompressionRatio(options.compressionRatio);
    sampleToken(new Float32Array([0]), options, () => 0);
    new StopStrings(options.stop ?? []);
    for (
      const [name, value] of [["max-new-tokens", options.maxNewTokens], [
        "compress-every",
        options.compressEvery,
      ]]
    ) {
      if (value !== undefined && (!Number.isSafeInteger(value) || (value as number) < 1)) {
        throw new UsageError(`--${name} needs a positive integer, got ${value}`);
      }
    }
    if (options.seed !== undefined && !Number.isSafeInteger(options.seed)) {
      throw new UsageError(`--seed needs an integer, got ${options.seed}`);
    }
  } catch (error) {
    throw usageError(error);
  }
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args: cliArgs(args),
    options: {
      model: { type: "string" },
      prompt: { type: "string" },
      "prompt-file": { type: "string" },
      chat: { type: "boolean", default: false },
      "max-new-tokens": { type: "string" },
      temperature: { type: "string" },
      "top-k": { type: "string" },
      "top-p": { type: "string" },
      seed: { type: "string" },
      stop: { type: "string", multiple: true, default: [] },
      press: { type: "string", default: "full" },
      ratio: { type: "string" },
      profile: { type: "string" },
      scorer: { type: "string", default: "snapkv" },
      "scorer-param": { type: "string", multiple: true, default: [] },
      "compress-every": { type: "string" },
      question: { type: "string" },
      device: { type: "string", default: "auto" },
    },
  });
  if (values.model === undefined) throw new UsageError("--model DIR is required");
  if ((values.prompt === undefined) === (values["prompt-file"] === undefined)) {
    throw new UsageError("give exactly one of --prompt and --prompt-file");
  }
  if (!["cpu", "cuda", "auto"].includes(values.device)) throw new UsageError(`--device is cpu, cuda or auto`);
  const options: GenerateOptions = {
    press: values.press,
    compressionRatio: number("ratio", values.ratio),
    scorerParams: parseScorerParams(values["scorer-param"]),
    compressEvery: number("compress-every", values["compress-every"]),
    maxNewTokens: number("max-new-tokens", values["max-new-tokens"]),
    temperature: number("temperature", values.temperature),
    topK: number("top-k", values["top-k"]),
    topP: number("top-p", values["top-p"]),
    seed: number("seed", values.seed),
    stop: values.stop,
  };
  checkOptions(options);
  const text = values.prompt ?? await Deno.readTextFile(values["prompt-file"]!);
  checkModelDir(values.model);
  using model = await loadModel(values.model, { device: values.device as DeviceRequest });
  const ids = values.chat
    ? model.encode(model.tokenizer.applyChatTemplate([{ role: "user", content: text }]), {
      addSpecialTokens: false,
    })
    : model.encode(text);
  const profile = values.profile === undefined ? undefined : await loadProfile(values.profile, values.scorer);
  const prompt = values.question === undefined
    ? ids
    : { context: ids, question: model.encode(values.question, { addSpecialTokens: false }) };
  const run = model.generate(prompt, { ...options, profile });
  const out = new TextEncoder();
  for await (const piece of run) await Deno.stdout.write(out.encode(piece));
  const s = await run.stats();
  console.log();
  console.error(
    `[${model.device.kind}] prompt ${s.promptTokens} tokens, prefill ${s.prefillMs.toFixed(1)} ms, ` +
      `${s.newTokens} new tokens at ${s.decodeTokensPerSecond.toFixed(1)} tokens/s, ` +
      `KV ${(s.kvBytes / 1024).toFixed(1)} KiB (full cache ${(s.kvBytesFull / 1024).toFixed(1)} KiB)`,
  );
}

if (import.meta.main) await runCli("generate", USAGE, () => main(Deno.args));
