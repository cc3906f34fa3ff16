/** What the forward pass needs of a KV cache: storage with per-layer writes and attention, nothing more. */

import type { Tensor } from "../backend/tensor.ts";

/**
 * One layer's view of a cache, for a block of rows at positions `pos0 ..`.
 *
 * @example
 * ```ts
 * const kv = cache.layer(l);
 * kv.write(k, v, pos0);        // k, v [rows, kvHeads, headDim]
 * kv.attend(out, q, pos0);     // q, out [rows, heads, headDim]
 * ```
 */
export interface LayerKv {
  /** Stores the new rows' keys (after RoPE) and values, `[rows, kvHeads, headDim]`. */
  write(k: Tensor<"f32">, v: Tensor<"f32">, pos0: number): void;
  /** Causal attention of `q` `[rows, heads, headDim]` over the layer's cache, which already holds the new rows. */
  attend(out: Tensor<"f32">, q: Tensor<"f32">, pos0: number): void;
}

/**
 * A KV cache the forward pass can run on: dense or ragged (compressed). Storage only:
 * whatever watches the forward (scoring statistics, probes, oracles) is a
 * `ForwardObserver` passed to the run, never a hook on the cache.
 */
export interface KvCache extends Disposable {
  /** Tokens held (the next position). */
  readonly length: number;
  /** Throws when `count` more tokens cannot fit. */
  reserve(count: number): void;
  /** The view of layer `l`. */
  layer(l: number): LayerKv;
  /** Called once every layer has processed `count` new tokens. */
  advance(count: number): void;
  /** Real bytes allocated for keys and values. */
  bytes(): number;
  /** Frees the cache's memory; harmless twice. */
  close(): void;
}
