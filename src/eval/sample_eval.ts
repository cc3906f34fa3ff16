/** One sample under every press x ratio: a scored dense prefill, the full reference, then each compressed cell. */

import { LukvError, STATUS } from "../backend/errors.ts";
import { denseKvBytes } from "../cache/dense.ts";
import { checkCompressionRatio } from "../lukv/tables.ts";
import { greedyToken } from "../model/sampling.ts";
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
import { type EvalCell, type Protocol, PROTOCOLS, type RunIdentity } from "./results.ts";
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
  /** The protocol (`full` is run once, as agnostic: without compression both are the same). */
  mode: Protocol;
}

/**
 * Every cell of one sample, in the results file's order: presses without a scorer
 * (`full`) once, then each protocol x press x ratio. Checks the ratios (each in [0, 1),
 * no repeats) and the protocols.
 *
 * @example
 * ```ts
 * planCells(presses, [0.5, 0.8]).map((c) => `${c.entry.label}@${c.ratio}`); // ["full@0", "snapkv@0.5", "snapkv@0.8"]
 * planCells(presses, [0.8], ["agnostic", "aware"]).length; // 3: full, snapkv agnostic, snapkv aware
 * ```
 */
export function planCells(
  presses: readonly EvalPress[],
  ratios: readonly number[],
  modes: readonly Protocol[] = ["agnostic"],
): PlannedCell[] {
  if (presses.length === 0) throw new RangeError("no press to evaluate");
  ratios.forEach(checkCompressionRatio);
  if (new Set(ratios).size !== ratios.length) throw new RangeError(`ratios repeat: ${ratios.join(", ")}`);
  if (
    modes.length === 0 || new Set(modes).size !== modes.length || modes.some((m) => !PROTOCOLS.includes(m))
  ) {
    throw new RangeError(`protocols must be distinct of ${PROTOCOLS.join(", ")}, got ${modes.join(", ")}`);
  }
  const compressing = presses.filter((p) => p.press.scorer);
  if (compressing.length > 0 && ratios.length === 0) throw new RangeError("no compression ratio given");
  return [
    ...presses.filter((p) => !p.press.scorer).map((entry) => ({
      entry,
      ratio: 0,
      mode: "agnostic" as const,
    })),
    ...modes.flatMap((mode) =>
      compressing.flatMap((entry) => ratios.map((ratio) => ({ entry, ratio, mode })))
    ),
  ];
}

/**
 * The cells `planned` of one sample, yielded as each finishes (a consumer that stops
 * early frees everything). The whole prompt (context, then question + answer prefix) is
 * prefilled once into a dense cache while each distinct scorer of the presses scores
 * every layer twice: over the context alone (query-agnostic) and over the whole prompt
 * (query-aware). That prefill gives the full reference: first-token logits, and each
 * layer's attention output at the question's last token; `full` decodes greedily there.
 *
 * A query-agnostic cell compacts the context into a ragged cache (never a new prefill),
 * appends the question in one forward and decodes greedily; its KL and attention error
 * are measured at the question's last token. A query-aware cell compacts the whole
 * prompt and decodes from the full prefill's logits (kvpress's query-aware protocol), so
 * its first token is the full cache's; its KL and attention error are measured one step
 * later, after that first token, against the full cache's. The answer budget is the
 * target's tokens + {@linkcode ANSWER_MARGIN_TOKENS} (or `maxNewTokens`).
 *
 * @example
 * ```ts
 * for (const cell of evaluateSample(model, { task: "needle", index: 0 }, sample, planCells(presses, [0.8]), run)) {
 *   console.log(cell.press, cell.mode, cell.ratio, cell.correct, cell.kl);
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
  const last = prompt.length - 1;
  const reference = new AttentionProbe(last);
  const prefillStarted = performance.now();
  using dense = scoredPrefill(model, prompt, {
    scorers: [...scorers.values()],
    capacity,
    scoredLengths: [context.length, prompt.length],
    observers: [reference],
  });
  const [agnostic, aware] = dense.recorders;
  const scoringMs = (key: string) => agnostic.scoringMs(key) + aware.scoringMs(key);
  const prefillMs = performance.now() - prefillStarted -
    [...scorers.keys()].reduce((t, k) => t + scoringMs(k), 0);
  const fullLogits = dense.logits;

  const eos = new Set(model.eosTokenIds);
  const first = greedyToken(fullLogits);
  // The query-aware reference: the full cache one step after the first answer token.
  const awareReference = new AttentionProbe(prompt.length);
  const needsAware = planned.some((c) => c.mode === "aware" && c.entry.press.scorer) && !eos.has(first);
  const awareLogits = needsAware
    ? append(model, dense.cache, new Int32Array([first]), [awareReference])
    : null;
  dense.cache.length = prompt.length;

  const base = {
    ...run,
    task: item.task,
    sample: item.index,
    contextTokens: context.length,
    questionTokens: question.length,
  };
  const kvBytesFull = denseKvBytes(model.config, capacity);
  for (const { entry, ratio, mode } of planned) {
    const scorer = entry.press.scorer;
    const times = { ms: 0, steps: 0 };
    if (!scorer) {
      const tokens = [...decode(model, dense.cache, fullLogits, { maxNew, pick: greedyToken, eos }, times)];
      dense.cache.length = prompt.length;
      yield {
        ...base,
        press: entry.label,
        ratio,
        mode,
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
          questionMs: 0,
          decodeMs: times.ms,
          decodeTokensPerSecond: times.steps > 0 ? times.steps / (times.ms / 1000) : 0,
        },
      };
      continue;
    }
    const key = scorerKey(scorer);
    const length = mode === "aware" ? prompt.length : context.length;
    const compactStarted = performance.now();
    // Room for exactly what follows the compressed tokens: bytes() is then what this generation needs.
    const compressed = compressDense(
      dense.cache,
      length,
      (mode === "aware" ? aware : agnostic).scores(key),
      entry.press,
      ratio,
      prompt.length - length + maxNew,
    );
    using ragged = compressed.cache;
    const keptPairs = compressed.selections.reduce((sum, s) => sum + s.counts.reduce((a, b) => a + b, 0), 0);
    const compactMs = performance.now() - compactStarted;
    const probe = new AttentionProbe(mode === "aware" ? prompt.length : last);
    let kl = 0, error = 0, questionMs = 0, tokens: number[];
    if (mode === "agnostic") {
      const started = performance.now();
      const logits = append(model, ragged, question, [probe]);
      questionMs = performance.now() - started;
      kl = klDivergence(fullLogits, logits);
      error = attentionError(reference.outputs, probe.outputs);
      tokens = [...decode(model, ragged, logits, { maxNew, pick: greedyToken, eos }, times)];
    } else {
      // The first token comes from the full prefill; the compressed cache answers from the second on.
      tokens = [...decode(model, ragged, fullLogits, {
        maxNew,
        pick: greedyToken,
        eos,
        observers: [probe],
        onLogits: (logits, step) => {
          if (step !== 1 || !awareLogits) return;
          kl = klDivergence(awareLogits, logits);
          error = attentionError(awareReference.outputs, probe.outputs);
        },
      }, times)];
    }
    yield {
      ...base,
      press: entry.label,
      ratio,
      mode,
      scorer: scorer.name,
      scorerParams: { ...scorer.params },
      ...answerFields(model, sample, tokens),
      kl,
      attentionError: error,
      kept: keptPairs / (layers * kvHeads * length),
      kvBytes: ragged.bytes(),
      kvBytesFull,
      timings: {
        prefillMs,
        scoreMs: (mode === "aware" ? aware : agnostic).scoringMs(key),
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
