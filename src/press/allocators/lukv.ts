/** The LU-KV allocator: per-head counts from a profile's budget table, by the rounding rule of DESIGN.md 7.7. */

import { LukvError, STATUS } from "../../backend/errors.ts";
import { keepCounts } from "../../lukv/budgets.ts";
import type { Profile } from "../../lukv/profile.ts";

/**
 * Checks that a profile was made for this model: the same shape, and, when both the
 * profile and `model` give one, the same weights fingerprint (a profile of other weights,
 * e.g. from before a retraining, holds budgets measured on other heads). Names both sides
 * when not.
 *
 * @example
 * ```ts
 * checkProfileFits(profile, { layers: 16, kvHeads: 8, weights: model.weightsFingerprint });
 * ```
 */
export function checkProfileFits(
  profile: Profile,
  model: { layers: number; kvHeads: number; weights?: string },
): void {
  const { id, layers, kvHeads, weights } = profile.model;
  if (layers !== model.layers || kvHeads !== model.kvHeads) {
    throw new LukvError(
      "lukv",
      STATUS.SHAPE,
      `profile "${id}" is for ${layers} layers x ${kvHeads} KV heads, but the model has ` +
        `${model.layers} layers x ${model.kvHeads} KV heads; profile this model (deno task profile)`,
    );
  }
  if (weights !== undefined && model.weights !== undefined && weights !== model.weights) {
    throw new LukvError(
      "lukv",
      STATUS.INVALID_ARGUMENT,
      `profile "${id}" was made for other weights (fingerprint ${weights.slice(0, 12)}..., the model's is ` +
        `${model.weights.slice(0, 12)}...); profile these weights again (deno task profile)`,
    );
  }
}

/**
 * Keep counts of one layer's heads at `compressionRatio` for a context of `length` tokens.
 *
 * @returns `[heads]`
 * @example
 * ```ts
 * const counts = luKvLayerKeep(profile, 3, 0.8, 1024);
 * ```
 */
export function luKvLayerKeep(
  profile: Profile,
  layer: number,
  compressionRatio: number,
  length: number,
): Int32Array {
  const { heads } = profile.budgets;
  return keepCounts(profile.budgets, compressionRatio, length).slice(layer * heads, (layer + 1) * heads);
}
