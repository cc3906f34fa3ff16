/** Retrieval scores on a fixture model: shares in [0, 1], one per (layer, KV head), reproducible, bad samples refused. */

import assert from "node:assert/strict";
import { retrievalScores } from "../../src/eval/retrieval_heads.ts";
import type { TaskSample } from "../../src/eval/tasks/mod.ts";
import { loadModel } from "../../src/pipeline/model.ts";

const FIXTURE = new URL("../fixtures/models/llama-llama3rope/", import.meta.url).pathname;
const SAMPLE: TaskSample = {
  task: "needle",
  context: "Filler words go here. The special magic number for lamp is 481516. More filler.",
  question: "\nWhat is it?",
  answerPrefix: " It is",
  answers: ["481516"],
  target: " 481516.",
  tokens: 0,
};

Deno.test("retrieval scores are per-head shares of answer attention on the needle value", async () => {
  using model = await loadModel(FIXTURE, { device: "cpu" });
  const scores = retrievalScores(model, [SAMPLE, SAMPLE]);
  assert.equal(scores.length, model.config.layers * model.config.kvHeads);
  for (const s of scores) assert.ok(s > 0 && s < 1, `${s}`);
  assert.deepEqual(retrievalScores(model, [SAMPLE]), scores, "two copies average to one");
  assert.throws(
    () => retrievalScores(model, [{ ...SAMPLE, answers: ["999999"] }]),
    /999999 is not in its context/,
  );
});
