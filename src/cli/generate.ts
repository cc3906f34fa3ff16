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
import { runCli, UsageError } from "./run.ts";
import type { DeviceRequest } from "../backend/device.ts";
import { budgetStats } from "../lukv/budgets.ts";
import { type Profile, readProfile } from "../lukv/profile.ts";
import { readBudgetNpy } from "../lukv/table_npy.ts";
import { loadModel } from "../pipeline/model.ts";
import { PRESS_GRAMMAR } from "../press/registry.ts";
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
  if (!path.endsWith(".npy")) return readProfile(await Deno.readTextFile(path));
  const budgets = readBudgetNpy(await Deno.readFile(path));
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

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
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
  const text = values.prompt ?? await Deno.readTextFile(values["prompt-file"]!);
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
  const run = model.generate(prompt, {
    press: values.press,
    compressionRatio: number("ratio", values.ratio),
    profile,
    scorerParams: parseScorerParams(values["scorer-param"]),
    compressEvery: number("compress-every", values["compress-every"]),
    maxNewTokens: number("max-new-tokens", values["max-new-tokens"]),
    temperature: number("temperature", values.temperature),
    topK: number("top-k", values["top-k"]),
    topP: number("top-p", values["top-p"]),
    seed: number("seed", values.seed),
    stop: values.stop,
  });
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
