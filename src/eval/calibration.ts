/** The default LU-KV calibration set: contexts from the task generators' calibration split, two questions each. */

import type { CalibrationItem } from "../pipeline/profiling.ts";
import type { Model } from "../pipeline/model.ts";
import { generateSample, type TaskName } from "./tasks/mod.ts";

/** Tasks whose contexts the default calibration set cycles through. */
const CALIBRATION_TASKS: TaskName[] = ["multikey", "multiquery", "variable-tracking", "multivalue", "needle"];

/** A question any context can answer, so each context is probed twice (its own question, and this). */
const RECALL_QUESTION = "\nRepeat the first sentence of the text above.\n The first sentence of the text is";

/**
 * The default calibration set: `samples` contexts from the generators' calibration
 * split (own filler text and seeds, never the evaluation ones) at `length` tokens,
 * cycling through retrieval-style tasks; each context gets its own question and a
 * generic recall question.
 *
 * @example
 * ```ts
 * const items = await calibrationSet(model, { samples: 8, length: 2000, seed: 7 });
 * ```
 */
export async function calibrationSet(
  model: Model,
  { samples, length, seed }: { samples: number; length: number; seed: number },
): Promise<CalibrationItem[]> {
  const items: CalibrationItem[] = [];
  for (let i = 0; i < samples; i++) {
    const task = CALIBRATION_TASKS[i % CALIBRATION_TASKS.length];
    const sample = await generateSample(task, {
      length,
      seed,
      index: i,
      split: "calib",
      tokenizer: model.tokenizer,
    });
    items.push({
      context: sample.context,
      questions: [sample.question + sample.answerPrefix, RECALL_QUESTION],
    });
  }
  return items;
}
