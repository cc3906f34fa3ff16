/**
 * The lukv-only long-context part of bench/peers, as a child process: one dense prefill
 * of the prompt scored by SnapKV (the scorer of `snapkv`, `adakv` and `lukv-snapkv`), then
 * greedy decode with the full cache, and with each press's compression of that same cache
 * at the given ratio, as the evaluation harness does (one prefill serves every press: a
 * 16K prefill on 2 cores takes minutes, four would blow the bench's budget). Prints one
 * JSON line: per press, decode tokens/s of each round and the KV bytes held. Rounds run
 * every press in turn (the full cache rewound, each press compressing the prefill anew),
 * so a machine that gets busier hits them alike. The model folder must hold
 * `lukv-snapkv.json` for `lukv`.
 *
 * ```sh
 * OMP_NUM_THREADS=2 deno run -A bench/peers/long_run.ts --model DIR --prompt-file ids.json --new 64 --ratio 0.8 --rounds 5
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

/**
 * One press's decodes in the long run; the child prints an array of them, `full` first.
 *
 * @example
 * ```ts
 * const [full, ...presses]: LongRunEntry[] = JSON.parse(stdoutLine);
 * presses.map((p) => p.decodeTokensPerSecond[0] / full.decodeTokensPerSecond[0]); // round 1's speed-ups
 * ```
 */
export interface LongRunEntry {
  /** `full`, or the press's name. */
  press: string;
  /** Per round, generated tokens per second after the first. */
  decodeTokensPerSecond: number[];
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
      rounds: { type: "string", default: "5" },
    },
  });
  if (!values.model || !values["prompt-file"]) {
    console.error(
      "usage: long_run.ts --model DIR --prompt-file ids.json [--new 64] [--ratio 0.8] [--rounds 5]",
    );
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

  const decodeRate = (cache: KvCache): number => {
    const times = { ms: 0, steps: 0 };
    for (const _ of decode(model, cache, prefill.logits, { maxNew, pick: greedyToken }, times));
    return times.steps / (times.ms / 1000);
  };
  // bytes() is allocated rows on both sides: prompt (or kept) rows plus room for the new tokens.
  const entries: LongRunEntry[] = [{
    press: "full",
    decodeTokensPerSecond: [],
    kvBytes: prefill.cache.bytes(),
  }];
  for (const name of Object.keys(presses)) {
    entries.push({ press: name, decodeTokensPerSecond: [], kvBytes: 0 });
  }
  for (let round = 0; round < Number(values.rounds); round++) {
    prefill.cache.length = prompt.length; // rewind: every round decodes after the prompt alone
    entries[0].decodeTokensPerSecond.push(decodeRate(prefill.cache));
    prefill.cache.length = prompt.length; // the presses compress the prompt's rows only
    for (const [i, press] of Object.values(presses).entries()) {
      using ragged = compressDense(prefill.cache, prompt.length, scores, press, ratio, maxNew).cache;
      entries[i + 1].decodeTokensPerSecond.push(decodeRate(ragged));
      entries[i + 1].kvBytes = ragged.bytes();
    }
  }
  console.log(JSON.stringify(entries));
}
