/** The pipeline's smallest steps: run tokens through the model onto a cache, and read the last row's logits. */

import type { Tensor } from "../backend/tensor.ts";
import type { KvCache } from "../cache/kv_cache.ts";
import type { RunnableModel } from "../model/model.ts";
import type { ForwardObserver } from "../model/observer.ts";

/**
 * Appends `ids` to `cache` in one forward (any cache, any number of rows) and returns
 * the logits `[vocab]` of the last one.
 *
 * @example
 * ```ts
 * const logits = append(model, cache, question); // the question appended to a compressed cache
 * ```
 */
export function append(
  model: RunnableModel,
  cache: KvCache,
  ids: Int32Array,
  observers: readonly ForwardObserver[] = [],
): Float32Array {
  return lastLogits(model, model.forward.run(ids, cache, observers));
}

/**
 * The logits `[vocab]` of the last row of final-normed hidden states `[T, hidden]`,
 * which it frees.
 *
 * @example
 * ```ts
 * const logits = lastLogits(model, model.forward.run(ids, cache));
 * ```
 */
export function lastLogits(model: RunnableModel, hidden: Tensor<"f32">): Float32Array {
  using owned = hidden;
  return model.forward.logits(owned.rows(owned.shape[0] - 1, 1));
}
