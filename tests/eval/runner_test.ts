/** The evaluation runner on fixture models: cells match plain generation, are deterministic, resume exactly, and run the same in workers. */

import assert from "node:assert/strict";
import { LukvError } from "../../src/backend/errors.ts";
import { fixedItems } from "../../src/eval/items.ts";
import { runEvalInWorkers } from "../../src/eval/parallel.ts";
import { type EvalPress, makeEvalPress } from "../../src/eval/press_set.ts";
import { cellKey, type Protocol, ResultsFile } from "../../src/eval/results.ts";
import { planCells } from "../../src/eval/sample_eval.ts";
import { runEval } from "../../src/eval/runner.ts";
import { loadModel, type Model } from "../../src/pipeline/model.ts";
import { makePress } from "../../src/press/registry.ts";
import { FIXTURES, items, SAMPLES, standInProfile, withoutTimings } from "./eval_fixtures.ts";

const RUN = { model: "fixture", length: 128, seed: 0 };
const RATIOS = [0.3, 0.6];
const PROTECTIONS = { sink: 2, window: 4 };

/** Every preset that compresses, with small protections so the short contexts really lose tokens; and lukv. */
function pressesFor(model: Model): EvalPress[] {
  const names = ["streamingllm", "snapkv", "pyramidkv", "adakv", "expected-attention"];
  return [
    makeEvalPress("full"),
    ...names.map((name) => ({ label: name, press: makePress(name, PROTECTIONS) })),
    makeEvalPress("lukv", { profile: standInProfile(model.config.layers, model.config.kvHeads) }),
  ];
}

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs the whole grid into `path` (stopping after `stopAfter` cells when given); returns the file's text. */
async function runInto(
  model: Model,
  path: string,
  presses: EvalPress[],
  stopAfter?: number,
  modes: Protocol[] = ["agnostic"],
): Promise<string> {
  using results = await ResultsFile.open(path, RUN);
  const controller = new AbortController();
  await runEval(model, items(), {
    presses,
    ratios: RATIOS,
    modes,
    results,
    maxNewTokens: 12,
    signal: controller.signal,
    onProgress: ({ written }) => {
      if (written === stopAfter) controller.abort();
    },
  });
  return await Deno.readTextFile(path);
}

for (const name of ["llama-llama3rope", "mistral-bf16"]) {
  Deno.test(`${name}: every cell's answer is what model.generate gives with that press and protocol`, async () => {
    using model = await loadModel(FIXTURES + name, { device: "cpu" });
    const presses = pressesFor(model);
    await withTempDir(async (dir) => {
      const cells = withoutTimings(
        await runInto(model, `${dir}/r.jsonl`, presses, undefined, ["agnostic", "aware"]),
      );
      assert.equal(cells.length, SAMPLES.length * (1 + 2 * (presses.length - 1) * RATIOS.length));
      for (const cell of cells) {
        const sample = SAMPLES[cell.task === "toy" ? cell.sample : 2];
        const entry = presses.find((p) => p.label === cell.press)!;
        const context = model.encode(sample.context);
        const question = model.encode(sample.question + sample.answerPrefix, { addSpecialTokens: false });
        // Query-aware: the whole prompt compressed after its prefill, as model.generate does with one prompt.
        const prompt = cell.mode === "aware"
          ? new Int32Array([...context, ...question])
          : { context, question };
        const run = model.generate(
          prompt,
          {
            press: entry.press,
            compressionRatio: entry.press.scorer ? cell.ratio : 0,
            maxNewTokens: 12,
          },
        );
        await run.stats();
        const where = `${cell.task} ${cell.sample} ${cell.press} ${cell.ratio} ${cell.mode}`;
        assert.equal(cell.output, model.decode(run.tokens), where);
        assert.equal(cell.newTokens, run.tokens.length, where);
      }
    });
  });
}

Deno.test("cells are deterministic; full has zero KL and error; compressed cells keep what they say", async () => {
  using model = await loadModel(FIXTURES + "llama-llama3rope", { device: "cpu" });
  const presses = pressesFor(model);
  await withTempDir(async (dir) => {
    const first = withoutTimings(await runInto(model, `${dir}/a.jsonl`, presses));
    const second = withoutTimings(await runInto(model, `${dir}/b.jsonl`, presses));
    assert.deepEqual(first, second);
    const { layers, kvHeads, headDim } = model.config;
    for (const cell of first) {
      assert.deepEqual([cell.model, cell.length, cell.seed], [RUN.model, RUN.length, RUN.seed]);
      if (cell.press === "full") {
        assert.equal(cell.kl, 0);
        assert.equal(cell.attentionError, 0);
        assert.equal(cell.kept, 1);
        assert.equal(cell.kvBytes, cell.kvBytesFull);
        continue;
      }
      assert.ok(cell.kl >= 0 && Number.isFinite(cell.kl), `${cell.press}: KL ${cell.kl}`);
      assert.ok(cell.attentionError >= 0, `${cell.press}: error ${cell.attentionError}`);
      const floor = (PROTECTIONS.sink + PROTECTIONS.window) / cell.contextTokens;
      assert.ok(cell.kept < 1 && cell.kept >= floor, `${cell.press} ${cell.ratio}: kept ${cell.kept}`);
      // Ragged bytes: the kept rows plus room for the question and the answer, in every (layer, head).
      const room = 2 * layers * kvHeads * headDim * 4 * (cell.questionTokens + 12);
      assert.ok(Math.abs(cell.kvBytes - room - cell.kept * (cell.kvBytesFull - room)) < 1, cell.press);
    }
    const compressed = first.filter((c) => c.press !== "full");
    assert.ok(compressed.some((c) => c.kl > 0), "some compression changes the next-token distribution");
  });
});

Deno.test("a run stopped after some cells, then resumed, writes the uninterrupted run's file", async () => {
  using model = await loadModel(FIXTURES + "llama-llama3rope", { device: "cpu" });
  const presses = pressesFor(model);
  await withTempDir(async (dir) => {
    const whole = withoutTimings(await runInto(model, `${dir}/whole.jsonl`, presses));
    for (const stopAfter of [1, 7, whole.length - 1]) {
      const path = `${dir}/resumed-${stopAfter}.jsonl`;
      const partial = withoutTimings(await runInto(model, path, presses, stopAfter));
      assert.deepEqual(partial, whole.slice(0, stopAfter));
      assert.deepEqual(
        withoutTimings(await runInto(model, path, presses)),
        whole,
        `stopped after ${stopAfter}`,
      );
    }
    // A last line cut short by a kill is dropped and redone.
    const path = `${dir}/cut.jsonl`;
    const text = await runInto(model, path, presses, 5);
    await Deno.writeTextFile(path, text + '{"model":"fixture","task":"to');
    assert.deepEqual(withoutTimings(await runInto(model, path, presses)), whole);
    // A complete file: nothing to do.
    using results = await ResultsFile.open(path, RUN);
    const summary = await runEval(model, items(), { presses, ratios: RATIOS, results, maxNewTokens: 12 });
    assert.deepEqual([summary.written, summary.skipped], [0, whole.length]);
  });
});

Deno.test("worker threads write the same file as one thread", async () => {
  const dir = FIXTURES + "llama-llama3rope";
  using model = await loadModel(dir, { device: "cpu" });
  const presses = [
    ...["full", "snapkv", "adakv"].map((name) => makeEvalPress(name)),
    makeEvalPress("lukv", { profile: standInProfile(model.config.layers, model.config.kvHeads) }),
  ];
  await withTempDir(async (tmp) => {
    const one = withoutTimings(await runInto(model, `${tmp}/one.jsonl`, presses));
    using results = await ResultsFile.open(`${tmp}/two.jsonl`, RUN);
    const summary = await runEvalInWorkers(dir, items(), {
      presses,
      ratios: RATIOS,
      results,
      maxNewTokens: 12,
      workers: 2,
    });
    assert.equal(summary.written, one.length);
    assert.deepEqual(withoutTimings(await Deno.readTextFile(`${tmp}/two.jsonl`)), one);
    await assert.rejects(
      () =>
        runEvalInWorkers(dir, items(), { presses: pressesFor(model), ratios: RATIOS, results, workers: 2 }),
      /press streamingllm differs from its rebuilt self/,
    );
  });
});

Deno.test("refused: a results file of another run, bad ratios, a sample with no room for its answer", async () => {
  using model = await loadModel(FIXTURES + "llama-llama3rope", { device: "cpu" });
  const presses = pressesFor(model);
  await withTempDir(async (dir) => {
    await runInto(model, `${dir}/r.jsonl`, presses, 2);
    await assert.rejects(
      () => ResultsFile.open(`${dir}/r.jsonl`, { ...RUN, seed: 1 }),
      /holds cells of another run \(model fixture, length 128, seed 0\)/,
    );
    using results = await ResultsFile.open(`${dir}/r.jsonl`, RUN);
    for (const ratios of [[1], [-0.1], [0.5, 0.5]]) {
      await assert.rejects(() => runEval(model, items(), { presses, ratios, results }));
    }
    // A prompt of 124..127 tokens: within the model, but without room for " 4829." and EOS.
    const long = { ...SAMPLES[0] };
    const question = model.encode(long.question + long.answerPrefix, { addSpecialTokens: false }).length;
    while (model.encode(long.context).length + question < 124) long.context += " so";
    await assert.rejects(
      () => runEval(model, fixedItems("long", [long]), { presses, ratios: RATIOS, results }),
      (e: unknown) =>
        e instanceof LukvError && /long sample 0: its 1\d\d-token prompt leaves/.test(e.message),
    );
  });
});

Deno.test("both protocols: full once, then each protocol x press x ratio; aware cells have their own key", () => {
  const presses = ["full", "snapkv"].map((name) => makeEvalPress(name));
  const plan = planCells(presses, [0.5, 0.8], ["agnostic", "aware"]);
  assert.deepEqual(plan.map((c) => `${c.entry.label}@${c.ratio}:${c.mode}`), [
    "full@0:agnostic",
    "snapkv@0.5:agnostic",
    "snapkv@0.8:agnostic",
    "snapkv@0.5:aware",
    "snapkv@0.8:aware",
  ]);
  assert.throws(() => planCells(presses, [0.5], []), /protocols must be distinct/);
  assert.throws(() => planCells(presses, [0.5], ["aware", "aware"]), /protocols must be distinct/);
  const cell = { task: "needle", sample: 0, press: "snapkv", ratio: 0.5 };
  assert.notEqual(cellKey({ ...cell, mode: "aware" }), cellKey(cell));
  assert.equal(
    cellKey({ ...cell, mode: "agnostic" }),
    cellKey(cell),
    "rows from before protocols stay agnostic",
  );
});
