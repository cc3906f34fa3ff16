/**
 * lukv's side of bench/peers, run as a child process so its load time and peak RSS are
 * its own: loads a model folder on the CPU, prefills the given token ids, decodes greedily
 * and prints one JSON line with the fields tools/peers/llama_cpp.mjs prints. Threads come
 * from OMP_NUM_THREADS, set by the parent.
 *
 * ```sh
 * OMP_NUM_THREADS=2 deno run -A bench/peers/lukv_run.ts --model DIR --prompt-file ids.json --new 128
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { loadModel } from "../../src/pipeline/model.ts";

/**
 * What one run of either engine reports (llama_cpp.mjs prints the same fields).
 *
 * @example
 * ```ts
 * const run: PeerRun = JSON.parse(stdoutLine);
 * console.log(run.decodeTokensPerSecond, run.tokens.length);
 * ```
 */
export interface PeerRun {
  /** Seconds from nothing to a model ready to prefill. */
  loadSeconds: number;
  /** Prompt tokens per second of prefill (first token's logits included). */
  prefillTokensPerSecond: number;
  /** Generated tokens per second after the first. */
  decodeTokensPerSecond: number;
  /** The greedy token ids. */
  tokens: number[];
  /** Peak resident set (VmHWM), mapped weights included. */
  peakRssBytes: number;
  /** Bytes the KV cache held at the end (lukv only). */
  kvBytes?: number;
  /** Bytes a full f32 cache of the same sequence needs (lukv only). */
  kvBytesFull?: number;
}

/**
 * Reads this process's peak resident set from /proc/self/status (needs `-A`: Deno refuses
 * /proc/self under narrower permissions).
 *
 * @example
 * ```ts
 * console.log(peakRssBytes() / 2 ** 20, "MiB");
 * ```
 */
export function peakRssBytes(): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
  if (!match) throw new Error("no VmHWM line in /proc/self/status");
  return Number(match[1]) * 1024;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      model: { type: "string" },
      "prompt-file": { type: "string" },
      new: { type: "string", default: "128" },
    },
  });
  if (!values.model || !values["prompt-file"]) {
    console.error("usage: lukv_run.ts --model DIR --prompt-file ids.json [--new 128]");
    Deno.exit(2);
  }
  const prompt = Int32Array.from(JSON.parse(await Deno.readTextFile(values["prompt-file"])));
  const loadStarted = performance.now();
  using model = await loadModel(values.model, { device: "cpu" });
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  const run = model.generate(prompt, { maxNewTokens: Number(values.new), stopAtEos: false });
  const stats = await run.stats();
  const result: PeerRun = {
    loadSeconds,
    prefillTokensPerSecond: prompt.length / (stats.prefillMs / 1000),
    decodeTokensPerSecond: stats.decodeTokensPerSecond,
    tokens: run.tokens,
    peakRssBytes: peakRssBytes(),
    kvBytes: stats.kvBytes,
    kvBytesFull: stats.kvBytesFull,
  };
  console.log(JSON.stringify(result));
}
