/** Tokenizer: a tiny byte-level BPE built here; encode/decode, streaming across split UTF-8, chat templates, bad files. */

import assert from "node:assert/strict";
import { LukvError, STATUS } from "../../src/backend/errors.ts";
import { StreamingDetokenizer, Tokenizer } from "../../src/model/tokenizer.ts";
import { withFolder } from "./files.ts";

/** GPT-2's byte-to-character table: printable Latin-1 bytes stand for themselves, the rest shift past 255. */
function byteCharacters(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let shifted = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCharCode(printable(b) ? b : 256 + shifted++));
}

const BYTE = byteCharacters();
const MERGES: [string, string][] = [["h", "e"], ["l", "l"], ["he", "ll"], ["hell", "o"], [BYTE[32], "w"]];
const BOS = 261, EOS = 262, EOT = 263;

/** A byte-level BPE tokenizer.json (the Llama 3 / Qwen layout): 256 byte tokens, 5 merges, 3 special tokens. */
function tinyTokenizerJson() {
  const vocab: Record<string, number> = {};
  BYTE.forEach((c, b) => vocab[c] = b);
  MERGES.forEach(([a, b], i) => vocab[a + b] = 256 + i);
  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(BOS, "<s>"), special(EOS, "</s>"), special(EOT, "<|eot|>")],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      special_tokens: { "<s>": { id: "<s>", ids: [BOS], tokens: ["<s>"] } },
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: MERGES,
    },
  };
}

const TEMPLATE = "{{ bos_token }}{% for m in messages %}" +
  "{% if m.role == 'system' and not loop.first %}{{ raise_exception('system must come first') }}{% endif %}" +
  "<|{{ m.role }}|>{{ m.content }}<|eot|>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";

function tinyConfig(extra: Record<string, unknown> = {}) {
  return {
    bos_token: "<s>",
    eos_token: { content: "</s>", special: true },
    chat_template: TEMPLATE,
    ...extra,
  };
}

const tokenizer = new Tokenizer({ tokenizer: tinyTokenizerJson(), config: tinyConfig() });

/** Asserts a FORMAT LukvError matching every pattern. */
function refusesFormat(fn: () => unknown, ...patterns: RegExp[]) {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof LukvError, `not a LukvError: ${error}`);
    assert.equal(error.code, STATUS.FORMAT, error.message);
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("encode adds BOS through the post-processor unless asked not to; decode inverts it", () => {
  const ids = tokenizer.encode("hello world");
  assert.ok(ids instanceof Int32Array);
  assert.deepEqual([...ids], [BOS, 259, 260, ..."orld".split("").map((c) => c.charCodeAt(0))]);
  assert.deepEqual([...tokenizer.encode("hello", { addSpecialTokens: false })], [259]);
  assert.equal(tokenizer.decode(ids), "<s>hello world");
  assert.equal(tokenizer.decode(ids, { skipSpecialTokens: true }), "hello world");
  assert.equal(tokenizer.decode(new Int32Array(ids)), "<s>hello world");

  const text = "héllo wörld 😀 </s>";
  const encoded = tokenizer.encode(text, { addSpecialTokens: false });
  assert.equal(encoded.at(-1), EOS, "special tokens in the text are matched whole");
  assert.equal(tokenizer.decode(encoded), text);
  assert.deepEqual([tokenizer.vocabSize, tokenizer.tokenToId("<|eot|>"), tokenizer.tokenToId("nope")], [
    264,
    EOT,
    undefined,
  ]);
  assert.deepEqual([tokenizer.bosToken, tokenizer.eosToken], ["<s>", "</s>"]);
});

Deno.test("decode skips unknown ids, refuses non-integers, and keeps spaces unless the config cleans them", () => {
  assert.equal(tokenizer.decode([]), "");
  assert.equal(tokenizer.decode([104, 99999, 105, 264]), "hi");
  assert.throws(() => tokenizer.decode([104, 1.5]), { name: "RangeError", message: /1\.5 at index 1/ });
  const spaceDot = tokenizer.encode("a .", { addSpecialTokens: false });
  assert.equal(tokenizer.decode(spaceDot), "a .");
  const cleaning = new Tokenizer({
    tokenizer: tinyTokenizerJson(),
    config: { clean_up_tokenization_spaces: true },
  });
  assert.equal(cleaning.decode(spaceDot), "a.");
});

Deno.test("streaming emits each piece once, holding back characters split across byte tokens", () => {
  const text = "hello é wörld 😀!";
  const ids = [...tokenizer.encode(text, { addSpecialTokens: false }), EOT];
  const stream = tokenizer.stream();
  const pieces = ids.map((id) => stream.push(id));
  pieces.push(stream.flush());
  assert.equal(pieces.join(""), tokenizer.decode(ids));
  assert.ok(!pieces.some((p) => p.includes("\uFFFD")), JSON.stringify(pieces));
  const e = ids.indexOf(0xc3); // "é" is 0xC3 0xA9, two byte tokens
  assert.deepEqual([pieces[e], pieces[e + 1]], ["", "é"]);
  const emoji = ids.indexOf(0xf0); // "😀" is four byte tokens
  assert.deepEqual(pieces.slice(emoji, emoji + 4), ["", "", "", "😀"]);
  assert.deepEqual(stream.ids, ids);

  const skipping = new StreamingDetokenizer(tokenizer, { skipSpecialTokens: true });
  const skipped = [BOS, 259, EOT].map((id) => skipping.push(id)).join("") + skipping.flush();
  assert.equal(skipped, "hello");

  const cut = tokenizer.stream();
  assert.equal(cut.push(0xe2) + cut.push(0x82), "", "two of the three bytes of €");
  assert.equal(cut.flush(), "\uFFFD", "flush gives up on an incomplete character");
  assert.equal(cut.flush(), "");
  assert.throws(() => cut.push(Number.NaN), RangeError);
});

Deno.test("streaming matches decode on a long random id sequence", () => {
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const ids = Array.from({ length: 400 }, () => Math.floor(random() * 264));
  const stream = tokenizer.stream();
  const text = ids.map((id) => stream.push(id)).join("") + stream.flush();
  assert.equal(text, tokenizer.decode(ids));
});

Deno.test("chat templates render messages with the special tokens and refuse what they refuse", () => {
  const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi!" }];
  assert.equal(
    tokenizer.applyChatTemplate(messages),
    "<s><|system|>Be brief.<|eot|><|user|>Hi!<|eot|><|assistant|>",
  );
  assert.equal(
    tokenizer.applyChatTemplate(messages.slice(1), { addGenerationPrompt: false }),
    "<s><|user|>Hi!<|eot|>",
  );
  const ids = tokenizer.encode(tokenizer.applyChatTemplate(messages.slice(1)), { addSpecialTokens: false });
  assert.equal(ids[0], BOS, "the template writes BOS itself");
  assert.equal(ids.filter((id) => id === BOS).length, 1);
  assert.equal(
    tokenizer.applyChatTemplate([], { variables: { bos_token: "[B]" }, addGenerationPrompt: false }),
    "[B]",
  );

  assert.throws(() => tokenizer.applyChatTemplate([...messages.slice(1), messages[0]]), (error: unknown) => {
    assert.ok(error instanceof LukvError);
    assert.equal(error.codeName, "INVALID_ARGUMENT");
    assert.match(error.message, /chat template refused the messages: system must come first/);
    return true;
  });
  assert.throws(() => tokenizer.applyChatTemplate([{ role: "user" }] as never), TypeError);

  const plain = new Tokenizer({ tokenizer: tinyTokenizerJson() });
  assert.equal(plain.chatTemplate, null);
  assert.throws(() => plain.applyChatTemplate(messages), { name: "LukvError", code: STATUS.UNSUPPORTED });

  const named = new Tokenizer({
    tokenizer: tinyTokenizerJson(),
    config: { chat_template: [{ name: "tool_use", template: "T" }, { name: "default", template: "D" }] },
  });
  assert.equal(named.applyChatTemplate(messages), "D");
});

Deno.test("Tokenizer.load reads the folder, preferring chat_template.jinja over the config's template", async () => {
  const files = {
    "tokenizer.json": JSON.stringify(tinyTokenizerJson()),
    "tokenizer_config.json": JSON.stringify(tinyConfig()),
    "chat_template.jinja": "{% for m in messages %}[{{ m.content }}]{% endfor %}{{ eos_token }}",
  };
  await withFolder(files, async (dir) => {
    const loaded = await Tokenizer.load(dir);
    assert.equal(loaded.applyChatTemplate([{ role: "user", content: "x" }]), "[x]</s>");
    assert.deepEqual([...loaded.encode("hello")], [BOS, 259]);
  });
  await withFolder({ "tokenizer.json": files["tokenizer.json"] }, async (dir) => {
    const loaded = await Tokenizer.load(dir);
    assert.equal(loaded.chatTemplate, null);
    assert.equal(loaded.bosToken, null);
  });
  await withFolder({ "tokenizer_config.json": files["tokenizer_config.json"] }, async (dir) => {
    await assert.rejects(Tokenizer.load(dir), {
      code: STATUS.FORMAT,
      message: /tokenizer\.json is missing from/,
    });
  });
  await withFolder({ "tokenizer.json": "{ model: " }, async (dir) => {
    await assert.rejects(Tokenizer.load(dir), {
      code: STATUS.FORMAT,
      message: /tokenizer\.json is not valid JSON/,
    });
  });
  await withFolder({ ...files, "chat_template.jinja": "{% for m in messages %}" }, async (dir) => {
    await assert.rejects(Tokenizer.load(dir), {
      code: STATUS.FORMAT,
      message: /chat_template\.jinja: the chat template cannot be parsed/,
    });
  });
});

Deno.test("malformed tokenizer files are FORMAT errors naming the file and field", () => {
  const json = tinyTokenizerJson();
  const build = (tokenizerJson: unknown, config?: unknown) => () =>
    new Tokenizer({ tokenizer: tokenizerJson, config });
  refusesFormat(build([]), /^tokenizer\.json: expected a JSON object, got \[\]$/);
  refusesFormat(
    build({ ...json, model: undefined }),
    /tokenizer\.json: field `model` is missing \(expected an object\)/,
  );
  refusesFormat(
    build({ ...json, model: { type: "WordLevel", vocab: { a: 0 } } }),
    /field `model\.type`: expected one of BPE, Unigram, WordPiece .*, got "WordLevel"/,
  );
  refusesFormat(
    build({ ...json, model: { ...json.model, vocab: "abc" } }),
    /field `model\.vocab`: expected a map/,
  );
  refusesFormat(
    build({ ...json, model: { ...json.model, vocab: { a: -1 } } }),
    /field `model\.vocab\.a`: expected a token id/,
  );
  refusesFormat(
    build({ ...json, model: { ...json.model, merges: undefined } }),
    /field `model\.merges` is missing \(a BPE model needs its merges\)/,
  );
  refusesFormat(
    build({ ...json, model: { ...json.model, merges: [3] } }),
    /field `model\.merges\[0\]`: expected a merge/,
  );
  refusesFormat(
    build({ ...json, added_tokens: [{ id: "x", content: "<s>" }] }),
    /field `added_tokens\[0\]\.id`: expected a token id \(an integer from 0 to 4194303\), got "x"/,
  );
  refusesFormat(
    build({ ...json, pre_tokenizer: { type: "Split", pattern: { Regex: "[" }, behavior: "Isolated" } }),
    /tokenizer\.json: @huggingface\/tokenizers cannot build it: /,
  );
  refusesFormat(
    build(json, { eos_token: 2 }),
    /tokenizer_config\.json: field `eos_token`: expected a token string/,
  );
  refusesFormat(
    build(json, { chat_template: 5 }),
    /tokenizer_config\.json: field `chat_template`: expected a template/,
  );
  refusesFormat(
    build(json, { chat_template: "{% if %}" }),
    /tokenizer_config\.json: field `chat_template`: the chat template cannot be parsed/,
  );
  refusesFormat(build(json, "config"), /tokenizer_config\.json: expected a JSON object, got "config"/);
});
