/** Task generators: determinism per (seed, split, index), requested lengths, and answers correct by construction. */

import assert from "node:assert/strict";
import {
  generateSample,
  generateSamples,
  scoreAnswer,
  TASK_NAMES,
  type TaskName,
  type TaskSample,
} from "../../src/eval/tasks/mod.ts";
import { loadFiller } from "../../src/eval/tasks/filler.ts";
import {
  COMMON_WORDS_HEADER,
  FREQUENT_WORDS_HEADER,
  needleSentence,
} from "../../src/eval/tasks/templates.ts";
import { needles, tokenizer, wordCounts } from "./helpers.ts";

/** Most tokens a prompt may fall short of N: one short filler sentence (40+ characters, byte-level) or one list word. */
const FILLER_MARGIN = 48;
const LIST_MARGIN = 8;
const LIST_TASKS: readonly TaskName[] = ["common-words", "frequent-words"];

function prompt(sample: TaskSample): string {
  return sample.context + sample.question + sample.answerPrefix;
}

Deno.test("every task is deterministic per (seed, index, split) and differs when any of them changes", async () => {
  for (const task of TASK_NAMES) {
    const options = { length: 512, seed: 11, index: 2, split: "eval" as const, tokenizer };
    const sample = await generateSample(task, options);
    assert.equal(sample.task, task);
    assert.deepEqual(await generateSample(task, options), sample, `${task}: same arguments, same sample`);
    for (
      const change of [{ seed: 12 }, { index: 3 }, { split: "calib" as const }, { split: "train" as const }]
    ) {
      const other = await generateSample(task, { ...options, ...change });
      assert.notEqual(
        other.context,
        sample.context,
        `${task}: ${JSON.stringify(change)} changes the context`,
      );
    }
    const batch = await generateSamples(task, { length: 512, count: 3, seed: 11, split: "eval", tokenizer });
    assert.deepEqual(batch[2], sample, `${task}: generateSamples' sample i is generateSample's index i`);
  }
});

Deno.test("every prompt fits the requested length, comes close to it, and `tokens` is a fresh encode", async () => {
  for (const task of TASK_NAMES) {
    const margin = LIST_TASKS.includes(task) ? LIST_MARGIN : FILLER_MARGIN;
    for (const length of [300, 1024, 3000]) {
      for (const sample of await generateSamples(task, { length, count: 6, seed: length, tokenizer })) {
        const where = `${task} at ${length}`;
        assert.equal(sample.tokens, tokenizer.encode(prompt(sample)).length, where);
        assert.ok(sample.tokens <= length, `${where}: ${sample.tokens} tokens`);
        assert.ok(sample.tokens >= length - margin, `${where}: only ${sample.tokens} tokens`);
      }
    }
  }
});

Deno.test("prompts fit even when whole prompts take more tokens than the sum of their pieces", async () => {
  // The fixture, plus one token per 200 characters of the whole text: pieces undercount whole prompts.
  const unevenTokenizer = {
    encode: (text: string, options: { addSpecialTokens?: boolean } = {}) => [
      ...tokenizer.encode(text, options),
      ...new Array(Math.floor(text.length / 200)).fill(0),
    ],
  };
  for (const task of TASK_NAMES) {
    const margin = LIST_TASKS.includes(task) ? LIST_MARGIN : FILLER_MARGIN;
    const sample = await generateSample(task, { length: 2000, seed: 5, tokenizer: unevenTokenizer });
    assert.equal(sample.tokens, unevenTokenizer.encode(prompt(sample)).length);
    assert.ok(sample.tokens <= 2000 && sample.tokens >= 2000 - margin, `${task}: ${sample.tokens}`);
  }
});

Deno.test("every answer is in the context, and the target scores as correct", async () => {
  for (const task of TASK_NAMES) {
    for (const sample of await generateSamples(task, { length: 700, count: 10, seed: 1, tokenizer })) {
      assert.ok(sample.answers.length > 0);
      for (const answer of sample.answers) assert.ok(sample.context.includes(answer), `${task}: ${answer}`);
      assert.equal(sample.target, ` ${sample.answers.join(", ")}.`);
      assert.ok(scoreAnswer(sample, sample.target));
      assert.ok(sample.question.startsWith("\n") && sample.answerPrefix.startsWith(" "));
    }
  }
});

Deno.test("needles are whole sentences between whole filler sentences, spread over the context", async () => {
  // Each needle follows another needle or the end of a filler sentence (paragraphs may end without a stop).
  const sentenceEnds = (await loadFiller("eval")).units.map((unit) => unit.slice(-30));
  const depths: number[] = [];
  for (const task of ["needle", "multikey", "multivalue", "multiquery", "variable-tracking"] as const) {
    for (const sample of await generateSamples(task, { length: 1024, count: 20, seed: 4, tokenizer })) {
      const found = task === "variable-tracking"
        ? [...sample.context.matchAll(/VAR [A-Z]{3} = (?:\d{6}|[A-Z]{3})\./g)].map((m) => ({
          at: m.index,
          text: m[0],
        }))
        : needles(sample.context).map((n) => ({ at: n.at, text: needleSentence(n.key, n.value) }));
      assert.equal(found.length, { "needle": 1, "variable-tracking": 10 }[task as string] ?? 4, task);
      for (const [i, { at, text }] of found.entries()) {
        const after = sample.context.slice(at + text.length, at + text.length + 1);
        assert.ok(after === "" || after === " " || after === "\n", `${task}: ${JSON.stringify(after)} after`);
        if (at === 0 || (i > 0 && found[i - 1].at + found[i - 1].text.length + 1 === at)) continue;
        assert.equal(sample.context[at - 1], " ");
        const before = sample.context.slice(Math.max(0, at - 31), at - 1);
        assert.ok(
          sentenceEnds.some((end) => end.endsWith(before)),
          `${task}: ${JSON.stringify(before)} before a needle`,
        );
      }
      if (task === "needle") depths.push(found[0].at / sample.context.length);
    }
  }
  assert.ok(Math.min(...depths) < 0.2 && Math.max(...depths) > 0.8, `single-needle depths ${depths}`);
});

Deno.test("needle and multikey: the asked key's needle holds the answer; multikey has 3 distractor keys", async () => {
  for (const task of ["needle", "multikey"] as const) {
    for (const sample of await generateSamples(task, { length: 600, count: 15, seed: 2, tokenizer })) {
      const key = sample.question.match(/^\nWhat is the special magic number for ([a-z]+)\?$/)![1];
      assert.equal(sample.answerPrefix, ` The special magic number for ${key} is`);
      const found = needles(sample.context);
      assert.equal(new Set(found.map((n) => n.key)).size, found.length, "distinct keys");
      assert.equal(new Set(found.map((n) => n.value)).size, found.length, "distinct values");
      assert.deepEqual(found.filter((n) => n.key === key).map((n) => n.value), sample.answers);
      assert.equal(found.length, task === "needle" ? 1 : 4);
    }
  }
});

Deno.test("multivalue: one key, its values in context order; multiquery: every asked key's value in asked order", async () => {
  for (const sample of await generateSamples("multivalue", { length: 600, count: 15, seed: 3, tokenizer })) {
    const key = sample.question.match(/^\nWhat are the special magic numbers for ([a-z]+)\?$/)![1];
    assert.equal(sample.answerPrefix, ` The special magic numbers for ${key} are`);
    const found = needles(sample.context);
    assert.ok(found.every((n) => n.key === key));
    assert.deepEqual(found.map((n) => n.value), sample.answers);
    assert.equal(new Set(sample.answers).size, 4);
  }
  for (const sample of await generateSamples("multiquery", { length: 600, count: 15, seed: 3, tokenizer })) {
    const asked = sample.question.match(/^\nWhat are the special magic numbers for ([a-z, ]+)\?$/)![1].split(
      ", ",
    );
    assert.equal(sample.answerPrefix, ` The special magic numbers for ${asked.join(", ")} are`);
    const byKey = new Map(needles(sample.context).map((n) => [n.key, n.value]));
    assert.equal(byKey.size, 4);
    assert.deepEqual(asked.map((key) => byKey.get(key)), sample.answers);
  }
});

Deno.test("variable-tracking: the answers are exactly the variables that resolve to the asked value", async () => {
  for (
    const sample of await generateSamples("variable-tracking", { length: 700, count: 20, seed: 6, tokenizer })
  ) {
    const value = sample.question.match(/^\nWhich variables hold the value (\d{6})\?$/)![1];
    assert.equal(sample.answerPrefix, ` The variables that hold the value ${value} are`);
    const resolved = new Map<string, string>();
    const order: string[] = [];
    for (const [, name, source] of sample.context.matchAll(/VAR ([A-Z]{3}) = (\d{6}|[A-Z]{3})\./g)) {
      assert.ok(!resolved.has(name), `${name} is assigned once`);
      const resolvedSource = /^\d+$/.test(source) ? source : resolved.get(source);
      assert.ok(resolvedSource !== undefined, `${source} is assigned before ${name} uses it`);
      resolved.set(name, resolvedSource);
      order.push(name);
    }
    assert.equal(resolved.size, 10);
    const holding = order.filter((name) => resolved.get(name) === value);
    assert.deepEqual(sample.answers, holding, "every variable holding the value, in assignment order");
    assert.equal(holding.length, 5);
  }
});

Deno.test("common-words and frequent-words: the answers are the top counts, strictly above every other word", async () => {
  const cases = [
    { task: "common-words", header: COMMON_WORDS_HEADER, separator: ", ", top: 5 },
    { task: "frequent-words", header: FREQUENT_WORDS_HEADER, separator: " ", top: 3 },
  ] as const;
  for (const { task, header, separator, top } of cases) {
    for (const length of [260, 2000]) {
      for (const sample of await generateSamples(task, { length, count: 10, seed: 8, tokenizer })) {
        assert.ok(sample.context.startsWith(header) && sample.context.endsWith("."));
        const counts = wordCounts(sample.context.slice(header.length, -1).split(separator));
        assert.ok([...counts.keys()].every((w) => /^[a-z]+$/.test(w)), `${task}: a list of plain words`);
        assert.equal(sample.answers.length, top);
        const answerCounts = sample.answers.map((w) => counts.get(w)!);
        const others = [...counts].filter(([w]) => !sample.answers.includes(w)).map(([, n]) => n);
        assert.ok(
          Math.min(...answerCounts) > Math.max(...others),
          `${task} at ${length}: answers ${answerCounts}, others up to ${Math.max(...others)}`,
        );
        if (task === "common-words") {
          assert.equal(new Set(answerCounts).size, 1, "the common words occur equally often");
          const firsts = sample.answers.map((w) => sample.context.indexOf(w));
          assert.deepEqual(firsts, [...firsts].sort((a, b) => a - b), "in order of first appearance");
        } else {
          assert.ok(
            answerCounts[0] > answerCounts[1] && answerCounts[1] > answerCounts[2],
            `${answerCounts}`,
          );
        }
        assert.match(
          sample.question,
          new RegExp(`^\\nWhat are the ${top} most (common|frequent coded) words in the`),
        );
      }
    }
  }
});

Deno.test("bad arguments are RangeErrors that say what is wrong", async () => {
  const ok = { length: 512, seed: 0, tokenizer };
  const cases: [() => Promise<unknown>, RegExp][] = [
    [
      () => generateSample("haystack" as TaskName, ok),
      /unknown task "haystack"; the tasks are needle, multikey/,
    ],
    [
      () => generateSample("needle", { ...ok, length: 20 }),
      /needle: length 20 is too small: .* take \d+ tokens/,
    ],
    [
      () => generateSample("multiquery", { ...ok, length: 60 }),
      /multiquery: length 60 is too small.*4 needles/,
    ],
    [() => generateSample("common-words", { ...ok, length: 60 }), /common-words: length 60 is too small/],
    [() => generateSample("frequent-words", { ...ok, length: 60 }), /frequent-words: length 60 is too small/],
    [() => generateSample("needle", { ...ok, length: 0 }), /length must be an integer >= 1, got 0/],
    [() => generateSample("needle", { ...ok, seed: -1 }), /seed must be an integer >= 0, got -1/],
    [() => generateSample("needle", { ...ok, seed: 1.5 }), /seed must be an integer >= 0, got 1.5/],
    [
      () => generateSample("needle", { ...ok, split: "test" as "eval" }),
      /split must be one of train, calib, eval/,
    ],
    [() => generateSamples("needle", { ...ok, count: 0 }), /count must be an integer >= 1, got 0/],
  ];
  for (const [call, message] of cases) {
    await assert.rejects(call, (e: Error) => e instanceof RangeError && message.test(e.message));
  }
});

Deno.test("scoreAnswer needs every answer as a whole word", () => {
  const sample = { answers: ["482913", "QXZ"] };
  assert.ok(scoreAnswer(sample, " QXZ, 482913."));
  assert.ok(!scoreAnswer(sample, " 482913."), "one answer missing");
  assert.ok(!scoreAnswer(sample, " 4829130, QXZ."), "inside a longer number");
  assert.ok(!scoreAnswer(sample, " 482913, QXZA."), "inside a longer word");
  assert.ok(scoreAnswer(sample, "QXZA QXZ 482913"), "a later whole-word occurrence counts");
  assert.ok(!scoreAnswer({ answers: ["lamp"] }, " Lamp."), "case-sensitive");
});
