/**
 * The lukv-only long-context part of bench/peers, as a child process: one dense prefill
 * of the prompt scored by SnapKV (the scorer of `snapkv`, `adakv` and `lukv-snapkv`), then
 * greedy decode with the full cache, and with each press's compression of that same cache
 * at the given ratio, as the evaluation harness does (one prefill serves every press: a
 * 16K prefill on 2 cores takes minutes, four would blow the bench's budget). Prints one
 * JSON line: per press, decode tokens/s and the KV bytes held. The model folder must hold
 * `lukv-snapkv.json` for `lukv`.
 *
 * ```sh
 * OMP_NUM_THREADS=2 deno run -A bench/peers/long_run.ts --model DIR --prompt-file ids.json --new 64 --ratio 0.8
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { KvCache } from "../../src/cache/kv_cache.ts";
import { greedyToken } from "../../src/model/sampling.ts";
import { compressDense } from "../../src/pipeline/compress.ts";
import { decode } from "../../src/pipeline/decode.ts";
import { loadModel } from "../../src/pipeline/model.ts";
import { scoredPrefill } from "../../src/pipeline/prefill.ts";
import { readProfileFile } from "../../src/pipeline/presses.ts";
import { makePress } from "../../src/press/registry.ts";
import { scorerKey } from "../../src/press/score_recorder.ts";

/** One press's decode in the long run. */
export interface LongRunEntry {
  /** `full`, or the press's name. */
  press: string;
  /** Generated tokens per second after the first. */
  decodeTokensPerSecond: number;
  /** Bytes the KV cache held after decoding. */
  kvBytes: number;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      model: { type: "string" },
      "prompt-file": { type: "string" },
      new: { type: "string", default: "64" },
      ratio: { type: "string", default: "0.8" },
    },
  });
  if (!values.model || !values["prompt-file"]) {
    console.error("usage: long_run.ts --model DIR --prompt-file ids.json [--new 64] [--ratio 0.8]");
    Deno.exit(2);
  }
  const prompt = Int32Array.from(JSON.parse(await Deno.readTextFile(values["prompt-file"])));
  const maxNew = Number(values.new), ratio = Number(values.ratio);
  using model = await loadModel(values.model, { device: "cpu" });
  const profile = readProfileFile(`${values.model}/lukv-snapkv.json`, "snapkv", values.model);
  const presses = {
    snapkv: makePress("snapkv"),
    adakv: makePress("adakv"),
    lukv: makePress("lukv-snapkv", { profile }),
  };
  const scorer = presses.snapkv.scorer!;
  const started = performance.now();
  using prefill = scoredPrefill(model, prompt, { scorers: [scorer], capacity: prompt.length + maxNew });
  console.error(`prefill of ${prompt.length} tokens: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const scores = prefill.recorders[0].scores(scorerKey(scorer));

  const run = (press: string, cache: KvCache): LongRunEntry => {
    const times = { ms: 0, steps: 0 };
    for (const _ of decode(model, cache, prefill.logits, { maxNew, pick: greedyToken }, times));
    return { press, decodeTokensPerSecond: times.steps / (times.ms / 1000), kvBytes: cache.bytes() };
  };
  // bytes() is allocated rows on both sides: prompt (or kept) rows plus room for the new tokens.
  const entries = [run("full", prefill.cache)];
  prefill.cache.length = prompt.length; // rewind: the presses compress the prompt's rows only
  for (const [name, press] of Object.entries(presses)) {
    using ragged = compressDense(prefill.cache, prompt.length, scores, press, ratio, maxNew).cache;
    entries.push(run(name, ragged));
  }
  console.log(JSON.stringify(entries));
}
