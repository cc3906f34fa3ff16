/** Filler text (Jargon File paragraphs, one file per split) cut into whole sentences, and needles placed among them. */

import type { Rng } from "./rng.ts";
import { type BuildEnv, type Split, SPLITS, tooShort } from "./sample.ts";

/**
 * A split's filler: its paragraphs as a list of sentences, each carrying the separator
 * that precedes it in running text ("\n" first in a paragraph, " " otherwise).
 *
 * @example
 * ```ts
 * const filler = await loadFiller("eval");
 * filler.units[filler.paragraphStarts[3]]; // "\nThe first sentence of paragraph 3."
 * ```
 */
export interface Filler {
  /** "train", "calib" or "eval". */
  split: Split;
  /** Sentences, each with its leading separator. */
  units: readonly string[];
  /** Indices into `units` of every paragraph's first sentence. */
  paragraphStarts: readonly number[];
}

/** Pieces shorter than this are joined to the next one ("2. n.", "Compare foo."), so no sentence is a stub. */
const MIN_SENTENCE_CHARS = 40;
/** A sentence end: . ! or ? (maybe closed by a quote or bracket), then space, then a capital, digit or opening quote. */
const SENTENCE_END = /(?<=[.!?]["')\]]?)\s+(?=["'(\[]?[A-Z0-9])/;
/** How many sentences in a row may not fit before filling stops (keeps the gap to N small). */
const MAX_MISSES = 200;

/**
 * The sentences of one paragraph, each at least 40 characters when the paragraph is
 * (short pieces such as sense numbers "2. n." are joined to the next).
 *
 * @example
 * ```ts
 * splitSentences("It works. See also the long sentence that follows it here."); // one sentence (the first is too short)
 * ```
 */
export function splitSentences(paragraph: string): string[] {
  const sentences: string[] = [];
  let pending = "";
  for (const piece of paragraph.trim().split(SENTENCE_END)) {
    pending = pending === "" ? piece : `${pending} ${piece}`;
    if (pending.length >= MIN_SENTENCE_CHARS) {
      sentences.push(pending);
      pending = "";
    }
  }
  if (pending !== "") {
    if (sentences.length === 0) sentences.push(pending);
    else sentences[sentences.length - 1] += ` ${pending}`;
  }
  return sentences;
}

/**
 * Builds a {@linkcode Filler} from text with one paragraph per line.
 *
 * @example
 * ```ts
 * parseFiller("eval", "First paragraph, long enough to be a sentence.\nSecond one, also long enough.\n");
 * ```
 */
export function parseFiller(split: Split, text: string): Filler {
  const units: string[] = [];
  const paragraphStarts: number[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    paragraphStarts.push(units.length);
    splitSentences(line).forEach((sentence, i) => units.push(`${i === 0 ? "\n" : " "}${sentence}`));
  }
  if (units.length === 0) throw new RangeError(`the ${split} filler text has no paragraphs`);
  return { split, units, paragraphStarts };
}

const loaded = new Map<Split, Promise<Filler>>();

/**
 * The filler of a split, read once from `text/{split}.txt` next to this module with
 * `fetch`, so it works from a checkout (needs --allow-read) and when imported remotely.
 *
 * @example
 * ```ts
 * const filler = await loadFiller("calib");
 * ```
 */
export function loadFiller(split: Split): Promise<Filler> {
  if (!SPLITS.includes(split)) {
    return Promise.reject(
      new RangeError(`split must be one of ${SPLITS.join(", ")}, got ${JSON.stringify(split)}`),
    );
  }
  let filler = loaded.get(split);
  if (filler === undefined) {
    filler = (async () => {
      const url = new URL(`./text/${split}.txt`, import.meta.url);
      const response = await fetch(url);
      if (!response.ok) throw new Error(`cannot fetch ${url}: ${response.status} ${response.statusText}`);
      return parseFiller(split, await response.text());
    })();
    filler.catch(() => loaded.delete(split));
    loaded.set(split, filler);
  }
  return filler;
}

/** What {@linkcode fillAround} places and what follows the context. */
export interface NeedleSpec {
  /** Sentences to hide, in the order they must appear. */
  needles: readonly string[];
  /** The question that follows the context. */
  question: string;
  /** The answer prefix that follows the question. */
  answerPrefix: string;
}

/**
 * A context of whole filler sentences with the needles among them, sized so that
 * `context + question + answerPrefix` takes at most `budget` tokens (by cached counts)
 * and comes within about one short sentence of it. The filler starts at a random
 * paragraph and runs on (wrapping around the file); near the end, sentences that do not
 * fit are skipped for shorter ones. Needle i of n goes at a uniform depth in
 * [i/n, (i+1)/n) of the filler, so needles are spread over the context in their order.
 *
 * @example
 * ```ts
 * const context = fillAround(rng, 1024, env, { needles: [needleSentence("lamp", "482913")], question, answerPrefix });
 * ```
 */
export function fillAround(rng: Rng, budget: number, env: BuildEnv, spec: NeedleSpec): string {
  const { counter, filler } = env;
  const needleUnits = spec.needles.map((needle) => ` ${needle}`);
  const fixed = counter.special + counter.count(spec.question + spec.answerPrefix) +
    needleUnits.reduce((sum, unit) => sum + counter.count(unit), 0);
  if (fixed > budget) {
    const needles = spec.needles.length === 1 ? "1 needle" : `${spec.needles.length} needles`;
    throw tooShort(env, `the question, answer prefix and ${needles}`, fixed);
  }
  const start = rng.pick(filler.paragraphStarts);
  const depths = spec.needles.map((_, i) => (i + rng.next()) / spec.needles.length);

  const chosen: string[] = [];
  let remaining = budget - fixed;
  for (let i = start, misses = 0; remaining > 0 && misses < MAX_MISSES; i = (i + 1) % filler.units.length) {
    const unit = filler.units[i];
    const tokens = counter.count(unit);
    if (tokens <= remaining) {
      chosen.push(unit);
      remaining -= tokens;
      misses = 0;
    } else {
      misses++;
    }
  }

  const units: string[] = [];
  let next = 0;
  for (let k = 0; k <= chosen.length; k++) {
    while (next < needleUnits.length && Math.floor(depths[next] * (chosen.length + 1)) <= k) {
      units.push(needleUnits[next++]);
    }
    if (k < chosen.length) units.push(chosen[k]);
  }
  return units.join("").slice(1);
}
