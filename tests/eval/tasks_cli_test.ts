/** `deno task tasks` end to end on the fixture tokenizer: JSONL on stdout, nothing else; clear errors. */

import assert from "node:assert/strict";
import { generateSamples } from "../../src/eval/tasks/mod.ts";
import { FIXTURE_MODEL, tokenizer } from "./helpers.ts";

const TASKS_CLI = new URL("../../src/cli/tasks.ts", import.meta.url).pathname;

async function tasks(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", TASKS_CLI, ...args],
  }).output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

Deno.test("tasks writes exactly C JSONL samples, the API's, and nothing else", async () => {
  for (const [task, split] of [["variable-tracking", "calib"], ["frequent-words", "eval"]] as const) {
    const args = ["--task", task, "--length", "600", "--count", "7", "--seed", "3", "--split", split];
    const result = await tasks(...args, "--model", FIXTURE_MODEL);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, "");
    assert.ok(result.stdout.endsWith("\n"));
    const lines = result.stdout.slice(0, -1).split("\n");
    assert.equal(lines.length, 7);
    const samples = lines.map((line) => JSON.parse(line));
    assert.deepEqual(
      samples,
      await generateSamples(task, { length: 600, count: 7, seed: 3, split, tokenizer }),
    );
    for (const sample of samples) {
      assert.deepEqual(Object.keys(sample), [
        "task",
        "context",
        "question",
        "answerPrefix",
        "answers",
        "target",
        "tokens",
      ]);
    }
  }
  const defaultSplit = await tasks(
    "--task",
    "needle",
    "--length",
    "300",
    "--count",
    "1",
    "--seed",
    "0",
    "--model",
    FIXTURE_MODEL,
  );
  assert.deepEqual(
    JSON.parse(defaultSplit.stdout),
    (await generateSamples("needle", { length: 300, count: 1, seed: 0, split: "eval", tokenizer }))[0],
    "the default split is eval",
  );
});

Deno.test("tasks explains bad command lines on stderr, with nothing on stdout", async () => {
  const ok = ["--task", "needle", "--length", "512", "--count", "2", "--seed", "0", "--model", FIXTURE_MODEL];
  const without = (flag: string) => ok.filter((_, i) => ok[i] !== flag && ok[i - 1] !== flag);
  const cases: [string[], number, RegExp][] = [
    [
      [...without("--task"), "--task", "haystack"],
      2,
      /--task needs one of needle, multikey, .*, got haystack/,
    ],
    [without("--task"), 2, /--task needs one of .*, got nothing/],
    [[...without("--count"), "--count", "0"], 2, /--count needs an integer >= 1, got 0/],
    [[...without("--length"), "--length", "ten"], 2, /--length needs an integer >= 1, got ten/],
    [without("--seed"), 2, /--seed needs an integer >= 0, got nothing/],
    [[...without("--length"), "--length", "20"], 2, /needle: length 20 is too small: .* take \d+ tokens/],
    [[...ok, "--split", "test"], 2, /--split needs one of train, calib, eval, got test/],
    [[...ok, "--bogus", "1"], 2, /bogus/],
    [
      [...without("--model"), "--model", "/nonexistent/model"],
      1,
      /tokenizer.json is missing from \/nonexistent\/model/,
    ],
  ];
  for (const [args, code, message] of cases) {
    const result = await tasks(...args);
    assert.equal(result.code, code, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.equal(result.stdout, "", args.join(" "));
    if (code === 2) assert.match(result.stderr, /usage: deno task tasks/);
  }
});
