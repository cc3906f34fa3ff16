/** A forward observer that records each layer's attention output at one position, for the attention-output error. */

import type { Tensor } from "../backend/tensor.ts";
import type { ForwardObserver } from "../model/observer.ts";

/**
 * Keeps a host copy of each layer's attention output `[heads * headDim]` (before the
 * output projection) at absolute position `position`.
 *
 * @example
 * ```ts
 * const probe = new AttentionProbe(cache.length + question.length - 1);
 * forward.run(question, cache, [probe]).close();
 * probe.outputs[0]; // Float32Array [heads * headDim] of layer 0 at the question's last token
 * ```
 */
export class AttentionProbe implements ForwardObserver {
  /** Per layer, the attention output at `position` (filled as the forward reaches it). */
  readonly outputs: Float32Array[] = [];

  /** Watches `position`. */
  constructor(readonly position: number) {}

  /** Keeps the row at `position` when the block holds it. */
  attentionOutput(l: number, out: Tensor<"f32">, pos0: number): void {
    const row = this.position - pos0;
    if (row >= 0 && row < out.shape[0]) this.outputs[l] = Float32Array.from(out.rows(row, 1).toHost());
  }
}
