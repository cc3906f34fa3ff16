/** The LU-KV allocator: per-head counts from a profile's budget table, by the rounding rule of DESIGN.md 7.7. */

import { LukvError, STATUS } from "../../backend/errors.ts";
import { keepCounts } from "../../lukv/budgets.ts";
import type { Profile } from "../../lukv/profile.ts";

/**
 * Checks that a profile was made for a model of this shape, naming both shapes when not.
 *
 * @example
 * ```ts
 * checkProfileShape(profile, { layers: 16, kvHeads: 8 });
 * ```
 */
export function checkProfileShape(profile: Profile, model: { layers: number; kvHeads: number }): void {
  const { layers, kvHeads } = profile.model;
  if (layers !== model.layers || kvHeads !== model.kvHeads) {
    throw new LukvError(
      "lukv",
      STATUS.SHAPE,
      `profile "${profile.model.id}" is for ${layers} layers x ${kvHeads} KV heads, but the model has ` +
        `${model.layers} layers x ${model.kvHeads} KV heads; profile this model (deno task profile)`,
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
