/** generation_config.json: stop ids and sampling defaults, each bad field named, an absent file is null. */

import assert from "node:assert/strict";
import { STATUS } from "../../src/backend/errors.ts";
import { loadGenerationConfig, parseGenerationConfig } from "../../src/model/generation_config.ts";
import { withFolder } from "./files.ts";

Deno.test("generation_config.json values are read, absent ones are null", () => {
  assert.deepEqual(
    parseGenerationConfig({
      bos_token_id: 128000,
      eos_token_id: [128001, 128008, 128009],
      do_sample: true,
      temperature: 0.6,
      top_p: 0.9,
      transformers_version: "4.45.0",
    }),
    {
      bosTokenId: 128000,
      eosTokenIds: [128001, 128008, 128009],
      padTokenId: null,
      doSample: true,
      temperature: 0.6,
      topK: null,
      topP: 0.9,
      maxNewTokens: null,
      maxLength: null,
    },
  );
  const single = parseGenerationConfig({ eos_token_id: 2, pad_token_id: null, top_k: 0, max_new_tokens: 64 });
  assert.deepEqual([single.eosTokenIds, single.padTokenId, single.topK, single.maxNewTokens], [
    [2],
    null,
    0,
    64,
  ]);
  assert.deepEqual(parseGenerationConfig({}).eosTokenIds, []);
});

Deno.test("bad generation_config.json fields are named", () => {
  const cases: [unknown, RegExp][] = [
    [
      { eos_token_id: "2" },
      /generation_config\.json: field `eos_token_id`: expected a token id, .*, got "2"/,
    ],
    [{ top_p: 1.5 }, /field `top_p`: expected a number in \(0, 1\], got 1\.5/],
    [{ temperature: -1 }, /field `temperature`: expected a number >= 0, got -1/],
    [{ top_k: 2.5 }, /field `top_k`: expected an integer >= 0, got 2\.5/],
    [{ max_new_tokens: 0 }, /field `max_new_tokens`: expected a positive integer, got 0/],
    [{ do_sample: "no" }, /field `do_sample`: expected true or false/],
    [[1], /generation_config\.json: expected a JSON object/],
  ];
  for (const [raw, message] of cases) {
    assert.throws(() => parseGenerationConfig(raw), { name: "LukvError", code: STATUS.FORMAT, message });
  }
});

Deno.test("loadGenerationConfig: null without the file, a named error for a broken one", async () => {
  await withFolder({}, async (dir) => assert.equal(await loadGenerationConfig(dir), null));
  await withFolder({ "generation_config.json": '{"eos_token_id": 7}' }, async (dir) => {
    assert.deepEqual((await loadGenerationConfig(dir))?.eosTokenIds, [7]);
  });
  await withFolder({ "generation_config.json": "{" }, async (dir) => {
    await assert.rejects(loadGenerationConfig(dir), {
      code: STATUS.FORMAT,
      message: /generation_config\.json is not valid JSON/,
    });
  });
});
