/** What the forward pass shows of its work as it goes: the hooks that statistics, probes and oracles attach to. */

import type { Tensor } from "../backend/tensor.ts";

/**
 * Watches one forward run, layer by layer. Every method is optional; tensors are only
 * valid during the call (copy what must be kept). Blocks of rows sit at positions
 * `pos0 ..`; a layer may see several blocks before `layerDone`.
 *
 * @example
 * ```ts
 * const lastOutputs: Float32Array[] = [];
 * const probe: ForwardObserver = {
 *   attentionOutput: (l, out) => lastOutputs[l] = out.rows(out.shape[0] - 1, 1).toHost(),
 * };
 * forward.run(ids, cache, [probe]).close();
 * ```
 */
export interface ForwardObserver {
  /** Pre-RoPE queries `[rows, heads * headDim]` of a block (after q-norm), e.g. for query statistics. */
  queriesBeforeRope?(layer: number, q: Tensor<"f32">, pos0: number): void;
  /** Post-RoPE queries `[rows, heads, headDim]` of a block, once the block's keys and values are in the cache. */
  queriesAfterWrite?(layer: number, q: Tensor<"f32">, pos0: number): void;
  /** Attention outputs `[rows, heads, headDim]` of a block, before the output projection. */
  attentionOutput?(layer: number, out: Tensor<"f32">, pos0: number): void;
  /** Layer `layer` has processed every row of the run (its cache holds them all). */
  layerDone?(layer: number): void;
}
