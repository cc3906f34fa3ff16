/** Rotary position embedding tables: inverse frequencies (with linear or llama3 scaling) and cos/sin rows per position. */

import { CONFIG_LIMITS, type ModelConfig, type RopeScaling } from "./config.ts";

/**
 * The RoPE inverse frequencies of a head of width `headDim`, in float64, Hugging Face
 * semantics: `invFreq[i] = 1 / theta^(2i / headDim)` for `i < headDim / 2`, then
 * - `linear`: every frequency divided by `factor`;
 * - `llama3` (`_compute_llama3_parameters`): with `wavelen = 2π / invFreq[i]`, wavelengths
 *   below `original / highFreqFactor` are kept, those above `original / lowFreqFactor`
 *   are divided by `factor`, and in between `smooth = (original / wavelen - lowFreqFactor)
 *   / (highFreqFactor - lowFreqFactor)` mixes them: `(1 - smooth) * f / factor + smooth * f`.
 *
 * Result shape: `[headDim / 2]`.
 *
 * @example
 * ```ts
 * const invFreq = inverseFrequencies(64, 500000, { type: "linear", factor: 2 }); // Float64Array [32]
 * ```
 */
export function inverseFrequencies(
  headDim: number,
  theta: number,
  scaling: RopeScaling | null = null,
): Float64Array {
  // The bound keeps a config that bypassed parseConfig (random models, benchmarks) from
  // building a table of a billion frequencies.
  if (
    !Number.isSafeInteger(headDim) || headDim <= 0 || headDim % 2 !== 0 || headDim > CONFIG_LIMITS.headDim
  ) {
    throw new RangeError(
      `headDim must be a positive even integer up to ${CONFIG_LIMITS.headDim}, got ${headDim}`,
    );
  }
  if (!(theta > 0) || !Number.isFinite(theta)) {
    throw new RangeError(`theta must be a positive number, got ${theta}`);
  }
  if (scaling !== null && !(scaling.factor > 0)) {
    throw new RangeError(`rope scaling factor must be positive, got ${scaling.factor}`);
  }
  const half = headDim / 2;
  const invFreq = Float64Array.from({ length: half }, (_, i) => 1 / theta ** ((2 * i) / headDim));
  if (scaling?.type === "linear") return invFreq.map((f) => f / scaling.factor);
  if (scaling?.type === "llama3") {
    const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: original } = scaling;
    if (!(highFreqFactor > lowFreqFactor)) {
      throw new RangeError(
        `llama3 highFreqFactor (${highFreqFactor}) must exceed lowFreqFactor (${lowFreqFactor})`,
      );
    }
    const lowFreqWavelen = original / lowFreqFactor;
    const highFreqWavelen = original / highFreqFactor;
    return invFreq.map((f) => {
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < highFreqWavelen) return f;
      if (wavelen > lowFreqWavelen) return f / factor;
      const smooth = (original / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
      return (1 - smooth) * f / factor + smooth * f;
    });
  }
  return invFreq;
}

/** Cos and sin tables for {@linkcode ropeTables}, both `[length, headDim / 2]`, row-major. */
export interface RopeTables {
  /** `cos[p * half + i] = cos(p * invFreq[i])`. */
  cos: Float32Array;
  /** `sin[p * half + i] = sin(p * invFreq[i])`. */
  sin: Float32Array;
}

/**
 * The cos and sin tables `[length, headDim / 2]` for positions `0 .. length - 1`, computed
 * in float64 and rounded to float32: the layout `ops.rope` takes (rotate-half, row p for
 * position p), with the config's scaling already applied.
 *
 * @example
 * ```ts
 * const { cos, sin } = ropeTables(config, 4096); // positions 0 .. 4095, each [4096, headDim / 2]
 * ```
 */
export function ropeTables(
  config: Pick<ModelConfig, "headDim" | "ropeTheta" | "ropeScaling">,
  length: number,
): RopeTables {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`length must be a non-negative integer, got ${length}`);
  }
  const invFreq = inverseFrequencies(config.headDim, config.ropeTheta, config.ropeScaling);
  const half = invFreq.length;
  const cos = new Float32Array(length * half);
  const sin = new Float32Array(length * half);
  for (let p = 0; p < length; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * invFreq[i];
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}
