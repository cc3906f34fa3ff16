/**
 * Part (b) of bench/gpu.ts: end-to-end prefill and decode of a random Llama-shaped model,
 * `full` (dense cache) against `lukv` at 0.8 (compressing prefill, ragged cache), with the
 * compression's time and both peaks of device memory.
 */

import type { Device } from "../src/backend/device.ts";
import type { KvCache } from "../src/cache/kv_cache.ts";
import { uniformProfile } from "../src/lukv/profile.ts";
import type { ModelConfig } from "../src/model/config.ts";
import { type RandomLlama, randomLlama } from "../src/model/random_model.ts";
import { greedyToken } from "../src/model/sampling.ts";
import { compressedPrefill } from "../src/pipeline/prefill.ts";
import { makePress } from "../src/press/registry.ts";

/** What to run. */
export interface DecodeBenchOptions {
  /** Prompt tokens wanted (the context of the decode steps). */
  context: number;
  /** Timed decode steps per cache (after two untimed ones). */
  decodeTokens: number;
  /** Seconds the two long prefills may take together; a longer predicted run shrinks the context. */
  budgetSeconds: number;
  /** Fraction of KV pairs lukv removes. */
  ratio: number;
}

/** One cache's run. Times in milliseconds, sizes in bytes. */
export interface CacheRun {
  prefillMs: number;
  /** Scoring, selection and compaction, timed inside the compressing cache's hooks (lukv only). */
  compressionMs: number | null;
  decodeTokensPerSecond: number;
  kvBytes: number;
  /** High-water mark of lukv's allocations during the run (weights included). */
  peakBytes: number;
  /** Device memory in use at the end of the run, as the driver says (context, pools and weights included). */
  deviceUsedBytes: number;
}

/** The result of part (b). */
export interface DecodeBenchResult {
  parameters: number;
  weightBytes: number;
  weightDtype: string;
  buildMs: number;
  /** The context actually run, and why when it is not the one asked for. */
  context: number;
  contextNote: string | null;
  /** Dense prefill times of the calibration runs, `[tokens, ms]`. */
  calibration: [number, number][];
  predictedPrefillMs: number;
  full: CacheRun;
  lukv: CacheRun;
}

function promptOf(length: number, vocab: number): Int32Array {
  return Int32Array.from({ length }, (_, i) => (i * 7919 + 13) % vocab);
}

/** Runs `ids` into `cache` and returns the greedy next token (the logits reach the host, as in generation). */
function step(model: RandomLlama, ids: Int32Array, cache: KvCache): number {
  using hidden = model.forward.run(ids, cache);
  return greedyToken(model.forward.logits(hidden.rows(ids.length - 1, 1)));
}

function timed(dev: Device, work: () => void): number {
  dev.synchronize();
  const start = performance.now();
  work();
  dev.synchronize();
  return performance.now() - start;
}

/** Decode tokens per second over `count` greedy steps after two untimed ones. */
function decodeRate(model: RandomLlama, cache: KvCache, first: number, count: number): number {
  let token = first;
  for (let i = 0; i < 2; i++) token = step(model, Int32Array.of(token), cache);
  const ms = timed(model.device, () => {
    for (let i = 0; i < count; i++) token = step(model, Int32Array.of(token), cache);
  });
  return count / (ms / 1000);
}

function deviceUsed(dev: Device): number {
  const { deviceFreeBytes, deviceTotalBytes } = dev.memoryInfo();
  return deviceFreeBytes >= 0 ? deviceTotalBytes - deviceFreeBytes : -1;
}

/**
 * Builds the random model, warms up, times dense prefills at context/8 and context/4 to
 * predict the long one (a + b T + c T^2 through the two points and the origin, c >= 0),
 * shrinks the context by halves while 2.5 predicted prefills exceed the budget, then runs
 * `full` and `lukv` one after the other, each from an empty cache, freeing the first before
 * the second so their peaks are their own.
 *
 * @example
 * ```ts
 * const result = benchDecode(dev, LLAMA_3_1_8B, { context: 32768, decodeTokens: 32, budgetSeconds: 120, ratio: 0.8 }, log);
 * ```
 */
export function benchDecode(
  dev: Device,
  config: ModelConfig,
  options: DecodeBenchOptions,
  log: (line: string) => void,
): DecodeBenchResult {
  const { decodeTokens, budgetSeconds, ratio } = options;
  const built = performance.now();
  using model = randomLlama(config, dev, { seed: 1 });
  dev.synchronize();
  const buildMs = performance.now() - built;
  const { parameters } = model;
  log(
    `model: ${(parameters / 1e9).toFixed(2)}B parameters, ${model.weights.embed.dtype}, ` +
      `${(model.weightBytes / 2 ** 30).toFixed(1)} GiB, made in ${buildMs.toFixed(0)} ms`,
  );

  const densePrefill = (tokens: number): number => {
    using cache = model.newCache(tokens);
    return timed(dev, () => step(model, promptOf(tokens, config.vocabSize), cache));
  };
  densePrefill(Math.min(256, options.context));
  const calibration: [number, number][] = [];
  for (const tokens of [options.context / 8, options.context / 4].map(Math.floor).filter((t) => t >= 1)) {
    const ms = densePrefill(tokens);
    calibration.push([tokens, ms]);
    log(`calibration: dense prefill of ${tokens} tokens in ${ms.toFixed(0)} ms`);
  }
  const predict = fitPrefill(calibration);
  let context = options.context;
  while (context > 256 && 2.5 * predict(context) > budgetSeconds * 1000) context = Math.floor(context / 2);
  const contextNote = context === options.context
    ? null
    : `${options.context} tokens predicted at ${
      (predict(options.context) / 1000).toFixed(0)
    } s a prefill, over the ${budgetSeconds} s budget for two`;
  if (contextNote) log(`context shrunk to ${context}: ${contextNote}`);
  const prompt = promptOf(context, config.vocabSize);

  /** One side: `prefill` fills a cache from the prompt and returns it, the first token and its compression time. */
  const run = (
    name: string,
    prefill: () => { cache: KvCache; first: number; compressionMs: number | null },
  ): CacheRun => {
    dev.memoryInfo({ resetPeak: true });
    let done: ReturnType<typeof prefill> | null = null;
    try {
      const prefillMs = timed(dev, () => done = prefill());
      const { cache, first, compressionMs } = done!;
      const decodeTokensPerSecond = decodeRate(model, cache, first, decodeTokens);
      const result: CacheRun = {
        prefillMs,
        compressionMs,
        decodeTokensPerSecond,
        kvBytes: cache.bytes(),
        peakBytes: dev.memoryInfo().peakBytes,
        deviceUsedBytes: deviceUsed(dev),
      };
      log(
        `${name}: prefill ${(prefillMs / 1000).toFixed(2)} s` +
          (compressionMs !== null ? ` (compression ${(compressionMs / 1000).toFixed(2)} s)` : "") +
          `, decode ${decodeTokensPerSecond.toFixed(1)} tokens/s, KV ${
            (result.kvBytes / 2 ** 30).toFixed(2)
          } GiB, ` +
          `peak ${(result.peakBytes / 2 ** 30).toFixed(2)} GiB`,
      );
      return result;
    } finally {
      (done as ReturnType<typeof prefill> | null)?.cache.close();
    }
  };

  const full = run("full", () => {
    const cache = model.newCache(context + decodeTokens + 2);
    try {
      return { cache, first: step(model, prompt, cache), compressionMs: null };
    } catch (error) {
      cache.close();
      throw error;
    }
  });
  const { layers, kvHeads } = config;
  const profile = uniformProfile({ id: "random-llama", layers, kvHeads }, { name: "snapkv", params: {} });
  const lukv = run(`lukv@${ratio}`, () => {
    const done = compressedPrefill(model, prompt, makePress("lukv", { profile }), ratio, decodeTokens + 2);
    return {
      cache: done.cache,
      first: greedyToken(done.logits),
      compressionMs: done.scoringMs + done.compactMs,
    };
  });
  return {
    parameters,
    weightBytes: model.weightBytes,
    weightDtype: model.weights.embed.dtype,
    buildMs,
    context,
    contextNote,
    calibration,
    predictedPrefillMs: predict(context),
    full,
    lukv,
  };
}

/**
 * Prefill milliseconds as b T + c T^2 (projections grow linearly, attention
 * quadratically) through two measured points; c is clamped at 0 and one point fits b alone.
 */
export function fitPrefill(points: [number, number][]): (tokens: number) => number {
  if (points.length === 0) return () => 0;
  if (points.length === 1) return (t) => points[0][1] * t / points[0][0];
  const [[t1, m1], [t2, m2]] = points;
  const c = Math.max(0, (m2 / t2 - m1 / t1) / (t2 - t1));
  const b = Math.max(0, m1 / t1 - c * t1);
  return (t) => b * t + c * t * t;
}
