/** A KV cache wrapper that records each layer's attention output at one position, for the attention-output error. */

import type { Tensor } from "../backend/tensor.ts";
import type { KvCache, LayerKv } from "../cache/kv_cache.ts";

/**
 * Runs like `inner` (every call and hook is passed through) and keeps a host copy of
 * each layer's attention output `[heads * headDim]` (before the output projection) at
 * absolute position `position`. Closing the probe does not close `inner`.
 *
 * @example
 * ```ts
 * const probe = new AttentionProbe(cache, cache.length + question.length - 1);
 * forward.run(question, probe).close();
 * probe.outputs[0]; // Float32Array [heads * headDim] of layer 0 at the question's last token
 * ```
 */
export class AttentionProbe implements KvCache {
  /** Per layer, the attention output at `position` (filled as the forward reaches it). */
  readonly outputs: Float32Array[] = [];

  /** Wraps `inner`, watching `position`. */
  constructor(readonly inner: KvCache, readonly position: number) {}

  /** The inner cache's length. */
  get length(): number {
    return this.inner.length;
  }

  /** The inner cache's row limit. */
  get maxRows(): number {
    return this.inner.maxRows;
  }

  /** Passed through. */
  reserve(count: number): void {
    this.inner.reserve(count);
  }

  /** Passed through. */
  layer(l: number): LayerKv {
    return this.inner.layer(l);
  }

  /** Passed through. */
  advance(count: number): void {
    this.inner.advance(count);
  }

  /** Passed through. */
  bytes(): number {
    return this.inner.bytes();
  }

  /** Passed through. */
  queriesBeforeRope(l: number, q: Tensor<"f32">, pos0: number): void {
    this.inner.queriesBeforeRope?.(l, q, pos0);
  }

  /** Passed through. */
  queriesAfterWrite(l: number, q: Tensor<"f32">, pos0: number): void {
    this.inner.queriesAfterWrite?.(l, q, pos0);
  }

  /** Keeps the row at `position` when the block holds it; then passes through. */
  attentionOutput(l: number, out: Tensor<"f32">, pos0: number): void {
    const row = this.position - pos0;
    if (row >= 0 && row < out.shape[0]) this.outputs[l] = Float32Array.from(out.rows(row, 1).toHost());
    this.inner.attentionOutput?.(l, out, pos0);
  }

  /** Passed through. */
  endLayer(l: number): void {
    this.inner.endLayer?.(l);
  }

  /** Leaves the inner cache open: the probe only watches. */
  close(): void {}

  /** Called by `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
