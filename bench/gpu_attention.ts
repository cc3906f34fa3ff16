/** Part (a) of bench/gpu.ts: ragged decode attention (20% kept) against dense, and both against a device copy of the same bytes. */

import type { Device } from "../src/backend/device.ts";
import * as ops from "../src/backend/ops.ts";
import type { Tensor } from "../src/backend/tensor.ts";
import { spreadKeptLayout } from "./cases.ts";

/** One context length's result; times are per call, bandwidths in GB/s (1e9 bytes). */
export interface AttentionResult {
  context: number;
  keptPerHead: number;
  qHeads: number;
  kvHeads: number;
  headDim: number;
  /** Bytes one call must read: all K and V rows (dense), the kept ones (ragged). */
  denseBytes: number;
  raggedBytes: number;
  denseMs: number;
  raggedMs: number;
  /** Copies of denseBytes / raggedBytes (K and V, one call each). */
  denseCopyMs: number;
  raggedCopyMs: number;
  /** Bytes read over time. */
  denseGBs: number;
  raggedGBs: number;
  /** Bytes read plus written over time. */
  denseCopyGBs: number;
  raggedCopyGBs: number;
}

/** Fixed shape of part (a): Llama-3.1-8B's attention. */
const SHAPE = { qHeads: 32, kvHeads: 8, headDim: 128 };
const KEPT = 0.2;
/** Buffer sets the timed loops rotate over, so that no input stays in L2 between calls. */
const SETS = 4;

/** One rotation slot: dense and ragged K/V, and copy destinations as large as the dense read. */
interface BufferSet {
  kDense: Tensor<"f32">;
  vDense: Tensor<"f32">;
  kRagged: Tensor<"f32">;
  vRagged: Tensor<"f32">;
  kCopy: Tensor<"f32">;
  vCopy: Tensor<"f32">;
}

/**
 * Times `call(set)` back to back over the buffer sets, without a synchronize between calls
 * (so host launch costs overlap device work), and returns the median milliseconds per
 * call over `batches` batches of enough calls to last about `batchMs` each.
 */
export function timePerCall(dev: Device, call: (set: number) => void, batchMs = 40, batches = 5): number {
  for (let i = 0; i < SETS; i++) call(i);
  dev.synchronize();
  let start = performance.now();
  call(0);
  dev.synchronize();
  const once = Math.max(performance.now() - start, 1e-3);
  const reps = Math.max(SETS, Math.min(2000, Math.ceil(batchMs / once)));
  const times: number[] = [];
  for (let b = 0; b < batches; b++) {
    start = performance.now();
    for (let r = 0; r < reps; r++) call(r % SETS);
    dev.synchronize();
    times.push((performance.now() - start) / reps);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(batches / 2)];
}

/**
 * Decode attention of one query (32 query heads over 8 KV heads of 128) over `context`
 * tokens: dense over every row, ragged over 20% of each head's rows (compacted with
 * kvGather, evenly spread), and device copies of the same byte counts. Inputs are random
 * (fillRandom), never zeros.
 *
 * @example
 * ```ts
 * const result = benchAttention(dev, 32768, console.error);
 * ```
 */
export function benchAttention(dev: Device, context: number, log: (line: string) => void): AttentionResult {
  const { qHeads, kvHeads, headDim } = SHAPE;
  const kept = Math.round(KEPT * context);
  const { indices, indexOffsets, offsets, lengths, rows } = spreadKeptLayout(kvHeads, context, kept);
  const owned: Tensor[] = [];
  const make = (shape: number[], seed: number) => {
    const t = dev.empty("f32", shape);
    owned.push(t);
    ops.fillRandom(t, seed, 1);
    return t;
  };
  try {
    const sets: BufferSet[] = Array.from({ length: SETS }, (_, s) => {
      const kDense = make([kvHeads, context, headDim], 10 * s + 1);
      const vDense = make([kvHeads, context, headDim], 10 * s + 2);
      const kRagged = make([rows, headDim], 10 * s + 3), vRagged = make([rows, headDim], 10 * s + 4);
      ops.kvGather(kRagged, kDense, indices, indexOffsets, offsets);
      ops.kvGather(vRagged, vDense, indices, indexOffsets, offsets);
      const kCopy = make([kvHeads, context, headDim], 10 * s + 5);
      const vCopy = make([kvHeads, context, headDim], 10 * s + 6);
      return { kDense, vDense, kRagged, vRagged, kCopy, vCopy };
    });
    const q = make([qHeads, headDim], 99), out = make([qHeads, headDim], 98);
    const denseBytes = 2 * kvHeads * context * headDim * 4;
    const raggedBytes = 2 * kvHeads * kept * headDim * 4;
    // The copy reads what the attention reads (from the same buffers) and writes as much.
    const copy = (k: Tensor, v: Tensor, set: BufferSet, bytes: number) => {
      const half = BigInt(bytes / 2);
      dev.check("lukv_copy_device", dev.symbols.lukv_copy_device(set.kCopy.pointer, k.pointer, half, null));
      dev.check("lukv_copy_device", dev.symbols.lukv_copy_device(set.vCopy.pointer, v.pointer, half, null));
    };
    const denseMs = timePerCall(
      dev,
      (s) => ops.attentionDecode(out, q, sets[s].kDense, sets[s].vDense, context),
    );
    const raggedMs = timePerCall(
      dev,
      (s) => ops.attentionDecodeRagged(out, q, sets[s].kRagged, sets[s].vRagged, offsets, lengths),
    );
    const denseCopyMs = timePerCall(dev, (s) => copy(sets[s].kDense, sets[s].vDense, sets[s], denseBytes));
    const raggedCopyMs = timePerCall(
      dev,
      (s) => copy(sets[s].kRagged, sets[s].vRagged, sets[s], raggedBytes),
    );
    const gbs = (bytes: number, ms: number) => bytes / ms / 1e6;
    const result: AttentionResult = {
      context,
      keptPerHead: kept,
      ...SHAPE,
      denseBytes,
      raggedBytes,
      denseMs,
      raggedMs,
      denseCopyMs,
      raggedCopyMs,
      denseGBs: gbs(denseBytes, denseMs),
      raggedGBs: gbs(raggedBytes, raggedMs),
      denseCopyGBs: gbs(2 * denseBytes, denseCopyMs),
      raggedCopyGBs: gbs(2 * raggedBytes, raggedCopyMs),
    };
    log(
      `attention ${context}: dense ${denseMs.toFixed(4)} ms (${result.denseGBs.toFixed(0)} GB/s), ` +
        `ragged ${raggedMs.toFixed(4)} ms (${result.raggedGBs.toFixed(0)} GB/s), copies ` +
        `${result.denseCopyGBs.toFixed(0)} / ${result.raggedCopyGBs.toFixed(0)} GB/s (read + write)`,
    );
    return result;
  } finally {
    for (const t of owned) t.close();
  }
}
