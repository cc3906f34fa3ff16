/** A press: a scorer, an allocator and the protected tokens, applied to one layer's scores in one place. */

import { LukvError, STATUS } from "../backend/errors.ts";
import { checkCompressionRatio } from "../lukv/tables.ts";
import type { KeptTokens } from "../cache/ragged.ts";
import type { Scorer } from "./scorers/scorer.ts";
import { keptIndices, protectedCount, type Protections } from "./select.ts";

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
 * at +Infinity) at a compression ratio in (0, 1).
 */
export type LayerAllocator = (
  layer: number,
  scores: Float32Array,
  shape: PressShape,
  ratio: number,
) => Int32Array;

/** What a press keeps of one layer. */
export interface LayerSelection {
  /** Keep counts `[kvHeads]`. */
  counts: Int32Array;
  /** The kept positions of each head. */
  kept: KeptTokens;
}

/**
 * A KV-cache compression policy: a scorer with its parameters, an allocator and the
 * protected tokens. `full` has no scorer and never compresses.
 *
 * @example
 * ```ts
 * const press = makePress("adakv-expected-attention");
 * const { counts, kept } = press.select(0, scores, { layers: 16, kvHeads: 8, length: 4096 }, 0.8);
 * ```
 */
export interface Press {
  /** The name it was made from, e.g. `"adakv-expected-attention"`. */
  readonly name: string;
  /** The token scorer, or null for no compression. */
  readonly scorer: Scorer | null;
  /** The allocator's name: `uniform`, `adakv`, `pyramidkv`, `lukv`, or `none` for `full`. */
  readonly allocator: string;
  /** Tokens every head keeps. */
  readonly protections: Protections;
  /** Keep counts `[kvHeads]` of one layer, each within [protected tokens, length]; ratio 0 keeps all. */
  allocate(layer: number, scores: Float32Array, shape: PressShape, ratio: number): Int32Array;
  /**
   * The one place a press is applied: the protected positions rank first, the allocator
   * sets the counts, and each head keeps its highest-scored tokens (ties: earlier first).
   * `scores` `[kvHeads, length]` are left as they are, so presses can share them.
   */
  select(layer: number, scores: Float32Array, shape: PressShape, ratio: number): LayerSelection;
}

/**
 * Builds a press from its parts; counts are clamped so the protected tokens always fit.
 *
 * @example
 * ```ts
 * const press = scoredPress("snapkv", snapKvScorer(), "uniform", uniformLayerKeep, { sink: 4, window: 32 });
 * ```
 */
export function scoredPress(
  name: string,
  scorer: Scorer,
  allocatorName: string,
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
  const allocate: Press["allocate"] = (layer, scores, shape, ratio) => {
    checkCompressionRatio(ratio);
    if (ratio === 0) return new Int32Array(shape.kvHeads).fill(shape.length);
    const floor = protectedCount(shape.length, protections);
    return allocator(layer, scores, { ...shape, protectedTokens: floor }, ratio).map((count) =>
      Math.min(shape.length, Math.max(floor, count))
    );
  };
  return {
    name,
    scorer,
    allocator: allocatorName,
    protections,
    allocate,
    select(layer, scores, shape, ratio) {
      const { kvHeads, length } = shape;
      if (scores.length !== kvHeads * length) {
        throw new RangeError(
          `layer ${layer}: ${scores.length} scores, expected ${kvHeads} heads x ${length} tokens`,
        );
      }
      const ranked = Float32Array.from(scores);
      const { sink, window } = protections;
      for (let h = 0; h < kvHeads; h++) {
        ranked.fill(Infinity, h * length, h * length + Math.min(sink, length));
        ranked.fill(Infinity, h * length + Math.max(0, length - window), (h + 1) * length);
      }
      const counts = allocate(layer, ranked, shape, ratio);
      return { counts, kept: keptIndices(ranked, counts, length, protections) };
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
  const allocate: Press["allocate"] = (_layer, _scores, shape, ratio) => {
    checkCompressionRatio(ratio);
    return new Int32Array(shape.kvHeads).fill(shape.length);
  };
  return {
    name: "full",
    scorer: null,
    allocator: "none",
    protections: { sink: 0, window: 0 },
    allocate,
    select(layer, scores, shape, ratio) {
      const counts = allocate(layer, scores, shape, ratio);
      const offsets = Int32Array.from({ length: shape.kvHeads + 1 }, (_, h) => h * shape.length);
      const indices = Int32Array.from({ length: shape.kvHeads * shape.length }, (_, i) => i % shape.length);
      return { counts, kept: { indices, offsets } };
    },
  };
}
