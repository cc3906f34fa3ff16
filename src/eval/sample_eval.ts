/** One sample under every press x ratio: a scored dense prefill, the full reference, then each compressed cell. */

import { LukvError, STATUS } from "../backend/errors.ts";
import { denseKvBytes } from "../cache/dense.ts";
import { checkCompressionRatio } from "../lukv/tables.ts";
import { sampleToken } from "../model/sampling.ts";
import { scorerKey } from "../press/score_recorder.ts";
import type { Scorer } from "../press/scorers/scorer.ts";
import { compressDense } from "../pipeline/compress.ts";
import { decode } from "../pipeline/decode.ts";
import type { Model } from "../pipeline/model.ts";
import { scoredPrefill } from "../pipeline/prefill.ts";
import { append } from "../pipeline/steps.ts";
import { AttentionProbe } from "./attention_probe.ts";
import type { EvalSample } from "./items.ts";
import { attentionError, klDivergence } from "./metrics.ts";
import type { EvalPress } from "./press_set.ts";
import type { EvalCell, RunIdentity } from "./results.ts";
import { scoreAnswer } from "./tasks/mod.ts";

/** Answer tokens allowed beyond the target's own: the answer budget is the target's tokens + this. */
export const ANSWER_MARGIN_TOKENS = 8;

/**
 * One cell to compute for a sample: a press and a ratio (0 for `full`).
 *
 * @example
 * ```ts
 * const cell: PlannedCell = { entry: presses[1], ratio: 0.8 };
 * ```
 */
export interface PlannedCell {
  /** The press and its label. */
  entry: EvalPress;
  /** Compression ratio; 0 for `full`. */
  ratio: number;
}

/**
 * Every cell of one sample, in the results file's order: presses without a scorer
 * (`full`) once, then each press x ratio. Checks the ratios (each in [0, 1), no repeats).
 *
 * @example
 * ```ts
 * planCells(presses, [0.5, 0.8]).map((c) => `${c.entry.label}@${c.ratio}`); // ["full@0", "snapkv@0.5", "snapkv@0.8"]
 * ```
 */
export function planCells(presses: readonly EvalPress[], ratios: readonly number[]): PlannedCell[] {
  if (presses.length === 0) throw new RangeError("no press to evaluate");
  ratios.forEach(checkCompressionRatio);
  if (new Set(ratios).size !== ratios.length) throw new RangeError(`ratios repeat: ${ratios.join(", ")}`);
  const compressing = presses.filter((p) => p.press.scorer);
  if (compressing.length > 0 && ratios.length === 0) throw new RangeError("no compression ratio given");
  return [
    ...presses.filter((p) => !p.press.scorer).map((entry) => ({ entry, ratio: 0 })),
    ...compressing.flatMap((entry) => ratios.map((ratio) => ({ entry, ratio }))),
  ];
}

/**
 * The cells `planned` of one sample, yielded as each finishes (a consumer that stops
 * early frees everything). The context is prefilled once into a dense cache that also
 * scores every layer with each distinct scorer of the presses; the question + answer
 * prefix is appended to it for the full reference (first-token logits, and each layer's
 * attention output at the question's last token) and, for `full`, the answer is decoded
 * greedily there. Each other cell compacts a ragged cache from the dense one (never a new
 * prefill), appends the question one token at a time, and decodes greedily. The answer
 * budget is the target's tokens + {@linkcode ANSWER_MARGIN_TOKENS} (or `maxNewTokens`).
 *
 * @example
 * ```ts
 * for (const cell of evaluateSample(model, { task: "needle", index: 0 }, sample, planCells(presses, [0.8]), run)) {
 *   console.log(cell.press, cell.ratio, cell.correct, cell.kl);
 * }
 * ```
 */
export function* evaluateSample(
  model: Model,
  item: { task: string; index: number },
  sample: EvalSample,
  planned: readonly PlannedCell[],
  run: RunIdentity,
  maxNewTokens?: number,
): Generator<EvalCell> {
  const { layers, kvHeads } = model.config;
  const { context, question } = encodeSample(model, sample);
  const prompt = new Int32Array(context.length + question.length);
  prompt.set(context);
  prompt.set(question, context.length);
  model.checkPrompt(prompt);
  const maxNew = answerBudget(model, item, sample, prompt.length, maxNewTokens);

  const scorers = new Map<string, Scorer>();
  for (const { entry: { press } } of planned) {
    if (press.scorer) scorers.set(scorerKey(press.scorer), press.scorer);
  }
  const capacity = prompt.length + maxNew;
  const prefillStarted = performance.now();
  using dense = scoredPrefill(model, context, { scorers: [...scorers.values()], capacity });
  const scoringMs = [...scorers.keys()].reduce((sum, key) => sum + dense.recorder.scoringMs(key), 0);
  const prefillMs = performance.now() - prefillStarted - scoringMs;

  const last = prompt.length - 1;
  const reference = new AttentionProbe(last);
  const questionStarted = performance.now();
  const fullLogits = append(model, dense.cache, question, [reference]);
  const fullQuestionMs = performance.now() - questionStarted;

  const base = {
    ...run,
    task: item.task,
    sample: item.index,
    contextTokens: context.length,
    questionTokens: question.length,
  };
  const kvBytesFull = denseKvBytes(model.config, capacity);
  const greedy = (row: Float32Array) => sampleToken(row, {}, () => 0);
  const eos = new Set(model.eosTokenIds);
  for (const { entry, ratio } of planned) {
    const scorer = entry.press.scorer;
    const times = { ms: 0, steps: 0 };
    if (!scorer) {
      const tokens = [...decode(model, dense.cache, fullLogits, { maxNew, pick: greedy, eos }, times)];
      yield {
        ...base,
        press: entry.label,
        ratio,
        scorer: "none",
        ...answerFields(model, sample, tokens),
        kl: 0,
        attentionError: 0,
        kept: 1,
        kvBytes: dense.cache.bytes(),
        kvBytesFull,
        timings: {
          prefillMs,
          scoreMs: 0,
          compactMs: 0,
          questionMs: fullQuestionMs,
          decodeMs: times.ms,
          decodeTokensPerSecond: times.steps > 0 ? times.steps / (times.ms / 1000) : 0,
        },
      };
      continue;
    }
    const compactStarted = performance.now();
    // Room for exactly the question and the answer: bytes() is then what this generation needs.
    const compressed = compressDense(
      dense.cache,
      context.length,
      dense.recorder.scores(scorerKey(scorer)),
      entry.press,
      ratio,
      question.length + maxNew,
    );
    using ragged = compressed.cache;
    const keptPairs = compressed.selections.reduce((sum, s) => sum + s.counts.reduce((a, b) => a + b, 0), 0);
    const compactMs = performance.now() - compactStarted;
    const probe = new AttentionProbe(last);
    const pressQuestionStarted = performance.now();
    const logits = append(model, ragged, question, [probe]);
    const questionMs = performance.now() - pressQuestionStarted;
    const tokens = [...decode(model, ragged, logits, { maxNew, pick: greedy, eos }, times)];
    yield {
      ...base,
      press: entry.label,
      ratio,
      scorer: scorer.name,
      scorerParams: { ...scorer.params },
      ...answerFields(model, sample, tokens),
      kl: klDivergence(fullLogits, logits),
      attentionError: attentionError(reference.outputs, probe.outputs),
      kept: keptPairs / (layers * kvHeads * context.length),
      kvBytes: ragged.bytes(),
      kvBytesFull,
      timings: {
        prefillMs,
        scoreMs: dense.recorder.scoringMs(scorerKey(scorer)),
        compactMs,
        questionMs,
        decodeMs: times.ms,
        decodeTokensPerSecond: times.steps > 0 ? times.steps / (times.ms / 1000) : 0,
      },
    };
  }
}

/**
 * A sample's token ids: the context with the tokenizer's special tokens (BOS), the
 * question + answer prefix without.
 *
 * @example
 * ```ts
 * const { context, question } = encodeSample(model, sample);
 * ```
 */
export function encodeSample(
  model: Model,
  sample: EvalSample,
): { context: Int32Array; question: Int32Array } {
  return {
    context: model.encode(sample.context),
    question: model.encode(sample.question + sample.answerPrefix, { addSpecialTokens: false }),
  };
}

/**
 * Answer tokens for a sample whose prompt has `promptTokens` tokens: the target's tokens
 * plus {@linkcode ANSWER_MARGIN_TOKENS} (or `maxNewTokens`), within the model's context. A
 * prompt that leaves no room for the target and EOS is a LukvError naming the sample.
 *
 * @example
 * ```ts
 * answerBudget(model, { task: "needle", index: 0 }, sample, 1970); // e.g. 14
 * ```
 */
export function answerBudget(
  model: Model,
  item: { task: string; index: number },
  sample: EvalSample,
  promptTokens: number,
  maxNewTokens: number | undefined,
): number {
  if (maxNewTokens !== undefined && (!Number.isSafeInteger(maxNewTokens) || maxNewTokens < 1)) {
    throw new RangeError(`maxNewTokens must be a positive integer, got ${maxNewTokens}`);
  }
  const target = sample.target ?? ` ${sample.answers.join(", ")}.`;
  const targetTokens = model.encode(target, { addSpecialTokens: false }).length;
  const wanted = maxNewTokens ?? targetTokens + ANSWER_MARGIN_TOKENS;
  const room = model.contextLimit - promptTokens;
  if (room < Math.min(wanted, targetTokens + 1)) {
    throw new LukvError(
      "sample",
      STATUS.INVALID_ARGUMENT,
      `${item.task} sample ${item.index}: its ${promptTokens}-token prompt leaves ${room} of the model's ` +
        `${model.contextLimit} positions, but the answer needs ${targetTokens + 1} (target + EOS): ` +
        `use a smaller length`,
    );
  }
  return Math.min(wanted, room);
}

/** The output fields of a cell. */
function answerFields(model: Model, sample: EvalSample, tokens: number[]) {
  const output = model.decode(tokens);
  return { output, newTokens: tokens.length, correct: scoreAnswer(sample, output) };
}
