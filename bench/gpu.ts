/**
 * The GPU benchmark (a `deno run` script, run by tools/gpu-check.sh): (a) ragged decode
 * attention at 20% kept against dense at 32K and 128K tokens, with achieved GB/s against a
 * device copy of the same bytes; (b) end-to-end prefill and decode of a Llama-3.1-8B-shaped
 * model with random bf16 weights made on the GPU, `lukv`@0.8 (uniform stand-in profile,
 * compressing prefill) against `full` at 32K context, the compression's share of the
 * prefill and both memory peaks. Writes gpu-bench.json, gpu-bench.log and gpu-bench.md
 * to `--out` and prints the Markdown tables last.
 *
 * Options: `--out DIR` (default gpu-bench-out), `--device cuda|cpu|auto` (cuda), `--parts
 * attention,decode`, `--attention-contexts 32768,131072`, `--model 8b|small` (small: the same
 * heads, 4 layers, for dry runs), `--context 32768`, `--decode-tokens 32`, `--ratio 0.8`, and
 * `--budget-s 120`: the seconds the two long prefills may take together; dense prefills at
 * context/8 and context/4 predict the long one, and the context is halved (and the table
 * says so) while 2.5 predicted prefills exceed the budget.
 *
 * ```sh
 * deno run -A bench/gpu.ts --out /tmp/gpu-bench
 * # a dry run on the CPU, small shapes:
 * deno run -A bench/gpu.ts --device cpu --model small --context 1024 --attention-contexts 4096 --out /tmp/b
 * ```
 */

import { parseArgs } from "node:util";
import { type DeviceRequest, openDevice } from "../src/backend/device.ts";
import type { ModelConfig } from "../src/model/config.ts";
import { LLAMA_3_1_8B } from "../src/model/random_model.ts";
import { type AttentionResult, benchAttention } from "./gpu_attention.ts";
import { benchDecode, type DecodeBenchResult } from "./gpu_decode.ts";

/** `--model`: the 8B shape, or a small one with the same head shape for dry runs on a CPU. */
const MODELS: Record<string, ModelConfig> = {
  "8b": LLAMA_3_1_8B,
  small: {
    ...LLAMA_3_1_8B,
    vocabSize: 4096,
    hiddenSize: 512,
    intermediateSize: 1024,
    layers: 4,
    heads: 4,
    kvHeads: 2,
    maxPositionEmbeddings: 8192,
  },
};

const { values } = parseArgs({
  args: Deno.args,
  options: {
    out: { type: "string", default: "gpu-bench-out" },
    device: { type: "string", default: "cuda" },
    parts: { type: "string", default: "attention,decode" },
    "attention-contexts": { type: "string", default: "32768,131072" },
    model: { type: "string", default: "8b" },
    context: { type: "string", default: "32768" },
    "decode-tokens": { type: "string", default: "32" },
    "budget-s": { type: "string", default: "120" },
    ratio: { type: "string", default: "0.8" },
  },
});

function positive(name: string, text: string): number {
  const value = Number(text);
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`--${name} must be a positive number, got ${text}`);
  }
  return value;
}

const parts = values.parts.split(",");
const contexts = values["attention-contexts"].split(",").map((c) =>
  Math.round(positive("attention-contexts", c))
);
const config = MODELS[values.model];
if (!config) {
  throw new RangeError(`--model must be one of ${Object.keys(MODELS).join(", ")}, got ${values.model}`);
}
const ratio = positive("ratio", values.ratio);
if (ratio >= 1) throw new RangeError(`--ratio must be below 1, got ${ratio}`);

await Deno.mkdir(values.out, { recursive: true });
const logFile = await Deno.open(`${values.out}/gpu-bench.log`, { write: true, create: true, truncate: true });
const started = performance.now();
function log(line: string): void {
  const stamped = `[${((performance.now() - started) / 1000).toFixed(1)} s] ${line}`;
  console.error(stamped);
  logFile.writeSync(new TextEncoder().encode(stamped + "\n"));
}

using dev = await openDevice(values.device as DeviceRequest);
log(`device: ${dev.selection}`);
const date = new Date().toISOString().slice(0, 10);
const failures: string[] = [];
const attention: AttentionResult[] = [];
let decode: DecodeBenchResult | null = null;

if (parts.includes("attention")) {
  for (const context of contexts) {
    try {
      attention.push(benchAttention(dev, context, log));
    } catch (error) {
      failures.push(`attention ${context}: ${error}`);
      log(`attention ${context} FAILED: ${(error as Error).stack ?? error}`);
    }
  }
}
if (parts.includes("decode")) {
  try {
    decode = benchDecode(dev, config, {
      context: Math.round(positive("context", values.context)),
      decodeTokens: Math.round(positive("decode-tokens", values["decode-tokens"])),
      budgetSeconds: positive("budget-s", values["budget-s"]),
      ratio,
    }, log);
  } catch (error) {
    failures.push(`decode: ${error}`);
    log(`decode FAILED: ${(error as Error).stack ?? error}`);
  }
}

const report = { date, device: dev.name, model: values.model, config, ratio, attention, decode, failures };
await Deno.writeTextFile(`${values.out}/gpu-bench.json`, JSON.stringify(report, null, 2) + "\n");
const markdown = tables(report);
await Deno.writeTextFile(`${values.out}/gpu-bench.md`, markdown);
log(`done; wrote ${values.out}/gpu-bench.{json,log,md}`);
logFile.close();
console.log(markdown);
if (failures.length > 0) Deno.exit(1);

function tables(r: typeof report): string {
  const lines = [`## GPU bench, ${r.date}, ${r.device}`, ""];
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (r.attention.length > 0) {
    const a = r.attention[0];
    lines.push(
      `Decode attention of one query, ${a.qHeads} query / ${a.kvHeads} KV heads of ${a.headDim}, f32 cache: ` +
        "ragged over 20% of each head's tokens vs dense over all. GB/s = bytes read / time; the copy moves the " +
        "same bytes device to device in the same run (counted read + write); % = attention / copy.",
      "",
      "| context | dense ms | ragged ms | speed-up | dense GB/s (copy, %) | ragged GB/s (copy, %) |",
      "|---:|---:|---:|---:|---:|---:|",
    );
    for (const c of r.attention) {
      const pct = (x: number, y: number) => `${(100 * x / y).toFixed(0)}%`;
      lines.push(
        `| ${c.context} | ${c.denseMs.toFixed(3)} | ${c.raggedMs.toFixed(3)} | ${
          (c.denseMs / c.raggedMs).toFixed(2)
        }x | ${c.denseGBs.toFixed(0)} (${c.denseCopyGBs.toFixed(0)}, ${pct(c.denseGBs, c.denseCopyGBs)}) | ${
          c.raggedGBs.toFixed(0)
        } (${c.raggedCopyGBs.toFixed(0)}, ${pct(c.raggedGBs, c.raggedCopyGBs)}) |`,
      );
    }
    lines.push("");
  }
  const d = r.decode;
  if (d) {
    const lukvName = `lukv@${r.ratio}`;
    lines.push(
      `End to end: ${
        r.model === "8b" ? "Llama-3.1-8B-shaped" : `${r.model}`
      } model, random ${d.weightDtype} ` +
        `weights (${(d.parameters / 1e9).toFixed(2)}B parameters, made on the device in ${
          (d.buildMs / 1000).toFixed(1)
        } s), ${d.context}-token prompt, greedy decode; lukv with the uniform stand-in profile (SnapKV scores).` +
        (d.contextNote ? ` Context shrunk: ${d.contextNote}.` : ""),
      "",
      `| | full | ${lukvName} |`,
      "|---|---:|---:|",
      `| prefill | ${(d.full.prefillMs / 1000).toFixed(2)} s | ${(d.lukv.prefillMs / 1000).toFixed(2)} s |`,
      `| compression (share of the dense prefill) | - | ${(d.lukv.compressionMs! / 1000).toFixed(2)} s (${
        (100 * d.lukv.compressionMs! / d.full.prefillMs).toFixed(1)
      }%) |`,
      `| decode tokens/s | ${d.full.decodeTokensPerSecond.toFixed(1)} | ${
        d.lukv.decodeTokensPerSecond.toFixed(1)
      } |`,
      `| KV cache | ${gib(d.full.kvBytes)} | ${gib(d.lukv.kvBytes)} |`,
      `| peak lukv allocations (weights ${gib(d.weightBytes)} included) | ${gib(d.full.peakBytes)} | ${
        gib(d.lukv.peakBytes)
      } |`,
      `| device memory in use after the run (driver) | ${gib(d.full.deviceUsedBytes)} | ${
        gib(d.lukv.deviceUsedBytes)
      } |`,
      "",
      `Dense prefill calibration: ${
        d.calibration.map(([t, ms]) => `${t} tokens ${(ms / 1000).toFixed(2)} s`).join(", ")
      }.`,
      "",
    );
  }
  if (r.failures.length > 0) lines.push(`FAILED: ${r.failures.join("; ")}`, "");
  return lines.join("\n");
}
