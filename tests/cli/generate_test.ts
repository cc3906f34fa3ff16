/** `deno task generate` end to end on a fixture model: streamed text on stdout, one stats line on stderr. */

import assert from "node:assert/strict";
import { runScript, type ScriptOutput } from "./run_script.ts";

const GENERATE = new URL("../../src/cli/generate.ts", import.meta.url).pathname;
const FIXTURE = new URL("../fixtures/models/llama-llama3rope", import.meta.url).pathname;

function generate(...args: string[]): Promise<ScriptOutput> {
  return runScript(GENERATE, args);
}

Deno.test("generate streams the greedy continuation and ends with a stats line", async () => {
  const expected = JSON.parse(await Deno.readTextFile(`${FIXTURE}/expected.json`)).generation;
  const result = await generate(
    "--model",
    FIXTURE,
    "--prompt",
    expected.prompt_text,
    "--max-new-tokens",
    String(expected.max_new_tokens),
    "--device",
    "cpu",
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, expected.greedy_text + "\n");
  assert.match(
    result.stderr.trim(),
    /^\[cpu\] prompt 14 tokens, prefill [\d.]+ ms, 8 new tokens at [\d.]+ tokens\/s, KV [\d.]+ KiB \(full cache [\d.]+ KiB\)$/,
  );
});

Deno.test("generate renders the chat template and explains bad command lines", async () => {
  const chat = await generate(
    "--model",
    FIXTURE,
    "--prompt",
    "Hi",
    "--chat",
    "--max-new-tokens",
    "2",
    "--device",
    "cpu",
  );
  assert.equal(chat.code, 0, chat.stderr);
  assert.match(chat.stderr, /prompt \d+ tokens/);
  const cases: [string[], number, RegExp][] = [
    [["--prompt", "x"], 2, /--model DIR is required/],
    [["--model", FIXTURE], 2, /exactly one of --prompt and --prompt-file/],
    [["--model", FIXTURE, "--prompt", "x", "--temperature", "hot"], 2, /--temperature needs a number/],
    [["--model", "/nonexistent", "--prompt", "x"], 1, /--model \/nonexistent: no such model folder/],
  ];
  for (const [args, code, message] of cases) {
    const result = await generate(...args);
    assert.equal(result.code, code, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
  }
});
