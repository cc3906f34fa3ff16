/**
 * CUDA against the CPU on whole models: greedy generation on every fixture model and on
 * models/tiny gives the CPU's tokens (f32 arithmetic on both; half-precision weights keep
 * their values), and the logits agree within 1e-4 at every step. Skipped without a GPU,
 * failing instead under LUKV_REQUIRE_CUDA=1.
 */

import assert from "node:assert/strict";
import type { Device } from "../../src/backend/device.ts";
import { loadModel, type Model } from "../../src/pipeline/model.ts";
import { cpuDevice, cudaTest } from "../backend/devices.ts";
import { relativeError } from "../backend/reference.ts";

const FIXTURES = new URL("../fixtures/models/", import.meta.url).pathname;
const TINY = new URL("../../models/tiny", import.meta.url).pathname;
const NEW_TOKENS = 16;
/** Logits closer than this (relative to the row's largest magnitude) are a tie either device may break. */
const TIE = 1e-4;

/** Greedy steps: the CPU picks each token; the other device is fed the same tokens. */
function logitsAlong(model: Model, prompt: Int32Array, tokens: number[] | null, steps: number) {
  using cache = model.newCache(prompt.length + steps);
  const rows: Float32Array[] = [], picked: number[] = [];
  let input = prompt;
  for (let step = 0; step < steps; step++) {
    using hidden = model.forward.run(input, cache);
    const logits = model.forward.logits(hidden.rows(input.length - 1, 1));
    rows.push(logits);
    const best = logits.reduce((b, v, i) => (v > logits[b] ? i : b), 0);
    picked.push(best);
    input = Int32Array.of(tokens ? tokens[step] : best);
  }
  return { rows, picked };
}

async function compareGreedy(dir: string, prompt: (model: Model) => Int32Array, cuda: Device) {
  using cpuModel = await loadModel(dir, { device: cpuDevice() });
  using cudaModel = await loadModel(dir, { device: cuda });
  const ids = prompt(cpuModel);
  const cpu = logitsAlong(cpuModel, ids, null, NEW_TOKENS);
  const gpu = logitsAlong(cudaModel, ids, cpu.picked, NEW_TOKENS);
  for (let step = 0; step < NEW_TOKENS; step++) {
    const want = cpu.rows[step], got = gpu.rows[step];
    const error = relativeError(got, want);
    assert.ok(error <= 1e-4, `${dir} step ${step}: logits differ by ${error.toExponential(2)} relative`);
    const a = cpu.picked[step], b = gpu.picked[step];
    if (a !== b) {
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      assert.ok(
        Math.abs(want[a] - want[b]) <= TIE * scale,
        `${dir} step ${step}: CUDA picks ${b}, the CPU ${a}, and they are no tie (${want[a]} vs ${want[b]})`,
      );
    }
  }
  return cpu.picked;
}

for (const name of ["llama-llama3rope", "llama-linear-tied", "mistral-bf16", "qwen2-bias", "qwen3-qknorm"]) {
  cudaTest(`${name}: greedy tokens and logits on CUDA equal the CPU's`, async (cuda) => {
    const dir = FIXTURES + name;
    const expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`));
    const picked = await compareGreedy(dir, () => Int32Array.from(expected.generation.prompt_ids), cuda);
    const reference: number[] = expected.generation.greedy_ids;
    assert.deepEqual(
      picked.slice(0, reference.length),
      reference,
      "the CPU still gives the fixture's tokens",
    );
  });
}

let tinyPresent = false;
try {
  tinyPresent = Deno.statSync(`${TINY}/config.json`).isFile;
} catch {
  // reported below
}
if (tinyPresent) {
  cudaTest(
    "models/tiny: greedy tokens and logits on CUDA equal the CPU's over a 2-chunk prompt",
    async (cuda) => {
      // More than CHUNK_ROWS (256) tokens, so the prefill runs in two row chunks.
      const text = "The quick brown fox jumps over the lazy dog. ".repeat(40);
      await compareGreedy(TINY, (model) => model.encode(text).slice(0, 300), cuda);
    },
  );
} else {
  Deno.test({
    name: "models/tiny on CUDA (skipped: models/tiny/config.json is missing)",
    ignore: true,
    fn: () => {},
  });
}
