/** Shared by the evaluation tests: short hand-made samples that fit the fixture models' 128 positions, and run helpers. */

import { type EvalItem, type EvalSample, fixedItems } from "../../src/eval/items.ts";
import { type EvalCell, parseResults } from "../../src/eval/results.ts";
import { uniformProfile } from "../../src/lukv/profile.ts";
import type { Profile } from "../../src/lukv/profile.ts";

/** Fixture model folders. */
export const FIXTURES = new URL("../fixtures/models/", import.meta.url).pathname;

/** Byte-level prompts of about 75 tokens, answers of about 6: room to spare in 128 positions. */
export const SAMPLES: EvalSample[] = [
  {
    context: "The code for lamp is 4829. The code for door is 1357. Keep both.",
    question: "\nCode for lamp?",
    answerPrefix: " It is",
    answers: ["4829"],
  },
  {
    context: "A list: red 12, blue 87, green 40, gold 63. The list ends here.",
    question: "\nWhat is blue?",
    answerPrefix: " Blue is",
    answers: ["87"],
  },
  {
    context: "Rivers: Nile, Rhine, Volga. Mountains: Alps, Andes. Seas: Red, Black.",
    question: "\nName two rivers.",
    answerPrefix: " Rivers:",
    answers: ["Nile", "Rhine"],
    target: " Nile, Rhine.",
  },
];

/** The samples as items of two tasks. */
export function items(): EvalItem[] {
  return [...fixedItems("toy", SAMPLES.slice(0, 2)), ...fixedItems("lists", SAMPLES.slice(2))];
}

/** A uniform stand-in profile for a fixture's shape (snapkv scorer, small protections). */
export function standInProfile(layers: number, kvHeads: number, id = "fixture"): Profile {
  return uniformProfile({ id, layers, kvHeads }, { name: "snapkv", params: { window: 32, kernel: 7 } }, {
    sink: 2,
    window: 4,
  });
}

/** The cells of a results file's text without their timings (which differ from run to run). */
export function withoutTimings(text: string): Omit<EvalCell, "timings">[] {
  return parseResults(text).map(({ timings: _timings, ...cell }) => cell);
}
