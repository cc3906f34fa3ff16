/** Token ids out of range and runaway chat templates are LukvErrors, fast; real templates render as before. */

import assert from "node:assert/strict";
import { Template } from "@huggingface/jinja";
import { LukvError, STATUS } from "../../src/backend/errors.ts";
import { type ChatMessage, Tokenizer } from "../../src/model/tokenizer.ts";

const FIXTURES = new URL("../fixtures/models/", import.meta.url).pathname;
const LLAMA = FIXTURES + "llama-llama3rope/";
const tokenizerJson = JSON.parse(await Deno.readTextFile(LLAMA + "tokenizer.json"));
const tokenizerConfig = JSON.parse(await Deno.readTextFile(LLAMA + "tokenizer_config.json"));

/** Asserts that `fn` throws a LukvError with status `code` whose message matches every pattern, within a second. */
function throwsLukv(fn: () => unknown, code: number, ...patterns: RegExp[]) {
  const start = performance.now();
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof LukvError, `not a LukvError: ${error}`);
    assert.equal(error.code, code, error.message);
    for (const p of patterns) assert.match(error.message, p);
    return true;
  });
  // Generous: the point is "not a minute-long loop", not a timing benchmark.
  assert.ok(performance.now() - start < 5_000, "the refusal took seconds");
}

/** A tokenizer.json of the fixture with `edit` applied. */
// deno-lint-ignore no-explicit-any -- tokenizer.json is untyped JSON edited in place
function editedTokenizer(edit: (json: Record<string, any>) => void): unknown {
  const json = structuredClone(tokenizerJson);
  edit(json);
  return json;
}

function addedToken(id: number) {
  return {
    id,
    content: "<big>",
    special: true,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
  };
}

Deno.test("an added token id of 2^31 is refused before the tokenizer library walks it", () => {
  throwsLukv(
    () => new Tokenizer({ tokenizer: editedTokenizer((j) => j.added_tokens.push(addedToken(2 ** 31))) }),
    STATUS.FORMAT,
    /tokenizer\.json: field `added_tokens\[3\]\.id`: expected a token id \(an integer from 0 to 4194303\), got 2147483648/,
  );
});

Deno.test("an added token id of 2^32 is refused instead of encoding as id 0", () => {
  throwsLukv(
    () => new Tokenizer({ tokenizer: editedTokenizer((j) => j.added_tokens.push(addedToken(2 ** 32))) }),
    STATUS.FORMAT,
    /field `added_tokens\[3\]\.id`: expected a token id/,
  );
});

Deno.test("vocab, post-processor and tokenizer_config ids beyond the bound are refused, naming the token", () => {
  throwsLukv(
    () => new Tokenizer({ tokenizer: editedTokenizer((j) => j.model.vocab["hello"] = 2 ** 32) }),
    STATUS.FORMAT,
    /tokenizer\.json: field `model\.vocab\.hello`: expected a token id/,
  );
  throwsLukv(
    () =>
      new Tokenizer({
        tokenizer: editedTokenizer((j) =>
          j.post_processor.special_tokens["<|begin_of_text|>"].ids = [2 ** 32]
        ),
      }),
    STATUS.FORMAT,
    /field `post_processor\.special_tokens\.<\|begin_of_text\|>\.ids\[0\]`: expected a token id/,
  );
  throwsLukv(
    () =>
      new Tokenizer({
        tokenizer: tokenizerJson,
        config: { ...tokenizerConfig, added_tokens_decoder: { "4294967296": { content: "<x>" } } },
      }),
    STATUS.FORMAT,
    /tokenizer_config\.json: field `added_tokens_decoder\.4294967296`: expected a token id/,
  );
  // An id just under the bound is accepted and encodes to itself.
  const edge = new Tokenizer({
    tokenizer: editedTokenizer((j) => j.added_tokens.push(addedToken(2 ** 22 - 1))),
  });
  assert.deepEqual(Array.from(edge.encode("<big>", { addSpecialTokens: false })), [2 ** 22 - 1]);
});

function withTemplate(template: string): Tokenizer {
  return new Tokenizer({ tokenizer: tokenizerJson, config: { ...tokenizerConfig, chat_template: template } });
}

const MESSAGES: ChatMessage[] = [{ role: "user", content: "Hi!" }];

Deno.test("a chat template looping 10^8 times stops fast with a LukvError", () => {
  throwsLukv(
    () => withTemplate("{% for i in range(100000000) %}x{% endfor %}").applyChatTemplate(MESSAGES),
    STATUS.INVALID_ARGUMENT,
    /tokenizer_config\.json: field `chat_template`: the chat template asked for range\(\) of 100000000 items/,
  );
  throwsLukv(
    () =>
      withTemplate("{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}")
        .applyChatTemplate(MESSAGES),
    STATUS.INVALID_ARGUMENT,
    /the chat template (evaluated more than \d+ steps|produced a value longer than \d+)/,
  );
  // Empty loop bodies evaluate no node: the iterations themselves are counted (fuzz input #260, seed 1).
  throwsLukv(
    () =>
      withTemplate("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
        .applyChatTemplate(MESSAGES),
    STATUS.INVALID_ARGUMENT,
    /the chat template evaluated more than \d+ steps/,
  );
  throwsLukv(
    () =>
      withTemplate(
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
      ).applyChatTemplate(MESSAGES),
    STATUS.INVALID_ARGUMENT,
    /produced a value longer than/,
  );
});

Deno.test("the fixtures' chat templates render exactly as @huggingface/jinja renders them unbounded", async () => {
  const conversation: ChatMessage[] = [
    { role: "system", content: "You are terse." },
    { role: "user", content: "Hello there" },
    { role: "assistant", content: "Hi." },
    { role: "user", content: "What is 2 + 2?" },
  ];
  let rendered = 0;
  for await (const entry of Deno.readDir(FIXTURES)) {
    const dir = `${FIXTURES}${entry.name}/`;
    const tokenizer = await Tokenizer.load(dir);
    if (tokenizer.chatTemplate === null) continue;
    const variables = {
      bos_token: tokenizer.bosToken,
      eos_token: tokenizer.eosToken,
      ...Object.fromEntries(
        ["unk_token", "pad_token"].map((k) => [k, (tokenizerConfigOf(dir) as Record<string, unknown>)[k]]),
      ),
    };
    for (const addGenerationPrompt of [true, false]) {
      for (const messages of [conversation, conversation.slice(1, 2)]) {
        let expected: string | Error;
        try {
          expected = new Template(tokenizer.chatTemplate).render({
            ...Object.fromEntries(Object.entries(variables).filter(([, v]) => typeof v === "string")),
            messages,
            add_generation_prompt: addGenerationPrompt,
          });
        } catch (error) {
          expected = error as Error;
        }
        if (expected instanceof Error) {
          assert.throws(() => tokenizer.applyChatTemplate(messages, { addGenerationPrompt }), LukvError);
        } else {
          assert.equal(tokenizer.applyChatTemplate(messages, { addGenerationPrompt }), expected, entry.name);
          rendered++;
        }
      }
    }
  }
  assert.ok(rendered > 0, "no fixture has a chat template");
});

const configCache = new Map<string, unknown>();
function tokenizerConfigOf(dir: string): unknown {
  if (!configCache.has(dir)) {
    configCache.set(dir, JSON.parse(Deno.readTextFileSync(dir + "tokenizer_config.json")));
  }
  return configCache.get(dir);
}

Deno.test("a malformed post-processor template is a FORMAT error at load, not a raw error at encode (fuzz seed 1)", () => {
  const edits: [string, (j: Record<string, unknown[] & Record<string, unknown>>) => void][] = [
    ["post_processor.single", (j) => (j.post_processor as Record<string, unknown>).single = 2 ** 53],
    ["post_processor.single[1]", (j) => (j.post_processor as Record<string, unknown[]>).single[1] = null],
    ["post_processor.single", (j) => delete (j.post_processor as Record<string, unknown>).single],
    [
      "post_processor.single[0]",
      (j) => (j.post_processor as Record<string, Record<string, unknown>[]>).single[0] = { Sequence: null },
    ],
  ];
  for (const [field, edit] of edits) {
    throwsLukv(
      () => new Tokenizer({ tokenizer: editedTokenizer(edit) }),
      STATUS.FORMAT,
      new RegExp(field.replace(/[.[\]]/g, "\\$&")),
    );
  }
});

Deno.test("a deeply nested value in a bad field is named without overflowing the stack (fuzz seed 1, #578)", () => {
  let deep: unknown = 1;
  for (let i = 0; i < 10_000; i++) deep = [deep];
  throwsLukv(
    () => new Tokenizer({ tokenizer: editedTokenizer((j) => j.model.vocab["<unk>"] = deep) }),
    STATUS.FORMAT,
    /field `model\.vocab/,
  );
});
