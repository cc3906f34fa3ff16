// llama.cpp's side of bench/peers: loads a GGUF with node-llama-cpp's prebuilt CPU binaries,
// prefills the given token ids, decodes greedily, prints one JSON line. Runs under Node, not Deno.
//
//   node tools/peers/llama_cpp.mjs --model m.gguf --prompt-file ids.json --new 128 --threads 2
//
// Output: {loadSeconds, prefillTokensPerSecond, decodeTokensPerSecond, tokens, peakRssBytes}.
// Prefill is timed up to the first generated token (the prompt's forward plus its logits and
// the greedy pick), decode over the remaining new tokens: lukv's Generation stats split the
// same way.

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    "prompt-file": { type: "string" },
    new: { type: "string", default: "128" },
    threads: { type: "string", default: "2" },
    "kv-type": { type: "string", default: "F16" },
  },
});
if (!values.model || !values["prompt-file"]) {
  console.error("usage: llama_cpp.mjs --model FILE.gguf --prompt-file ids.json [--new 128] [--threads 2]");
  process.exit(2);
}
const prompt = JSON.parse(readFileSync(values["prompt-file"], "utf8"));
const newTokens = Number(values.new), threads = Number(values.threads);

// The peak resident set, file-backed pages (the mapped weights) included, as for lukv.
function peakRssBytes() {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return match ? Number(match[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}

const loadStarted = performance.now();
// build "never": the prebuilt CPU binary or an error, never a compile; maxThreads pins the pool.
const llama = await getLlama({
  gpu: false,
  build: "never",
  maxThreads: threads,
  logLevel: LlamaLogLevel.error,
});
const model = await llama.loadModel({ modelPath: values.model, gpuLayers: 0 });
const context = await model.createContext({
  contextSize: prompt.length + newTokens + 8,
  batchSize: Math.min(prompt.length, 2048),
  threads: { ideal: threads, min: threads },
  sequences: 1,
  experimentalKvCacheKeyType: values["kv-type"],
  experimentalKvCacheValueType: values["kv-type"],
});
const sequence = context.getSequence();
const loadSeconds = (performance.now() - loadStarted) / 1000;

const tokens = [];
const started = performance.now();
let firstAt = 0;
// Greedy (temperature 0); EOS is yielded and decoding goes on, as lukv does with stopAtEos false.
for await (const token of sequence.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
  if (tokens.length === 0) firstAt = performance.now();
  tokens.push(token);
  if (tokens.length === newTokens) break;
}
const ended = performance.now();

console.log(JSON.stringify({
  loadSeconds,
  prefillTokensPerSecond: prompt.length / ((firstAt - started) / 1000),
  decodeTokensPerSecond: (tokens.length - 1) / ((ended - firstAt) / 1000),
  tokens,
  peakRssBytes: peakRssBytes(),
}));
await context.dispose();
await model.dispose();
await llama.dispose();
