/**
 * `deno task demo`: the backend at work on a Llama-3.2-1B-shaped decoder layer with
 * random weights: a prefill, then greedy-style decode steps over a dense KV cache,
 * with throughput and the device memory actually held. The embedded trained model
 * (and real text) replaces the random layer once it ships (issues 4 and 5).
 */

import { parseArgs } from "node:util";
import { type Device, type DeviceRequest, openDevice, ops, type Tensor } from "../../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    device: { type: "string", default: "auto" },
    prompt: { type: "string", default: "512" },
    steps: { type: "string", default: "32" },
  },
});
const promptTokens = Number(values.prompt), steps = Number(values.steps);
if (!Number.isInteger(promptTokens) || promptTokens < 1 || !Number.isInteger(steps) || steps < 0) {
  throw new RangeError("--prompt must be a positive integer and --steps a non-negative integer");
}

const shape = { hidden: 2048, heads: 32, kvHeads: 8, headDim: 64, mlp: 8192 };
using dev = await openDevice(values.device as DeviceRequest);
console.log(`device: ${dev.selection}`);

/** Random weights with the scale of a trained layer (1 / sqrt(fan-in)). */
function weight(d: Device, rows: number, cols: number): Tensor {
  const data = new Float32Array(rows * cols);
  const scale = 1 / Math.sqrt(cols);
  for (let i = 0; i < data.length; i++) data[i] = (Math.random() * 2 - 1) * scale;
  return d.fromArray("f32", data, [rows, cols]);
}

const { hidden, heads, kvHeads, headDim, mlp } = shape;
const capacity = promptTokens + steps;
using wq = weight(dev, heads * headDim, hidden), wk = weight(dev, kvHeads * headDim, hidden);
using wv = weight(dev, kvHeads * headDim, hidden), wo = weight(dev, hidden, heads * headDim);
using wGate = weight(dev, mlp, hidden), wUp = weight(dev, mlp, hidden), wDown = weight(dev, hidden, mlp);
using norm = dev.empty("f32", [hidden]).fill(1);
using kCache = dev.zeros("f32", [kvHeads, capacity, headDim]),
  vCache = dev.zeros("f32", [kvHeads, capacity, headDim]);
const half = headDim / 2;
const angles = Float32Array.from(
  { length: capacity * half },
  (_, i) => Math.floor(i / half) * 500000 ** (-(i % half) / half),
);
using cos = dev.fromArray("f32", angles.map(Math.cos), [capacity, half]);
using sin = dev.fromArray("f32", angles.map(Math.sin), [capacity, half]);

/** One decoder layer over `tokens` new positions starting at `pos0`; x [tokens, hidden] is updated in place. */
function layer(x: Tensor, tokens: number, pos0: number): void {
  using h = dev.empty("f32", [tokens, hidden]);
  using q = dev.empty("f32", [tokens, heads * headDim]), k = dev.empty("f32", [tokens, kvHeads * headDim]);
  using v = dev.empty("f32", [tokens, kvHeads * headDim]), attn = dev.empty("f32", [tokens, heads * headDim]);
  ops.rmsnorm(h, x, norm, 1e-5);
  ops.matmul(q, h, wq);
  ops.matmul(k, h, wk);
  ops.matmul(v, h, wv);
  const q3 = q.reshape([tokens, heads, headDim]), k3 = k.reshape([tokens, kvHeads, headDim]);
  const v3 = v.reshape([tokens, kvHeads, headDim]);
  ops.rope(q3, cos, sin, pos0);
  ops.rope(k3, cos, sin, pos0);
  ops.kvWrite(kCache, k3, pos0);
  ops.kvWrite(vCache, v3, pos0);
  ops.attentionPrefill(attn.reshape([tokens, heads, headDim]), q3, kCache, vCache, pos0 + tokens);
  ops.matmul(h, attn, wo);
  ops.add(x, x, h);
  using gate = dev.empty("f32", [tokens, mlp]), up = dev.empty("f32", [tokens, mlp]);
  ops.rmsnorm(h, x, norm, 1e-5);
  ops.matmul(gate, h, wGate);
  ops.matmul(up, h, wUp);
  ops.siluMul(gate, gate, up);
  ops.matmul(h, gate, wDown);
  ops.add(x, x, h);
}

const start = performance.now();
using prompt = weight(dev, promptTokens, hidden);
layer(prompt, promptTokens, 0);
dev.synchronize();
const prefillMs = performance.now() - start;
const decodeStart = performance.now();
for (let step = 0; step < steps; step++) {
  using x = weight(dev, 1, hidden);
  layer(x, 1, promptTokens + step);
}
dev.synchronize();
const decodeMs = performance.now() - decodeStart;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
console.log(`prefill ${promptTokens} tokens through one layer: ${prefillMs.toFixed(1)} ms`);
if (steps > 0) console.log(`decode ${steps} steps: ${(decodeMs / steps).toFixed(2)} ms/step`);
console.log(
  `KV cache (dense, one layer): ${mib(kCache.byteLength + vCache.byteLength)}; device memory held: ${
    mib(dev.liveBytes())
  }`,
);
