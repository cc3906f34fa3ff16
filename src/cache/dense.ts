/** The dense KV cache: per layer one K and one V tensor `[kvHeads, capacity, headDim]`, keys stored after RoPE. */

import type { Device } from "../backend/device.ts";
import { LukvError, STATUS } from "../backend/errors.ts";
import * as ops from "../backend/ops.ts";
import type { Tensor } from "../backend/tensor.ts";
import type { KvCache, LayerKv } from "./kv_cache.ts";

/** The extents of a KV cache. */
export interface KvShape {
  /** Decoder layers. */
  layers: number;
  /** KV heads per layer. */
  kvHeads: number;
  /** Dimension of one head. */
  headDim: number;
}

/**
 * A full (uncompressed) KV cache with room for `capacity` tokens per head. Every head
 * holds the same tokens, `0 .. length - 1`.
 *
 * @example
 * ```ts
 * using cache = new DenseKvCache(dev, { layers: 16, kvHeads: 8, headDim: 64 }, 4096);
 * console.log(cache.bytes()); // 2 * 16 * 8 * 4096 * 64 * 4
 * ```
 */
export class DenseKvCache implements KvCache {
  /** Keys per layer, `[kvHeads, capacity, headDim]` f32. */
  readonly keys: Tensor<"f32">[] = [];
  /** Values per layer, `[kvHeads, capacity, headDim]` f32. */
  readonly values: Tensor<"f32">[] = [];
  /** Tokens held (the same for every head). */
  length = 0;

  /** Allocates `2 * layers` tensors of `[kvHeads, capacity, headDim]`. */
  constructor(readonly device: Device, readonly shape: KvShape, readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`KV cache capacity must be a positive integer, got ${capacity}`);
    }
    try {
      for (let l = 0; l < shape.layers; l++) {
        this.keys.push(device.empty("f32", [shape.kvHeads, capacity, shape.headDim]));
        this.values.push(device.empty("f32", [shape.kvHeads, capacity, shape.headDim]));
      }
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /** Checks there is room for `count` more tokens; a LukvError when the cache would overflow. */
  reserve(count: number): void {
    if (this.length + count > this.capacity) {
      throw new LukvError(
        "kv cache",
        STATUS.SHAPE,
        `cannot append ${count} tokens to ${this.length} of capacity ${this.capacity}`,
      );
    }
  }

  /** Layer `l`'s view: writes rows with `kvWrite`, attends with the dense kernels. */
  layer(l: number): LayerKv {
    const keys = this.keys[l], values = this.values[l];
    return {
      write: (k, v, pos0) => {
        ops.kvWrite(keys, k, pos0);
        ops.kvWrite(values, v, pos0);
      },
      attend: (out, q, pos0) => {
        const [rows, heads, headDim] = q.shape;
        if (rows === 1) {
          ops.attentionDecode(
            out.reshape([heads, headDim]),
            q.reshape([heads, headDim]),
            keys,
            values,
            pos0 + 1,
          );
        } else {
          ops.attentionPrefill(out, q, keys, values, pos0 + rows);
        }
      },
    };
  }

  /** Records `count` new tokens once every layer holds them. */
  advance(count: number): void {
    this.length += count;
  }

  /** Bytes really allocated for keys and values. */
  bytes(): number {
    return [...this.keys, ...this.values].reduce((sum, t) => sum + t.byteLength, 0);
  }

  /** Frees every tensor; harmless twice. */
  close(): void {
    for (const t of [...this.keys, ...this.values]) t.close();
  }

  /** Called by `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Bytes a dense f32 cache of `tokens` tokens needs: `2 * layers * kvHeads * tokens * headDim * 4`.
 *
 * @example
 * ```ts
 * denseKvBytes({ layers: 32, kvHeads: 8, headDim: 128 }, 8192); // 1 GiB
 * ```
 */
export function denseKvBytes(shape: KvShape, tokens: number): number {
  return 2 * shape.layers * shape.kvHeads * tokens * shape.headDim * 4;
}
