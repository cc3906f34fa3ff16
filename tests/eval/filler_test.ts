/** The generators' building blocks: sentence splitting, disjoint filler per split, the seeded PRNG, word lists. */

import assert from "node:assert/strict";
import { loadFiller, parseFiller, splitSentences } from "../../src/eval/tasks/filler.ts";
import { zipfCounts } from "../../src/eval/tasks/frequent_words.ts";
import { hash128, Rng } from "../../src/eval/tasks/rng.ts";
import { SPLITS } from "../../src/eval/tasks/sample.ts";
import { ADJECTIVES, KEYS, madeUpWord, variableName } from "../../src/eval/tasks/words.ts";

Deno.test("paragraphs split into whole sentences of at least 40 characters, losing no text", () => {
  const paragraph = '2. n. A short sense. The U.S. convention (held in the U.S.) was large. "Is it?" ' +
    "Yes! It was held at the Westercon over the July 4th weekend in 1980.";
  const sentences = splitSentences(paragraph);
  assert.deepEqual(sentences, [
    "2. n. A short sense. The U.S. convention (held in the U.S.) was large.",
    '"Is it?" Yes! It was held at the Westercon over the July 4th weekend in 1980.',
  ]);
  assert.equal(sentences.join(" "), paragraph);
  assert.deepEqual(splitSentences("Too short. Also short."), ["Too short. Also short."]);

  const filler = parseFiller(
    "eval",
    `${paragraph}\n\nA second paragraph that is long enough to stand alone.\n`,
  );
  assert.deepEqual(filler.paragraphStarts, [0, 2]);
  assert.deepEqual(filler.units.map((unit) => unit[0]), ["\n", " ", "\n"]);
});

Deno.test("calibration and evaluation filler share no sentence; training shares only lines the source repeats", async () => {
  const [train, calib, evaluation] = await Promise.all(
    SPLITS.map(async (split) => new Set((await loadFiller(split)).units.map((unit) => unit.slice(1)))),
  );
  const shared = (a: Set<string>, b: Set<string>) => [...a].filter((sentence) => b.has(sentence));
  assert.ok(calib.size > 500 && evaluation.size > 500 && train.size > 5000);
  assert.deepEqual(shared(calib, evaluation), []);
  // The Jargon File quotes a few lines in two entries, and paragraphs (not sentences) were split by hash.
  assert.ok(shared(train, calib).length <= 3 && shared(train, evaluation).length <= 3);
  await assert.rejects(() => loadFiller("test" as "eval"), /split must be one of train, calib, eval/);
});

Deno.test("the PRNG: one stream per (split, task, seed, index), clones continue alike", () => {
  const first = (split: string, task: string, seed: number, index: number) =>
    Rng.forSample(split, task, seed, index).next();
  const base = first("eval", "needle", 1, 0);
  assert.equal(first("eval", "needle", 1, 0), base);
  for (
    const other of [
      first("calib", "needle", 1, 0),
      first("eval", "multikey", 1, 0),
      first("eval", "needle", 2, 0),
    ]
  ) {
    assert.notEqual(other, base);
  }
  assert.notEqual(first("eval", "needle", 1, 1), base);
  assert.notDeepEqual(hash128("a"), hash128("b"));

  const rng = Rng.forSample("train", "needle", 0, 0);
  rng.next();
  const copy = rng.clone();
  assert.deepEqual(Array.from({ length: 5 }, () => copy.next()), Array.from({ length: 5 }, () => rng.next()));
  const drawn = rng.sample(KEYS, 50);
  assert.equal(new Set(drawn).size, 50);
  assert.throws(() => rng.sample(["a"], 2), RangeError);
  const uniform = Array.from({ length: 10000 }, () => rng.int(10));
  for (let v = 0; v < 10; v++) {
    const share = uniform.filter((x) => x === v).length / uniform.length;
    assert.ok(Math.abs(share - 0.1) < 0.02, `value ${v}: ${share}`);
  }
});

Deno.test("word lists and made-up names have the promised shapes", () => {
  const all = [...KEYS, ...ADJECTIVES];
  assert.ok(KEYS.length >= 300);
  assert.equal(new Set(all).size, all.length, "no word twice");
  assert.ok(all.every((w) => /^[a-z]+$/.test(w)));
  const rng = Rng.forSample("eval", "words", 0, 0);
  for (let i = 0; i < 200; i++) {
    assert.match(madeUpWord(rng), /^[bdfgklmnprstvz][aeiou][bdfgklmnprstvz][aeiou]$/);
    const name = variableName(rng);
    assert.match(name, /^[A-Z]{3}$/);
    assert.notEqual(name, "VAR");
  }
  assert.deepEqual(zipfCounts(40), [40, 10, 4, 2, 1, 1]);
  for (let top = 18; top < 2000; top++) {
    const [a, b, c, d] = zipfCounts(top);
    assert.ok(a > b && b > c && c > d && d >= 1, `top ${top}: ${[a, b, c, d]}`);
  }
});
