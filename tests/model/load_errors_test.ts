/** Bad model folders and bad prompts: each is a LukvError naming the file, tensor or field, and nothing leaks. */

import assert from "node:assert/strict";
import { openDevice } from "../../src/backend/device.ts";
import { LukvError, STATUS } from "../../src/backend/errors.ts";
import type { GenerateOptions } from "../../src/pipeline/generate.ts";
import { loadModel } from "../../src/pipeline/model.ts";
import { safetensorsBytes } from "./files.ts";

const FIXTURE = new URL("../fixtures/models/llama-llama3rope/", import.meta.url).pathname;
const WEIGHTS = "model.safetensors";

/** One tensor's entry in a safetensors header. */
interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** A safetensors header: tensors by name (and `__metadata__`, left untyped here). */
type Header = Record<string, HeaderEntry>;

/** A parsed safetensors file: its header and the data region after it. */
function splitSafetensors(bytes: Uint8Array): { header: Header; data: Uint8Array } {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  return { header, data: bytes.subarray(8 + length) };
}

/** Copies the fixture into a fresh temporary folder, lets `breakIt` damage it, runs `fn`, then removes it. */
async function withBrokenFixture(
  breakIt: (dir: string) => Promise<void>,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lukv_load_errors_" });
  try {
    for await (const entry of Deno.readDir(FIXTURE)) {
      if (entry.isFile) await Deno.copyFile(FIXTURE + entry.name, `${dir}/${entry.name}`);
    }
    await breakIt(dir);
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Rewrites `dir/model.safetensors` with an edited header (new length prefix, same data bytes). */
async function editHeader(dir: string, edit: (header: Header) => void): Promise<void> {
  const { header, data } = splitSafetensors(await Deno.readFile(`${dir}/${WEIGHTS}`));
  edit(header);
  await Deno.writeFile(`${dir}/${WEIGHTS}`, safetensorsBytes(header, data));
}

/** Edits `dir/name` as JSON. */
async function editJson(dir: string, name: string, edit: (json: Record<string, unknown>) => void) {
  const json = JSON.parse(await Deno.readTextFile(`${dir}/${name}`));
  edit(json);
  await Deno.writeTextFile(`${dir}/${name}`, JSON.stringify(json, null, 2));
}

/** Asserts that `error` is a LukvError with status `code` whose message matches every pattern. */
function isLukvError(error: unknown, code: number, patterns: (RegExp | string)[]): true {
  assert.ok(error instanceof LukvError, `not a LukvError: ${error}`);
  assert.equal(error.code, code, `status ${error.codeName} for "${error.message}"`);
  for (const pattern of patterns) {
    if (typeof pattern === "string") {
      assert.ok(error.message.includes(pattern), `"${error.message}" does not name ${pattern}`);
    } else {
      assert.match(error.message, pattern);
    }
  }
  return true;
}

/**
 * Asserts that loading `dir` on the CPU rejects with a FORMAT LukvError matching `patterns`,
 * then that the process still works: the intact fixture loads and runs.
 */
async function refusesToLoad(dir: string, patterns: (RegExp | string)[]): Promise<void> {
  await assert.rejects(
    loadModel(dir, { device: "cpu" }),
    (error: unknown) => isLukvError(error, STATUS.FORMAT, patterns),
  );
  using model = await loadModel(FIXTURE, { device: "cpu" });
  const logits = await model.logits(Int32Array.from([285, 72]));
  assert.equal(logits.length, 2 * model.config.vocabSize);
  assert.ok(logits.every(Number.isFinite));
}

/** A fixture whose `model.safetensors` is broken by `breakIt` is refused with a message matching `patterns`. */
function safetensorsCase(
  name: string,
  breakIt: (dir: string) => Promise<void>,
  patterns: (RegExp | string)[],
) {
  Deno.test(`load refuses ${name}`, () => withBrokenFixture(breakIt, (dir) => refusesToLoad(dir, patterns)));
}

const original = splitSafetensors(await Deno.readFile(FIXTURE + WEIGHTS));
const dataLength = original.data.length;
const Q_PROJ = "model.layers.0.self_attn.q_proj.weight";
const O_PROJ = "model.layers.0.self_attn.o_proj.weight";
const DOWN_PROJ = "model.layers.1.mlp.down_proj.weight";
const LAST = "model.norm.weight";

// --- model.safetensors ---

safetensorsCase(
  "a model.safetensors truncated in its data region, naming the first tensor cut off",
  async (dir) => {
    const bytes = await Deno.readFile(`${dir}/${WEIGHTS}`);
    await Deno.writeFile(`${dir}/${WEIGHTS}`, bytes.subarray(0, bytes.length - dataLength / 2));
  },
  (() => {
    const kept = dataLength - dataLength / 2;
    const [firstCut] = Object.entries(original.header).find(([name, e]) =>
      name !== "__metadata__" && e.data_offsets[1] > kept
    )!;
    return [WEIGHTS, `"${firstCut}"`, /data_offsets .* lie outside the \d+-byte data region/];
  })(),
);

safetensorsCase(
  "a model.safetensors shorter than its 8-byte length prefix",
  (dir) => Deno.writeFile(`${dir}/${WEIGHTS}`, new Uint8Array([16, 0, 0, 0, 0])),
  [WEIGHTS, /truncated: 5 bytes/],
);

safetensorsCase(
  "a model.safetensors cut inside its header",
  async (dir) => {
    const bytes = await Deno.readFile(`${dir}/${WEIGHTS}`);
    await Deno.writeFile(`${dir}/${WEIGHTS}`, bytes.subarray(0, 8 + 100));
  },
  [WEIGHTS, /declares a \d+-byte header but only 100 bytes follow/],
);

safetensorsCase(
  "a header length beyond the end of the file",
  async (dir) => {
    const bytes = await Deno.readFile(`${dir}/${WEIGHTS}`);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.length), true);
    await Deno.writeFile(`${dir}/${WEIGHTS}`, bytes);
  },
  [WEIGHTS, /declares a \d+-byte header but only \d+ bytes follow/],
);

safetensorsCase(
  "a header length of 2^64 - 1",
  async (dir) => {
    const bytes = await Deno.readFile(`${dir}/${WEIGHTS}`);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 64n - 1n, true);
    await Deno.writeFile(`${dir}/${WEIGHTS}`, bytes);
  },
  [WEIGHTS, /more than the \d+ allowed/],
);

safetensorsCase(
  "a header that is not JSON",
  async (dir) => {
    const bytes = await Deno.readFile(`${dir}/${WEIGHTS}`);
    bytes.set(new TextEncoder().encode("{{{{"), 8);
    await Deno.writeFile(`${dir}/${WEIGHTS}`, bytes);
  },
  [WEIGHTS, /not valid JSON/],
);

safetensorsCase(
  "data_offsets that reach past the end of the data",
  (dir) => editHeader(dir, (h) => h[LAST].data_offsets = [dataLength - 128, dataLength + 128]),
  [WEIGHTS, `"${LAST}"`, `[${dataLength - 128}, ${dataLength + 128}]`, /outside the \d+-byte data region/],
);

safetensorsCase(
  "data_offsets that overlap another tensor's",
  (dir) => editHeader(dir, (h) => h[Q_PROJ].data_offsets = [...h[O_PROJ].data_offsets]),
  [WEIGHTS, `"${Q_PROJ}"`, `"${O_PROJ}"`, /overlaps/],
);

safetensorsCase(
  "data_offsets whose span disagrees with the shape",
  (dir) => editHeader(dir, (h) => h[Q_PROJ].data_offsets[1] -= 4),
  [WEIGHTS, `"${Q_PROJ}"`, /needs 16384 bytes but data_offsets .* span 16380/],
);

safetensorsCase(
  "a tensor whose dtype was changed to I64",
  (dir) => editHeader(dir, (h) => h[Q_PROJ].dtype = "I64"),
  [WEIGHTS, `"${Q_PROJ}"`, /dtype I64, which lukv does not read/],
);

safetensorsCase(
  "a tensor whose dtype was changed to F16 (half the bytes its span holds)",
  (dir) => editHeader(dir, (h) => h[Q_PROJ].dtype = "F16"),
  [WEIGHTS, `"${Q_PROJ}"`, /of F16 needs 8192 bytes but data_offsets .* span 16384/],
);

safetensorsCase(
  "a shape whose byte size no longer matches its span",
  (dir) => editHeader(dir, (h) => h[Q_PROJ].shape = [128, 64]),
  [WEIGHTS, `"${Q_PROJ}"`, /shape \[128,64\] of F32 needs 32768 bytes/],
);

safetensorsCase(
  "q_proj with the wrong out dim (same byte size), naming both shapes",
  (dir) => editHeader(dir, (h) => h[Q_PROJ].shape = [32, 128]),
  [WEIGHTS, `"${Q_PROJ}"`, "[32, 128]", "expected [64, 64]"],
);

safetensorsCase(
  "a missing tensor",
  (dir) =>
    editHeader(dir, (h) => {
      h[`${DOWN_PROJ}_renamed`] = h[DOWN_PROJ];
      delete h[DOWN_PROJ];
    }),
  [`"${DOWN_PROJ}"`, /is missing from the checkpoint/],
);

safetensorsCase(
  "a folder without model.safetensors or an index",
  (dir) => Deno.remove(`${dir}/${WEIGHTS}`),
  [WEIGHTS, "model.safetensors.index.json"],
);

safetensorsCase(
  "a sharded index naming a shard outside the folder",
  async (dir) => {
    await Deno.remove(`${dir}/${WEIGHTS}`);
    const weightMap = Object.fromEntries(
      Object.keys(original.header).filter((n) => n !== "__metadata__").map((
        n,
      ) => [n, "../model.safetensors"]),
    );
    await Deno.writeTextFile(
      `${dir}/model.safetensors.index.json`,
      JSON.stringify({ weight_map: weightMap }),
    );
  },
  ["model.safetensors.index.json", '"../model.safetensors"', /not a shard file inside the folder/],
);

Deno.test("a span past the end is refused while parsing, before any tensor reaches the device", async () => {
  using device = await openDevice("cpu");
  const liveBefore = device.liveBytes();
  let allocations = 0;
  const empty = device.empty.bind(device);
  device.empty = ((dtype, shape) => {
    allocations++;
    return empty(dtype, shape);
  }) as typeof device.empty;
  await withBrokenFixture(
    (dir) => editHeader(dir, (h) => h[LAST].data_offsets = [dataLength, dataLength + 256]),
    async (dir) => {
      await assert.rejects(
        loadModel(dir, { device }),
        (error: unknown) => isLukvError(error, STATUS.FORMAT, [WEIGHTS, `"${LAST}"`, /outside/]),
      );
    },
  );
  assert.equal(allocations, 0, "no tensor may be allocated for a checkpoint whose header lies");
  assert.equal(device.liveBytes(), liveBefore);
});

Deno.test("a tensor refused midway through the upload frees the tensors already uploaded", async () => {
  using device = await openDevice("cpu");
  const liveBefore = device.liveBytes();
  for (
    const breakIt of [
      (dir: string) => editHeader(dir, (h) => h["model.layers.1.self_attn.q_proj.weight"].shape = [32, 128]),
      (dir: string) => editHeader(dir, (h) => delete h["lm_head.weight"]),
    ]
  ) {
    await withBrokenFixture(breakIt, async (dir) => {
      await assert.rejects(
        loadModel(dir, { device }),
        (error: unknown) => isLukvError(error, STATUS.FORMAT, [/model\.layers\.1|lm_head/]),
      );
    });
    assert.equal(device.liveBytes(), liveBefore, "device memory leaked by a failed load");
    assert.equal(device.closed, false, "a failed load must not close a device it did not open");
  }
  using model = await loadModel(FIXTURE, { device });
  assert.ok(device.liveBytes() > liveBefore);
  model.close();
  assert.equal(device.liveBytes(), liveBefore);
});

// --- config.json ---

function configCase(
  name: string,
  edit: (config: Record<string, unknown>) => void,
  patterns: (RegExp | string)[],
) {
  Deno.test(
    `load refuses a config.json with ${name}`,
    () =>
      withBrokenFixture((dir) => editJson(dir, "config.json", edit), (dir) => refusesToLoad(dir, patterns)),
  );
}

configCase(
  "num_attention_heads not divisible by num_key_value_heads",
  (c) => c.num_key_value_heads = 3,
  ["config.json", "`num_key_value_heads`", /3 does not divide num_attention_heads \(4\)/],
);

configCase("hidden_size missing", (c) => delete c.hidden_size, ["config.json", "`hidden_size` is missing"]);

configCase(
  "a negative num_hidden_layers",
  (c) => c.num_hidden_layers = -2,
  ["config.json", "`num_hidden_layers`", /positive integer, got -2/],
);

configCase(
  "an unknown architecture",
  (c) => {
    c.architectures = ["GPT2LMHeadModel"];
    c.model_type = "gpt2";
  },
  ["config.json", "`architectures`", "GPT2LMHeadModel", "LlamaForCausalLM"],
);

configCase(
  "a vocab_size the weights do not have",
  (c) => c.vocab_size = 300,
  [WEIGHTS, /"(lm_head|model\.embed_tokens)\.weight"/, "[288, 64]", "expected [300, 64]"],
);

Deno.test("load refuses a config.json that is not JSON", () =>
  withBrokenFixture(
    (dir) => Deno.writeTextFile(`${dir}/config.json`, '{"architectures": ["LlamaForCausalLM"],'),
    (dir) => refusesToLoad(dir, [/config\.json is not valid JSON/]),
  ));

Deno.test("load refuses a folder without config.json", () =>
  withBrokenFixture(
    (dir) => Deno.remove(`${dir}/config.json`),
    (dir) => refusesToLoad(dir, [/config\.json is missing/]),
  ));

// --- tokenizer.json ---

Deno.test("load refuses a tokenizer.json that is not JSON", () =>
  withBrokenFixture(
    async (dir) => {
      const text = await Deno.readTextFile(`${dir}/tokenizer.json`);
      await Deno.writeTextFile(`${dir}/tokenizer.json`, text.slice(0, text.length / 2));
    },
    (dir) => refusesToLoad(dir, [/tokenizer\.json is not valid JSON/]),
  ));

Deno.test("load refuses a tokenizer.json whose vocab is not a map, naming the field", () =>
  withBrokenFixture(
    (dir) => editJson(dir, "tokenizer.json", (t) => (t.model as Record<string, unknown>).vocab = "oops"),
    (dir) => refusesToLoad(dir, ["tokenizer.json", "`model.vocab`"]),
  ));

Deno.test("load refuses a folder without tokenizer.json", () =>
  withBrokenFixture(
    (dir) => Deno.remove(`${dir}/tokenizer.json`),
    (dir) => refusesToLoad(dir, [/tokenizer\.json is missing/]),
  ));

// --- prompts and generate options on a loaded model ---

/** Asserts that `fn` throws (synchronously) a LukvError with status `code` matching `patterns`. */
function throwsLukv(fn: () => unknown, code: number, patterns: (RegExp | string)[]) {
  assert.throws(fn, (error: unknown) => isLukvError(error, code, patterns));
}

/** Asserts that `fn` returns a promise that rejects with a LukvError (not a synchronous throw). */
async function rejectsLukv(fn: () => Promise<unknown>, code: number, patterns: (RegExp | string)[]) {
  let promise: Promise<unknown>;
  try {
    promise = fn();
  } catch (error) {
    assert.fail(`threw synchronously instead of rejecting: ${error}`);
  }
  await assert.rejects(promise, (error: unknown) => isLukvError(error, code, patterns));
}

Deno.test("an empty prompt is refused by generate and logits", async () => {
  using model = await loadModel(FIXTURE, { device: "cpu" });
  throwsLukv(() => model.generate(new Int32Array(0)), STATUS.INVALID_ARGUMENT, [/prompt is empty/]);
  await rejectsLukv(() => model.logits(new Int32Array(0)), STATUS.INVALID_ARGUMENT, [/prompt is empty/]);
  // Empty text is not an empty prompt: the tokenizer adds BOS, and generation runs from it.
  assert.deepEqual([...model.encode("")], [285]);
  const run = model.generate("", { maxNewTokens: 2, stopAtEos: false });
  assert.equal((await run.stats()).promptTokens, 1);
  assert.equal(run.tokens.length, 2);
});

Deno.test("a prompt longer than max_position_embeddings is refused; one that fills it is not", async () => {
  using model = await loadModel(FIXTURE, { device: "cpu" });
  const max = model.config.maxPositionEmbeddings;
  assert.equal(max, 128);
  const tooLong = new Int32Array(max + 1).fill(97);
  const patterns = ["129 tokens", "max_position_embeddings = 128"];
  throwsLukv(() => model.generate(tooLong), STATUS.INVALID_ARGUMENT, patterns);
  await rejectsLukv(() => model.logits(tooLong), STATUS.INVALID_ARGUMENT, patterns);
  throwsLukv(() => model.generate("a".repeat(400)), STATUS.INVALID_ARGUMENT, ["max_position_embeddings"]);

  const full = new Int32Array(max).fill(97);
  assert.equal((await model.logits(full)).length, max * model.config.vocabSize);
  const run = model.generate(full, { maxNewTokens: 5 });
  const stats = await run.stats();
  assert.equal(stats.newTokens, 0, "no room is left for a new token");
  assert.equal(stats.promptTokens, max);
});

Deno.test("token ids outside the vocabulary are refused, naming the position and the id", async () => {
  using model = await loadModel(FIXTURE, { device: "cpu" });
  for (const [bad, at] of [[-1, 1], [288, 2], [2 ** 31 - 1, 0]]) {
    const ids = Int32Array.from([285, 72, 105]);
    ids[at] = bad;
    const patterns = [`token ${at} is ${bad}`, "outside the vocabulary"];
    throwsLukv(() => model.generate(ids), STATUS.INVALID_ARGUMENT, patterns);
    await rejectsLukv(() => model.logits(ids), STATUS.INVALID_ARGUMENT, patterns);
  }
});

Deno.test("bad generate options are refused before any work", async () => {
  using model = await loadModel(FIXTURE, { device: "cpu" });
  const prompt = model.encode("Hi");
  const badOptions: [GenerateOptions, RegExp][] = [
    [{ maxNewTokens: 0 }, /maxNewTokens must be a positive integer, got 0/],
    [{ maxNewTokens: 2.5 }, /maxNewTokens must be a positive integer, got 2.5/],
    [{ temperature: -1 }, /temperature must be a finite number >= 0, got -1/],
    [{ temperature: NaN }, /temperature must be a finite number >= 0, got NaN/],
    [{ temperature: 0.8, topK: 0 }, /topK must be a positive integer, got 0/],
    [{ temperature: 0.8, topP: 0 }, /topP must be in \(0, 1\], got 0/],
    [{ seed: 1.5 }, /seed must be an integer, got 1.5/],
    [{ stop: [""] }, /stop string 0 is empty/],
  ];
  for (const [options, message] of badOptions) {
    assert.throws(() => model.generate(prompt, options), RangeError);
    assert.throws(() => model.generate(prompt, options), { message });
  }
  throwsLukv(() => model.generate(prompt, { press: "pressly" }), STATUS.INVALID_ARGUMENT, [
    '"pressly"',
    "snapkv",
  ]);
  throwsLukv(
    () => model.generate(prompt, { press: "snapkv", compressionRatio: 1 }),
    STATUS.INVALID_ARGUMENT,
    [
      "[0, 1)",
    ],
  );
  // Profiles are found by name in the model folder; this one has none.
  throwsLukv(
    () => model.generate(prompt, { press: "lukv", compressionRatio: 0.5 }),
    STATUS.NOT_FOUND,
    ["lukv-expected-attention.json, lukv-snapkv.json", "deno task profile"],
  );
  throwsLukv(
    () => model.generate(prompt, { press: "lukv-keydiff", compressionRatio: 0.5 }),
    STATUS.NOT_FOUND,
    ["lukv-keydiff.json", "deno task profile --model", "--scorer keydiff"],
  );
  throwsLukv(
    () => model.generate(prompt, { press: "snapkv", compressionRatio: 0.5, scorerParams: { epsilon: 0.02 } }),
    STATUS.INVALID_ARGUMENT,
    ['scorer snapkv has no parameter "epsilon"', "window, kernel"],
  );
  throwsLukv(
    () => model.generate(prompt, { press: "expected-attention", scorerParams: { epsilon: -1 } }),
    STATUS.INVALID_ARGUMENT,
    ["epsilon must be a finite number >= 0, got -1"],
  );
  throwsLukv(
    () => model.generate(prompt, { compressionRatio: 0.5 }),
    STATUS.INVALID_ARGUMENT,
    ["compressionRatio"],
  );
});

Deno.test("a Mistral sliding window bounds the context instead of being silently ignored", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fixture = new URL("../fixtures/models/mistral-bf16/", import.meta.url).pathname;
    for await (const entry of Deno.readDir(fixture)) {
      await Deno.copyFile(fixture + entry.name, `${dir}/${entry.name}`);
    }
    const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ ...config, sliding_window: 16 }));
    using model = await loadModel(dir, { device: "cpu" });
    assert.equal(model.contextLimit, 16);
    await assert.rejects(
      () => model.logits(new Int32Array(17).fill(72)),
      (e) => e instanceof LukvError && /sliding_window = 16/.test(e.message),
    );
    const run = model.generate(new Int32Array(10).fill(72), { maxNewTokens: 50, stopAtEos: false });
    assert.equal((await run.stats()).newTokens, 6);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
