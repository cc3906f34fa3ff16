/** The extents of a model that scorers, presses and caches need: layers, heads, head size, RoPE frequencies. */

import type { KvShape } from "../cache/dense.ts";
import type { ModelConfig } from "./config.ts";
import { inverseFrequencies } from "./rope.ts";

/** A model's attention extents. */
export interface ScoringShape extends KvShape {
  /** Query heads. */
  heads: number;
  /** RoPE inverse frequencies `[headDim / 2]` (Expected Attention rotates query statistics with them). */
  inverseFrequencies: Float64Array;
}

/**
 * The extents scorers and presses need, from a model's config. For code that holds a
 * config but no `Model` (random models, benchmarks); a model has it as `scoringShape`.
 *
 * @example
 * ```ts
 * const shape = scoringShapeOf(config); // { layers, heads, kvHeads, headDim, inverseFrequencies }
 * ```
 */
export function scoringShapeOf(config: ModelConfig): ScoringShape {
  const { layers, heads, kvHeads, headDim, ropeTheta, ropeScaling } = config;
  return {
    layers,
    heads,
    kvHeads,
    headDim,
    inverseFrequencies: inverseFrequencies(headDim, ropeTheta, ropeScaling),
  };
}
