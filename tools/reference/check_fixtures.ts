/** Checks the reference fixtures against the JS tokenizer and template engine the runtime uses. */

import assert from "node:assert/strict";
import { Tokenizer } from "@huggingface/tokenizers";
import { Template } from "@huggingface/jinja";

const MODELS_DIR = new URL("../../tests/fixtures/models/", import.meta.url);

interface Expected {
  vocab_size: number;
  logits_file: string;
  sequences: { text: string; ids: number[]; logits_rows: [number, number] }[];
  tokenizer_cases: { text: string; ids: number[] }[];
  generation: { prompt_text: string; prompt_ids: number[]; greedy_ids: number[]; greedy_text: string };
  chat?: {
    messages: { role: string; content: string }[];
    add_generation_prompt: boolean;
    rendered: string;
    ids: number[];
  };
}

async function readJson<T>(url: URL): Promise<T> {
  return JSON.parse(await Deno.readTextFile(url)) as T;
}

/** The shape in an .npy header, and that the data is little-endian float32 in C order. */
function npyShape(bytes: Uint8Array): number[] {
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true);
  const header = new TextDecoder("latin1").decode(bytes.subarray(10, 10 + headerLength));
  assert.match(header, /'descr': '<f4', 'fortran_order': False/);
  const shape = header.match(/'shape': \(([^)]*)\)/)![1].split(",").filter((s) => s.trim()).map(Number);
  assert.equal(bytes.length - 10 - headerLength, shape.reduce((a, b) => a * b, 1) * 4);
  return shape;
}

async function checkFixture(name: string): Promise<void> {
  const dir = new URL(`${name}/`, MODELS_DIR);
  const config = await readJson<{ vocab_size: number; bos_token_id: number }>(new URL("config.json", dir));
  const tokenizerConfig = await readJson<Record<string, unknown>>(new URL("tokenizer_config.json", dir));
  const tokenizer = new Tokenizer(await readJson(new URL("tokenizer.json", dir)), tokenizerConfig);
  const expected = await readJson<Expected>(new URL("expected.json", dir));

  assert.equal(tokenizer.get_vocab().size, config.vocab_size, "tokenizer size == config vocab_size");
  assert.equal(expected.vocab_size, config.vocab_size);
  for (const { text, ids } of expected.tokenizer_cases) {
    assert.deepEqual(tokenizer.encode(text).ids, ids, `encode(${JSON.stringify(text)})`);
    assert.equal(ids[0], config.bos_token_id, "the post-processor prepends BOS");
    assert.equal(tokenizer.decode(ids, { skip_special_tokens: true }), text);
  }

  const shape = npyShape(await Deno.readFile(new URL(expected.logits_file, dir)));
  let rows = 0;
  for (const { text, ids, logits_rows } of expected.sequences) {
    assert.deepEqual(tokenizer.encode(text).ids, ids, `encode(${JSON.stringify(text)})`);
    assert.equal(tokenizer.decode(ids, { skip_special_tokens: true }), text);
    assert.deepEqual(logits_rows, [rows, rows + ids.length]);
    rows += ids.length;
  }
  assert.deepEqual(shape, [rows, config.vocab_size]);

  const { prompt_text, prompt_ids, greedy_ids, greedy_text } = expected.generation;
  assert.deepEqual(tokenizer.encode(prompt_text).ids, prompt_ids);
  assert.ok(greedy_ids.every((id) => id >= 0 && id < config.vocab_size));
  assert.equal(tokenizer.decode(greedy_ids), greedy_text);

  const template = tokenizerConfig.chat_template;
  assert.equal(template !== undefined, expected.chat !== undefined, "chat expectations iff a template");
  if (expected.chat !== undefined) {
    const rendered = new Template(template as string).render({
      messages: expected.chat.messages,
      add_generation_prompt: expected.chat.add_generation_prompt,
      bos_token: tokenizerConfig.bos_token,
      eos_token: tokenizerConfig.eos_token,
    });
    assert.equal(rendered, expected.chat.rendered);
    // The template writes BOS itself, so the rendered text is encoded without special tokens.
    assert.deepEqual(tokenizer.encode(rendered, { add_special_tokens: false }).ids, expected.chat.ids);
  }
}

const names = [...Deno.readDirSync(MODELS_DIR)].filter((e) => e.isDirectory).map((e) => e.name).sort();
assert.ok(names.length > 0, "no fixtures found");
for (const name of names) {
  await checkFixture(name);
  console.log(`${name}: ok`);
}
