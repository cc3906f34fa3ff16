/** The forward pass against the independent PyTorch reference: logits of every fixture within 1e-4, same greedy ids. */

import assert from "node:assert/strict";
import { readNpy } from "../../src/lukv/npy.ts";
import { loadModel } from "../../src/pipeline/model.ts";
import { deviceTest } from "../backend/devices.ts";
import { relativeError } from "../backend/reference.ts";

const FIXTURES = new URL("../fixtures/models/", import.meta.url).pathname;
const NAMES = ["llama-llama3rope", "llama-linear-tied", "mistral-bf16", "qwen2-bias", "qwen3-qknorm"];

interface Expected {
  vocab_size: number;
  logits_file: string;
  sequences: { text: string; ids: number[]; logits_rows: [number, number] }[];
  generation: { prompt_ids: number[]; max_new_tokens: number; greedy_ids: number[] };
}

for (const name of NAMES) {
  const dir = FIXTURES + name;
  const expected: Expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`));
  const reference = readNpy(await Deno.readFile(`${dir}/${expected.logits_file}`)).data;

  deviceTest(`${name}: logits of every position match the reference within 1e-4`, async (device) => {
    using model = await loadModel(dir, { device });
    for (const { text, ids, logits_rows: [start, end] } of expected.sequences) {
      assert.deepEqual([...model.encode(text)], ids, `encode(${JSON.stringify(text)})`);
      const logits = await model.logits(Int32Array.from(ids));
      const want = reference.subarray(start * expected.vocab_size, end * expected.vocab_size);
      const error = relativeError(logits, want);
      assert.ok(error <= 1e-4, `${name} "${text}": max relative error ${error.toExponential(2)}`);
    }
  });

  deviceTest(`${name}: greedy generation gives the reference's token ids`, async (device) => {
    using model = await loadModel(dir, { device });
    const { prompt_ids, max_new_tokens, greedy_ids } = expected.generation;
    const run = model.generate(Int32Array.from(prompt_ids), {
      maxNewTokens: max_new_tokens,
      stopAtEos: false,
    });
    let text = "";
    for await (const piece of run) text += piece;
    assert.deepEqual(run.tokens, greedy_ids);
    assert.equal(text, model.decode(greedy_ids));
    const stats = await run.stats();
    assert.equal(stats.promptTokens, prompt_ids.length);
    assert.equal(stats.newTokens, max_new_tokens);
    assert.ok(
      stats.kvBytes >=
        stats.kvBytesFull - 2 * model.config.layers * model.config.kvHeads * model.config.headDim * 4,
    );
  });
}
