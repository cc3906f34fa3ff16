/**
 * Decode attention over the compressed (ragged) KV cache against dense decode attention
 * over the full one, as ratios within one run: every KV head keeps 20% of the context
 * (random kept rows, compacted with kvGather), 32 query heads over 8 KV heads, contexts
 * 4K, 16K and 64K at head_dim 64 and 128. Each group also times a device memcpy moving
 * as many bytes as the ragged attention reads (its K buffer: read once, written once),
 * so `deno task bench:report cache` can set the achieved GB/s against the copy GB/s of
 * the same run. LUKV_BENCH_DEVICE=cpu|cuda|auto picks the device (default auto).
 *
 * ```sh
 * deno bench --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/cache.bench.ts
 * ```
 */

import { type DeviceRequest, openDevice, ops } from "../mod.ts";
import { CACHE_CASES, cacheGroup, cacheName, keptRows, spreadKeptLayout } from "./cases.ts";

const dev = await openDevice((Deno.env.get("LUKV_BENCH_DEVICE") ?? "auto") as DeviceRequest);
console.error(`device: ${dev.selection}`);

function filled(shape: number[]) {
  const tensor = dev.empty("f32", shape);
  const data = new Float32Array(tensor.size);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i) * 0.5;
  return tensor.copyFrom(data);
}

for (const c of CACHE_CASES) {
  const group = cacheGroup(c);
  const { context, headDim, qHeads, kvHeads } = c;
  const kept = keptRows(c);
  const kDense = filled([kvHeads, context, headDim]), vDense = filled([kvHeads, context, headDim]);
  const { indices, indexOffsets, offsets, lengths, rows } = spreadKeptLayout(kvHeads, context, kept);
  const k = dev.zeros("f32", [rows, headDim]), v = dev.zeros("f32", [rows, headDim]);
  ops.kvGather(k, kDense, indices, indexOffsets, offsets);
  ops.kvGather(v, vDense, indices, indexOffsets, offsets);
  const q = filled([qHeads, headDim]), out = dev.empty("f32", [qHeads, headDim]);
  const copy = dev.empty("f32", [rows, headDim]);
  const slow = context >= 65536 && dev.kind === "cpu" ? { n: 30, warmup: 3 } : {};

  Deno.bench(cacheName(c, "dense decode, all tokens"), { group, baseline: true, ...slow }, () => {
    ops.attentionDecode(out, q, kDense, vDense, context);
    dev.synchronize();
  });
  Deno.bench(cacheName(c, `ragged decode, ${kept} of ${context} kept`), { group, ...slow }, () => {
    ops.attentionDecodeRagged(out, q, k, v, offsets, lengths);
    dev.synchronize();
  });
  // Copying the kept K rows reads and writes as many bytes as ragged attention reads from K and V.
  const copyBytes = BigInt(kvHeads * kept * headDim * 4);
  Deno.bench(cacheName(c, "memcpy of the ragged read's bytes"), { group, ...slow }, () => {
    dev.check("lukv_copy_device", dev.symbols.lukv_copy_device(copy.pointer, k.pointer, copyBytes, null));
    dev.synchronize();
  });
}
