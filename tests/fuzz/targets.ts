/** The fuzzed parsers: their seeds (small committed fixtures), how an input is derived from a seed, and how it is parsed. */

import { parseSafetensors, toFloat32 } from "../../src/model/safetensors.ts";
import { loadConfig } from "../../src/model/config.ts";
import { Tokenizer } from "../../src/model/tokenizer.ts";
import { readNpy, writeNpy } from "../../src/lukv/npy.ts";
import {
  readBudgetNpy,
  readHeadTableNpy,
  writeBudgetNpy,
  writeHeadTableNpy,
} from "../../src/lukv/table_npy.ts";
import { readProfile, uniformProfile, writeProfile } from "../../src/lukv/profile.ts";
import { LukvError, STATUS } from "../../src/backend/errors.ts";
import { concat, joinNpy, mutateBytes, mutateJson, mutateNpy, type Rng, splitNpy } from "./mutate.ts";

/** A fuzz input: file names and their bytes (one file for most parsers, two for the tokenizer). */
export type FuzzFiles = Record<string, Uint8Array>;

/** One generated input: the files, the seed it came from and the edits that made it. */
export interface FuzzInput {
  /** The seed's label, e.g. `"tests/fixtures/models/qwen2-bias/config.json"`. */
  seed: string;
  /** The edits, in order, e.g. `["replace num_hidden_layers with number 2147483648"]`. */
  steps: string[];
  /** The input files. */
  files: FuzzFiles;
}

/** A parser under test. */
export interface FuzzTarget {
  /** The `--parser` name. */
  name: string;
  /** The file names an error message may name for a RangeError/TypeError to count as clean. */
  fileNames: string[];
  /** Loads the seeds once per runner process. */
  seeds(): Promise<Seed[]>;
  /** Derives input `rng` from one seed; deterministic for a given rng state. */
  generate(rng: Rng, seeds: Seed[]): FuzzInput;
  /** Parses one input (files are written under `dir` for the parsers that read folders). */
  run(files: FuzzFiles, dir: string, index: number): Promise<void>;
}

/** A seed: a label and its files. */
export interface Seed {
  /** Where it came from. */
  label: string;
  /** Its files. */
  files: FuzzFiles;
}

const ROOT = new URL("../../", import.meta.url);
const FIXTURES = "tests/fixtures/models";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function readSeed(path: string): Promise<Uint8Array> {
  return await Deno.readFile(new URL(path, ROOT));
}

/** Mutates one JSON file: structure-aware edits 60% of the time, byte edits otherwise, sometimes both. */
function mutateJsonFile(rng: Rng, bytes: Uint8Array): { bytes: Uint8Array; steps: string[] } {
  if (rng.chance(0.6)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(decoder.decode(bytes));
    } catch {
      return mutateBytes(rng, bytes);
    }
    const { text, steps } = mutateJson(rng, parsed);
    const out = encoder.encode(text);
    if (!rng.chance(0.1)) return { bytes: out, steps };
    const more = mutateBytes(rng, out);
    return { bytes: more.bytes, steps: [...steps, ...more.steps] };
  }
  return mutateBytes(rng, bytes);
}

/** A generator that mutates the file `pick` chooses among a seed's files. */
function jsonGenerator(pick: (rng: Rng, seed: Seed) => string) {
  return (rng: Rng, seeds: Seed[]): FuzzInput => {
    const seed = rng.pick(seeds);
    const file = pick(rng, seed);
    const { bytes, steps } = mutateJsonFile(rng, seed.files[file]);
    return {
      seed: seed.label,
      steps: steps.map((s) => `${file}: ${s}`),
      files: { ...seed.files, [file]: bytes },
    };
  };
}

async function writeFiles(dir: string, files: FuzzFiles): Promise<void> {
  for (const [name, bytes] of Object.entries(files)) await Deno.writeFile(`${dir}/${name}`, bytes);
}

/** A 3-tensor safetensors file (F32, F16, BF16) with metadata, 150 bytes. */
function smallSafetensors(): Uint8Array {
  const header = encoder.encode(JSON.stringify({
    __metadata__: { format: "pt" },
    "a.weight": { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] },
    "b.weight": { dtype: "F16", shape: [3], data_offsets: [16, 22] },
    "c.bias": { dtype: "BF16", shape: [1, 1], data_offsets: [22, 24] },
  }));
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(header.length), true);
  return concat(length, header, Uint8Array.from({ length: 24 }, (_, i) => (i * 37) & 0x3f));
}

const safetensors: FuzzTarget = {
  name: "safetensors",
  fileNames: ["model.safetensors"],
  async seeds() {
    return [
      { label: "small 3-tensor file", files: { "model.safetensors": smallSafetensors() } },
      {
        label: `${FIXTURES}/qwen2-bias/model.safetensors`,
        files: { "model.safetensors": await readSeed(`${FIXTURES}/qwen2-bias/model.safetensors`) },
      },
    ];
  },
  generate(rng, seeds) {
    const seed = rng.pick(seeds);
    const bytes = seed.files["model.safetensors"];
    const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const head = bytes.subarray(0, 8 + headerLength);
    let body = bytes.subarray(8 + headerLength);
    const steps: string[] = [];
    let out: Uint8Array;
    const mode = rng.int(10);
    if (mode < 5) {
      const header = mutateJsonFile(rng, head.subarray(8));
      const length = new Uint8Array(8);
      const honest = rng.chance(0.85);
      new DataView(length.buffer).setBigUint64(0, BigInt(honest ? header.bytes.length : headerLength), true);
      steps.push(...header.steps.map((s) => `header: ${s}`));
      if (!honest) steps.push("header length left as before");
      out = concat(length, header.bytes, body);
    } else if (mode < 8) {
      const edited = mutateBytes(rng, head);
      steps.push(...edited.steps.map((s) => `first ${head.length} bytes: ${s}`));
      out = concat(edited.bytes, body);
    } else {
      const change = rng.pick([-1, -2, -body.length, 1, 4, 4096]);
      body = change < 0
        ? body.subarray(0, Math.max(0, body.length + change))
        : concat(body, new Uint8Array(change));
      steps.push(`body ${change > 0 ? "+" : ""}${change} bytes`);
      out = concat(head, body);
    }
    return { seed: seed.label, steps, files: { "model.safetensors": out } };
  },
  run(files) {
    // Loading reads every tensor, so the views parseSafetensors hands out are read too.
    for (const tensor of parseSafetensors(files["model.safetensors"], "model.safetensors").tensors.values()) {
      toFloat32(tensor);
    }
    return Promise.resolve();
  },
};

const config: FuzzTarget = {
  name: "config",
  fileNames: ["config.json"],
  async seeds() {
    const models = ["llama-linear-tied", "llama-llama3rope", "mistral-bf16", "qwen2-bias", "qwen3-qknorm"];
    const paths = [...models.map((m) => `${FIXTURES}/${m}/config.json`), "models/tiny/config.json"];
    return await Promise.all(
      paths.map(async (path) => ({ label: path, files: { "config.json": await readSeed(path) } })),
    );
  },
  generate: jsonGenerator(() => "config.json"),
  async run(files, dir) {
    await writeFiles(dir, files);
    await loadConfig(dir);
  },
};

const SAMPLE_TEXT = "Hello world, <s> 123 ünïcödé 👋\n\tend";

const tokenizer: FuzzTarget = {
  name: "tokenizer",
  fileNames: ["tokenizer.json", "tokenizer_config.json"],
  async seeds() {
    return await Promise.all(["llama-linear-tied", "llama-llama3rope"].map(async (m) => ({
      label: `${FIXTURES}/${m}/tokenizer*.json`,
      files: {
        "tokenizer.json": await readSeed(`${FIXTURES}/${m}/tokenizer.json`),
        "tokenizer_config.json": await readSeed(`${FIXTURES}/${m}/tokenizer_config.json`),
      },
    })));
  },
  generate: jsonGenerator((rng) => rng.chance(0.7) ? "tokenizer.json" : "tokenizer_config.json"),
  async run(files, dir) {
    await writeFiles(dir, files);
    const loaded = await Tokenizer.load(dir);
    // A tokenizer that loads is used: encode and decode a short text (an error there says so).
    try {
      loaded.decode(loaded.encode(SAMPLE_TEXT));
    } catch (error) {
      if (error instanceof Error) error.message = `(loaded; encode/decode failed) ${error.message}`;
      throw error;
    }
  },
};

/** Template fragments that loop, recurse, blow up strings, or are simply broken. */
const JINJA_SNIPPETS = [
  "{% for i in range(1000000000) %}x{% endfor %}",
  "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
  "{{ 'a' * 1000000000 }}",
  "{{ messages * 100000000 }}",
  "{% set s = 'ab' %}{% for i in range(64) %}{% set s = s + s %}{% endfor %}{{ s }}",
  "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
  "{{ raise_exception('refused') }}",
  "{{ nothing.attr.deeper }}",
  "{{ messages[1000000] }}",
  "{{ messages[-1000000]['content'] }}",
  "{{ 1 / 0 }}",
  "{{ 9 ** 9 ** 9 }}",
  "{{ 'x' | replace('', 'yy') }}",
  "{{ messages | tojson }}",
  "{{ (messages | string) * 10000 }}",
  "{{ range(1000000000) | length }}",
  "{{ messages[0]['content'][::-1] }}",
  "{{ messages | map(attribute='role') | join(', ') }}",
  "{% if %}",
  "{{",
  "}}",
  "{%- endfor %}",
  "{% endif %}",
  "{# unterminated",
  "{% for m in messages %}{% for m2 in messages %}{{ m2.content * 1000 }}{% endfor %}{% endfor %}",
  "{{ bos_token * 10000000 }}",
  "{% set ns = namespace(x=0) %}{% for i in range(10000000) %}{% set ns.x = ns.x + 1 %}{% endfor %}",
  "{{ 'x'.upper().lower().strip().split('x') }}",
  "{{ add_generation_prompt.__class__ }}",
  "{{ ''.__class__.__mro__ }}",
];

const TEMPLATES = [
  "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + " +
  "message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}" +
  "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
  "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% else %}" +
  "{% set loop_messages = messages %}{% endif %}{{ bos_token }}{% for message in loop_messages %}" +
  "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}" +
  "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}",
];

const MESSAGES = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Hi there" },
  { role: "assistant", content: "Hello." },
  { role: "user", content: "What is 2 + 2?" },
];

const chatTemplate: FuzzTarget = {
  name: "chat-template",
  fileNames: ["tokenizer_config.json", "chat_template"],
  async seeds() {
    const dir = `${FIXTURES}/llama-llama3rope`;
    const tokenizerJson = await readSeed(`${dir}/tokenizer.json`);
    const configBytes = await readSeed(`${dir}/tokenizer_config.json`);
    const configJson = JSON.parse(decoder.decode(configBytes));
    const seeds = [{
      label: `${dir}/tokenizer_config.json`,
      files: { "tokenizer.json": tokenizerJson, "tokenizer_config.json": configBytes },
    }];
    TEMPLATES.forEach((template, i) =>
      seeds.push({
        label: `chat template ${i}`,
        files: {
          "tokenizer.json": tokenizerJson,
          "tokenizer_config.json": encoder.encode(JSON.stringify({ ...configJson, chat_template: template })),
        },
      })
    );
    return seeds;
  },
  generate(rng, seeds) {
    const seed = rng.pick(seeds);
    const configJson = JSON.parse(decoder.decode(seed.files["tokenizer_config.json"]));
    let template: string = configJson.chat_template;
    const steps: string[] = [];
    const rounds = 1 + rng.int(3);
    for (let r = 0; r < rounds; r++) {
      if (rng.chance(0.5)) {
        // Half the snippets go between tags, where they parse and so are rendered.
        const boundaries = [0, template.length, ...[...template.matchAll(/[%}]\}/g)].map((m) => m.index + 2)];
        const at = rng.chance(0.5) ? rng.pick(boundaries) : rng.int(template.length + 1);
        const snippet = rng.pick(JINJA_SNIPPETS);
        const cut = rng.chance(0.3) ? rng.int(40) : 0;
        template = template.slice(0, at) + snippet + template.slice(at + cut);
        steps.push(`insert ${JSON.stringify(snippet)} at ${at}${cut > 0 ? `, replacing ${cut} chars` : ""}`);
      } else {
        const edited = mutateBytes(rng, encoder.encode(template));
        template = decoder.decode(edited.bytes);
        steps.push(...edited.steps);
      }
    }
    const config = encoder.encode(JSON.stringify({ ...configJson, chat_template: template }));
    return { seed: seed.label, steps, files: { ...seed.files, "tokenizer_config.json": config } };
  },
  async run(files, dir) {
    await writeFiles(dir, files);
    (await Tokenizer.load(dir)).applyChatTemplate(MESSAGES);
  },
};

/** A generator for the .npy parsers: header-aware edits 60% of the time, byte edits otherwise. */
function npyGenerate(rng: Rng, seeds: Seed[]): FuzzInput {
  const seed = rng.pick(seeds);
  const bytes = seed.files["fuzz.npy"];
  const { bytes: out, steps } = rng.chance(0.6) ? mutateNpy(rng, bytes) : mutateBytes(rng, bytes);
  return { seed: seed.label, steps, files: { "fuzz.npy": out } };
}

const TINY_NPY = "models/tiny/lukv-snapkv.npy";

const npy: FuzzTarget = {
  name: "npy",
  fileNames: ["fuzz.npy"],
  async seeds() {
    const small = writeNpy({ shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) });
    return [
      { label: TINY_NPY, files: { "fuzz.npy": await readSeed(TINY_NPY) } },
      { label: "[2, 3] float32", files: { "fuzz.npy": small } },
      {
        label: "[2, 3] float32, format 2.0",
        files: { "fuzz.npy": joinNpy({ ...splitNpy(small), version: [2, 0] }) },
      },
    ];
  },
  generate: npyGenerate,
  run(files) {
    readNpy(files["fuzz.npy"], { name: "fuzz.npy" });
    return Promise.resolve();
  },
};

const headTableNpy: FuzzTarget = {
  name: "head-table-npy",
  fileNames: ["fuzz.npy"],
  seeds() {
    const data = Float64Array.from({ length: 2 * 2 * 8 }, (_, i) => (i % 7) / 7);
    return Promise.resolve([
      {
        label: "[2, 2, 8] float64 table",
        files: { "fuzz.npy": writeHeadTableNpy({ layers: 2, heads: 2, length: 8, data }) },
      },
      {
        label: "[2, 2, 8] float32 table",
        files: {
          "fuzz.npy": writeHeadTableNpy({ layers: 2, heads: 2, length: 8, data: Float32Array.from(data) }),
        },
      },
    ]);
  },
  generate: npyGenerate,
  run(files, _dir, index) {
    readHeadTableNpy(files["fuzz.npy"], { name: "fuzz.npy", kind: index % 2 === 0 ? "oracle" : "scores" });
    return Promise.resolve();
  },
};

const budgetNpy: FuzzTarget = {
  name: "budget-npy",
  fileNames: ["fuzz.npy"],
  async seeds() {
    const { budgets } = uniformProfile({ id: "fuzz", layers: 1, kvHeads: 2 }, { name: "snapkv", params: {} });
    return [
      { label: TINY_NPY, files: { "fuzz.npy": await readSeed(TINY_NPY) } },
      {
        label: "[99, 1, 2] float32 budgets",
        files: { "fuzz.npy": writeBudgetNpy(budgets, { dtype: "float32" }) },
      },
    ];
  },
  generate: npyGenerate,
  run(files) {
    readBudgetNpy(files["fuzz.npy"], { name: "fuzz.npy" });
    return Promise.resolve();
  },
};

const TINY_PROFILE = "models/tiny/lukv-snapkv.json";

const profile: FuzzTarget = {
  name: "profile",
  fileNames: ["profile.json"],
  async seeds() {
    const small = writeProfile(
      uniformProfile({ id: "fuzz", layers: 1, kvHeads: 2 }, { name: "snapkv", params: { window: 8 } }),
    );
    return [
      { label: "uniform [1, 2] profile", files: { "profile.json": encoder.encode(small) } },
      { label: TINY_PROFILE, files: { "profile.json": await readSeed(TINY_PROFILE) } },
    ];
  },
  generate: jsonGenerator(() => "profile.json"),
  run(files) {
    readProfile(decoder.decode(files["profile.json"]));
    return Promise.resolve();
  },
};

/**
 * Hand-made inputs that check the harness itself: index mod 6 is accepted, a LukvError,
 * a raw RangeError, an infinite loop, a process crash, and a RangeError naming the file.
 */
const selftest: FuzzTarget = {
  name: "selftest",
  fileNames: ["selftest.bin"],
  seeds: () => Promise.resolve([{ label: "none", files: {} }]),
  generate: () => ({ seed: "none", steps: ["none"], files: {} }),
  run(_files, _dir, index) {
    switch (index % 6) {
      case 1:
        throw new LukvError("selftest", STATUS.FORMAT, "selftest.bin: bad");
      case 2:
        throw new RangeError("Invalid array length");
      case 3:
        for (;;) { /* a hang */ }
      case 4:
        Deno.exit(134);
        break;
      case 5:
        throw new RangeError("selftest.bin: field `x` must be positive");
    }
    return Promise.resolve();
  },
};

/** Every fuzzed parser, in report order. */
export const TARGETS: readonly FuzzTarget[] = [
  safetensors,
  config,
  tokenizer,
  chatTemplate,
  npy,
  headTableNpy,
  budgetNpy,
  profile,
];

/** A target by name, the self-test included. */
export function targetByName(name: string): FuzzTarget {
  const target = [...TARGETS, selftest].find((t) => t.name === name);
  if (target === undefined) {
    throw new RangeError(
      `unknown parser ${JSON.stringify(name)} (known: ${TARGETS.map((t) => t.name).join(", ")})`,
    );
  }
  return target;
}
