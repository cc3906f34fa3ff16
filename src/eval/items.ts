/** What the evaluation runs on: samples named by (task, index), loaded only when a cell of theirs is still to do. */

import { generateSample, type TaskName, type TaskSample, type TaskTokenizer } from "./tasks/mod.ts";

/**
 * The text of one sample: the prompt is `context + question + answerPrefix`; the answer
 * is correct when it contains every string of `answers`. `target` (default
 * `" " + answers.join(", ") + "."`, as the task generators write it) sizes the answer budget.
 */
export type EvalSample = Pick<TaskSample, "context" | "question" | "answerPrefix" | "answers"> & {
  target?: string;
};

/**
 * One sample of a run, loaded lazily (a resumed run skips finished samples without
 * generating them).
 *
 * @example
 * ```ts
 * const item: EvalItem = { task: "needle", index: 0, load: () => Promise.resolve(sample) };
 * ```
 */
export interface EvalItem {
  /** Task name. */
  task: string;
  /** Index of the sample within its task. */
  index: number;
  /** The sample's text. */
  load(): Promise<EvalSample>;
}

/**
 * The evaluation-split samples `0 .. samples - 1` of each task, at `length` tokens with `seed`
 * (the generators' "eval" split: filler and PRNG streams disjoint from calibration's).
 *
 * @example
 * ```ts
 * const items = taskItems(["needle", "multikey"], { length: 1984, samples: 100, seed: 0, tokenizer: model.tokenizer });
 * items.length; // 200
 * ```
 */
export function taskItems(
  tasks: readonly TaskName[],
  options: { length: number; samples: number; seed: number; tokenizer: TaskTokenizer },
): EvalItem[] {
  const { length, samples, seed, tokenizer } = options;
  if (!Number.isSafeInteger(samples) || samples < 1) {
    throw new RangeError(`samples must be a positive integer, got ${samples}`);
  }
  return tasks.flatMap((task) =>
    Array.from({ length: samples }, (_, index) => ({
      task,
      index,
      load: () => generateSample(task, { length, seed, index, split: "eval", tokenizer }),
    }))
  );
}

/**
 * Ready-made samples as items of one task, indexed in order (for tests and custom sets).
 *
 * @example
 * ```ts
 * const items = fixedItems("toy", [{ context: "The code is 42.", question: "\nThe code?", answerPrefix: " It is", answers: ["42"] }]);
 * ```
 */
export function fixedItems(task: string, samples: readonly EvalSample[]): EvalItem[] {
  return samples.map((sample, index) => ({ task, index, load: () => Promise.resolve(sample) }));
}
