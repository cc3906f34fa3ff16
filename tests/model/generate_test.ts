/** Streaming generation on the llama3-rope fixture (CPU): seeds, limits, stop strings, EOS, early exit and stats. */

import assert from "node:assert/strict";
import { LukvError, STATUS } from "../../src/backend/errors.ts";
import type { Generation } from "../../src/pipeline/generate.ts";
import { loadModel, type Model } from "../../src/pipeline/model.ts";

const FIXTURE = new URL("../fixtures/models/llama-llama3rope/", import.meta.url).pathname;
const PROMPT = "Once upon a time";

function load(dir = FIXTURE): Promise<Model> {
  return loadModel(dir, { device: "cpu" });
}

/** Iterates a generation to the end; returns the concatenated pieces. */
async function collect(run: Generation): Promise<string> {
  let text = "";
  for await (const piece of run) text += piece;
  return text;
}

/** Bytes of one token's keys and values over every layer, in the fixture's f32 dense cache. */
function kvBytesPerToken(model: Model): number {
  const { layers, kvHeads, headDim } = model.config;
  return 2 * layers * kvHeads * headDim * 4;
}

Deno.test("seeded sampling is reproducible, and another seed gives other tokens", async () => {
  using model = await load();
  const prompt = model.encode(PROMPT);
  const sample = async (seed: number) => {
    const run = model.generate(prompt, {
      temperature: 0.8,
      topK: 20,
      seed,
      maxNewTokens: 24,
      stopAtEos: false,
    });
    await collect(run);
    return run.tokens;
  };
  const first = await sample(7);
  assert.equal(first.length, 24);
  assert.deepEqual(await sample(7), first);
  const others = await Promise.all([1, 2, 3, 4].map(sample));
  assert.ok(others.some((tokens) => tokens.join() !== first.join()), "every other seed gave the same tokens");
});

Deno.test("maxNewTokens is respected, and is capped by the context left", async () => {
  using model = await load();
  const prompt = model.encode(PROMPT);
  for (const maxNewTokens of [1, 7]) {
    const run = model.generate(prompt, { maxNewTokens, stopAtEos: false });
    await collect(run);
    assert.equal(run.tokens.length, maxNewTokens);
    assert.equal((await run.stats()).newTokens, maxNewTokens);
  }
  const max = model.config.maxPositionEmbeddings;
  const long = new Int32Array(max - 5).fill(97);
  const capped = model.generate(long, { maxNewTokens: 50, stopAtEos: false });
  const stats = await capped.stats();
  assert.equal(stats.newTokens, 5);
  assert.equal(stats.kvBytes, kvBytesPerToken(model) * (max - 1), "the last token's K/V is never needed");
  // No maxNewTokens and no max_new_tokens in generation_config.json: 128, capped by the context.
  const uncapped = model.generate(prompt, { stopAtEos: false });
  assert.equal((await uncapped.stats()).newTokens, Math.min(128, max - prompt.length));
});

Deno.test("a stop string ends generation and is not emitted, within a piece or across pieces", async () => {
  using model = await load();
  const prompt = model.encode(PROMPT);
  const full = model.generate(prompt, { maxNewTokens: 40, stopAtEos: false });
  const pieces: string[] = [];
  for await (const piece of full) pieces.push(piece);
  const text = pieces.join("");
  const boundary = pieces.slice(0, 6).join("").length;
  const stops = [
    pieces.find((piece, i) => i >= 3 && /^[\x20-\x7e]+$/.test(piece))!,
    text.slice(boundary - 1, boundary + 1),
  ];
  for (const stop of stops) {
    assert.ok(stop && text.indexOf(stop) > 0, `no usable stop string in ${JSON.stringify(text)}`);
    const run = model.generate(prompt, { maxNewTokens: 40, stopAtEos: false, stop: [stop] });
    const stopped = await collect(run);
    assert.equal(stopped, text.slice(0, text.indexOf(stop)), `stop ${JSON.stringify(stop)}`);
    assert.ok(run.tokens.length < full.tokens.length, "generation went on after the stop string");
    assert.deepEqual(run.tokens, full.tokens.slice(0, run.tokens.length));
    assert.equal((await run.stats()).newTokens, run.tokens.length);
  }
});

Deno.test("EOS from generation_config.json ends greedy generation and is not counted", async () => {
  // The fixture's greedy continuation never reaches its EOS ids (286, 287), so a copy of the
  // folder declares a token the greedy run does produce as EOS.
  using original = await load();
  const prompt = original.encode(PROMPT);
  const greedy = original.generate(prompt, { maxNewTokens: 20, stopAtEos: false });
  await collect(greedy);
  assert.ok(!greedy.tokens.some((t) => original.eosTokenIds.includes(t)));
  const eos = greedy.tokens[6];
  const at = greedy.tokens.indexOf(eos);

  const dir = await Deno.makeTempDir({ prefix: "lukv_generate_eos_" });
  try {
    for await (const entry of Deno.readDir(FIXTURE)) {
      if (entry.isFile) await Deno.copyFile(FIXTURE + entry.name, `${dir}/${entry.name}`);
    }
    await Deno.writeTextFile(`${dir}/generation_config.json`, JSON.stringify({ eos_token_id: [eos] }));
    using model = await load(dir);
    assert.deepEqual(model.eosTokenIds, [eos]);

    const run = model.generate(prompt, { maxNewTokens: 20 });
    const text = await collect(run);
    assert.deepEqual(run.tokens, greedy.tokens.slice(0, at));
    assert.equal(text, model.decode(greedy.tokens.slice(0, at)));
    const stats = await run.stats();
    assert.equal(stats.newTokens, at);
    assert.equal(stats.kvBytesFull, kvBytesPerToken(model) * (prompt.length + at));

    const ignored = model.generate(prompt, { maxNewTokens: 20, stopAtEos: false });
    await collect(ignored);
    assert.deepEqual(ignored.tokens, greedy.tokens);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a sampled EOS (the fixture's own ids) ends generation exactly where it was drawn", async () => {
  using model = await load();
  const prompt = model.encode(PROMPT);
  const options = { maxNewTokens: 60, temperature: 2 };
  let found = false;
  for (let seed = 0; seed < 50 && !found; seed++) {
    const free = model.generate(prompt, { ...options, seed, stopAtEos: false });
    await collect(free);
    const at = free.tokens.findIndex((t) => model.eosTokenIds.includes(t));
    if (at < 0) continue;
    found = true;
    const run = model.generate(prompt, { ...options, seed });
    await collect(run);
    assert.deepEqual(run.tokens, free.tokens.slice(0, at), `seed ${seed}`);
    assert.equal((await run.stats()).newTokens, at);
  }
  assert.ok(found, "no seed in 0..49 drew an EOS token at temperature 2");
});

Deno.test("breaking out of the loop early still resolves stats() with the tokens seen", async () => {
  using model = await load();
  const run = model.generate(model.encode(PROMPT), { maxNewTokens: 30, stopAtEos: false });
  let pieces = 0;
  let tokensSeen = 0;
  for await (const _ of run) {
    tokensSeen = run.tokens.length;
    if (++pieces === 3) break;
  }
  const stats = await run.stats();
  assert.ok(tokensSeen >= 3 && tokensSeen < 30);
  assert.equal(stats.newTokens, tokensSeen);
  assert.equal(run.tokens.length, tokensSeen, "no token was generated after the break");
  assert.equal(stats.kvBytesFull, kvBytesPerToken(model) * (stats.promptTokens + tokensSeen));
});

Deno.test("stats() without iterating runs the whole generation", async () => {
  using model = await load();
  const run = model.generate(model.encode(PROMPT), { maxNewTokens: 9, stopAtEos: false });
  const stats = await run.stats();
  assert.equal(stats.newTokens, 9);
  assert.equal(run.tokens.length, 9);
  assert.deepEqual(await run.stats(), stats);
  await assert.rejects(() => collect(run), (error: unknown) => {
    assert.ok(error instanceof LukvError && error.code === STATUS.INVALID_ARGUMENT, String(error));
    assert.match(error.message, /iterated once/);
    return true;
  });
});

Deno.test("a generation can be iterated only once", async () => {
  using model = await load();
  const run = model.generate(model.encode(PROMPT), { maxNewTokens: 4, stopAtEos: false });
  await collect(run);
  await assert.rejects(() => collect(run), (error: unknown) => {
    assert.ok(error instanceof LukvError && error.code === STATUS.INVALID_ARGUMENT, String(error));
    return true;
  });
  assert.equal(run.tokens.length, 4);
});

Deno.test("the streamed pieces concatenate to decode(tokens), greedy and sampled", async () => {
  using model = await load();
  const prompt = model.encode(PROMPT);
  // At temperature 2 the byte-level vocabulary yields broken UTF-8 often: held-back pieces must still add up.
  const runs = [
    model.generate(prompt, { maxNewTokens: 60, stopAtEos: false }),
    ...[0, 1, 2, 3, 4, 5].map((seed) =>
      model.generate(prompt, { maxNewTokens: 60, temperature: 2, seed, stopAtEos: false })
    ),
  ];
  for (const run of runs) {
    const text = await collect(run);
    assert.equal(text, model.decode(run.tokens), `seed ${run.options.seed}`);
  }
});

Deno.test("two generations iterated in turn give the same tokens as one after the other", async () => {
  using model = await load();
  const prompts = [model.encode(PROMPT), model.encode("The model can't keep all.")];
  const alone = [];
  for (const prompt of prompts) {
    const run = model.generate(prompt, { maxNewTokens: 12, stopAtEos: false });
    await collect(run);
    alone.push(run.tokens);
  }
  const runs = prompts.map((prompt) => model.generate(prompt, { maxNewTokens: 12, stopAtEos: false }));
  const iterators = runs.map((run) => run[Symbol.asyncIterator]());
  const done = [false, false];
  while (!done.every(Boolean)) {
    for (const [i, iterator] of iterators.entries()) {
      if (!done[i]) done[i] = (await iterator.next()).done ?? false;
    }
  }
  assert.deepEqual(runs.map((run) => run.tokens), alone);
});

Deno.test("stats are sane: prompt and new tokens, prefill time, decode speed, KV bytes", async () => {
  using model = await load();
  const prompt = model.encode(PROMPT);
  const perToken = kvBytesPerToken(model);
  for (const maxNew of [1, 16]) {
    const run = model.generate(prompt, { maxNewTokens: maxNew, stopAtEos: false });
    const stats = await run.stats();
    assert.equal(stats.promptTokens, prompt.length);
    assert.equal(stats.newTokens, maxNew);
    assert.ok(stats.prefillMs > 0, `prefillMs ${stats.prefillMs}`);
    if (maxNew > 1) {
      assert.ok(stats.decodeTokensPerSecond > 0 && Number.isFinite(stats.decodeTokensPerSecond));
    } else {
      assert.equal(stats.decodeTokensPerSecond, 0, "no decode step ran");
    }
    assert.equal(stats.kvBytes, perToken * (prompt.length + maxNew - 1));
    assert.equal(stats.kvBytesFull, perToken * (prompt.length + stats.newTokens));
  }
});

Deno.test("logits of a prefix equal the first rows of the longer sequence's logits", async () => {
  using model = await load();
  const vocab = model.config.vocabSize;
  const ids = Int32Array.from([...model.encode(PROMPT), ...model.encode("The model can't keep all.")]);
  const full = await model.logits(ids);
  assert.equal(full.length, ids.length * vocab);
  for (const length of [1, 5, ids.length - 1]) {
    const prefix = await model.logits(ids.subarray(0, length));
    let worst = 0;
    for (let i = 0; i < prefix.length; i++) worst = Math.max(worst, Math.abs(prefix[i] - full[i]));
    assert.ok(worst <= 1e-6, `prefix of ${length}: max difference ${worst}`);
  }
});

Deno.test("greedy tokens from incremental decode are the argmax of a full forward pass", async () => {
  using model = await load();
  const vocab = model.config.vocabSize;
  const prompt = model.encode(PROMPT);
  const run = model.generate(prompt, { maxNewTokens: 12, stopAtEos: false });
  await collect(run);
  const sequence = Int32Array.from([...prompt, ...run.tokens.slice(0, -1)]);
  const logits = await model.logits(sequence);
  run.tokens.forEach((token, i) => {
    const row = logits.subarray((prompt.length - 1 + i) * vocab, (prompt.length + i) * vocab);
    const best = row.reduce((a, x) => Math.max(a, x), -Infinity);
    assert.ok(best - row[token] <= 1e-4, `token ${i}: ${token} is ${best - row[token]} below the argmax`);
  });
});
