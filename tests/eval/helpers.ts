/** Shared by the task generator tests: the fixture tokenizer and parsers of generated contexts. */

import { Tokenizer } from "../../src/model/tokenizer.ts";

/** The 288-token byte-level BPE fixture (tests must not depend on models/tiny). */
export const FIXTURE_MODEL = new URL("../fixtures/models/llama-llama3rope", import.meta.url).pathname;

/** The fixture tokenizer, loaded once. */
export const tokenizer: Tokenizer = await Tokenizer.load(FIXTURE_MODEL);

/** Every "The special magic number for {key} is {value}." of a context, in order. */
export function needles(context: string): { key: string; value: string; at: number }[] {
  return [...context.matchAll(/The special magic number for ([a-z]+) is (\d{6})\./g)].map((m) => ({
    key: m[1],
    value: m[2],
    at: m.index,
  }));
}

/** How often each word occurs in a list. */
export function wordCounts(words: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const word of words) counts.set(word, (counts.get(word) ?? 0) + 1);
  return counts;
}
