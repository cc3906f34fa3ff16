/** A press: a scorer, an allocator and the protected tokens, applied to one layer's cache at the end of prefill. */

import { LukvError, STATUS } from "../backend/errors.ts";
import type { Scorer } from "./scorers/scorer.ts";
import { protectedCount, type Protections } from "./select.ts";

/** The model-side extents an allocation needs. */
export interface PressShape {
  /** Decoder layers. */
  layers: number;
  /** KV heads per layer. */
  kvHeads: number;
  /** Tokens in the cache being compressed. */
  length: number;
  /** Tokens the protections keep in every head (a floor under every count). */
  protectedTokens?: number;
}

/**
 * Raw per-head keep counts of one layer: `scores` `[kvHeads, length]` (protected tokens
 * already at +Infinity) at a compression ratio in (0, 1).
 */
export type LayerAllocator = (
  layer: number,
  scores: Float32Array,
  shape: PressShape,
  ratio: number,
) => Int32Array;

/**
 * A KV-cache compression policy. `full` has no scorer and never compresses.
 *
 * @example
 * ```ts
 * const press = makePress("snapkv");
 * const counts = press.allocate(0, scores, { layers: 16, kvHeads: 8, length: 4096 }, 0.8);
 * ```
 */
export interface Press {
  /** Preset name, e.g. `"snapkv"`. */
  readonly name: string;
  /** The token scorer, or null for no compression. */
  readonly scorer: Scorer | null;
  /** Tokens every head keeps. */
  readonly protections: Protections;
  /**
   * Keep counts `[kvHeads]` of one layer, each within [protected tokens, length];
   * ratio 0 keeps everything.
   */
  allocate(layer: number, scores: Float32Array, shape: PressShape, ratio: number): Int32Array;
}

/**
 * Builds a press from its parts; counts are clamped so the protected tokens always fit.
 *
 * @example
 * ```ts
 * const press = scoredPress("snapkv", snapKvScorer(), uniformLayerKeep, { sink: 4, window: 32 });
 * ```
 */
export function scoredPress(
  name: string,
  scorer: Scorer,
  allocator: LayerAllocator,
  protections: Protections,
): Press {
  for (const [key, value] of Object.entries(protections)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new LukvError(
        "press",
        STATUS.INVALID_ARGUMENT,
        `${key} must be a non-negative integer, got ${value}`,
      );
    }
  }
  return {
    name,
    scorer,
    protections,
    allocate(layer, scores, shape, ratio) {
      checkRatio(ratio);
      if (ratio === 0) return new Int32Array(shape.kvHeads).fill(shape.length);
      const floor = protectedCount(shape.length, protections);
      return allocator(layer, scores, { ...shape, protectedTokens: floor }, ratio).map((count) =>
        Math.min(shape.length, Math.max(floor, count))
      );
    },
  };
}

/**
 * The press that keeps everything.
 *
 * @example
 * ```ts
 * model.generate(prompt, { press: fullPress() });
 * ```
 */
export function fullPress(): Press {
  return {
    name: "full",
    scorer: null,
    protections: { sink: 0, window: 0 },
    allocate: (_layer, _scores, shape, ratio) => {
      checkRatio(ratio);
      return new Int32Array(shape.kvHeads).fill(shape.length);
    },
  };
}

/**
 * Compression ratios lie in [0, 1): the fraction of KV pairs removed.
 *
 * @example
 * ```ts
 * checkRatio(0.8);
 * ```
 */
export function checkRatio(ratio: number): void {
  if (!(ratio >= 0 && ratio < 1)) {
    throw new LukvError(
      "press",
      STATUS.INVALID_ARGUMENT,
      `compression ratio must lie in [0, 1), got ${ratio}`,
    );
  }
}
