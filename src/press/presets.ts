/** The named presses: one line each, from a scorer and an allocator. */

import { LukvError, STATUS } from "../backend/errors.ts";
import type { Profile } from "../lukv/profile.ts";
import { adaKvKeep } from "./allocators/adakv.ts";
import { luKvLayerKeep } from "./allocators/lukv.ts";
import { pyramidLayerSizes } from "./allocators/pyramidkv.ts";
import { uniformKeep } from "./allocators/uniform.ts";
import { fullPress, type LayerAllocator, type Press, scoredPress } from "./press.ts";
import { expectedAttentionScorer } from "./scorers/expected_attention.ts";
import { h2oScorer } from "./scorers/h2o.ts";
import { keyDiffScorer } from "./scorers/keydiff.ts";
import { knormScorer } from "./scorers/knorm.ts";
import type { Scorer } from "./scorers/scorer.ts";
import { snapKvScorer } from "./scorers/snapkv.ts";
import { streamingScorer } from "./scorers/streaming.ts";
import type { Protections } from "./select.ts";

/** Options of {@linkcode makePress}. */
export interface PressOptions {
  /** Protected leading tokens (default 4; `lukv` takes the profile's). */
  sink?: number;
  /** Protected trailing tokens (default 32; `lukv` takes the profile's). */
  window?: number;
  /** The LU-KV profile (required by `lukv`). */
  profile?: Profile;
  /** For `lukv`: the scorer expected; a profile made with another one is refused. */
  scorer?: string;
}

const uniform: LayerAllocator = (_l, scores, { kvHeads, length }, ratio) =>
  uniformKeep({ layers: 1, heads: kvHeads, length, data: scores }, ratio);
/**
 * PyramidKV shapes the budget beyond the protected tokens (as kvpress leaves its window
 * out of the pyramid), so the protections never push the total over the ratio.
 */
const pyramid: LayerAllocator = (l, _scores, { layers, kvHeads, length, protectedTokens = 0 }, ratio) => {
  const free = (1 - ratio) * length - protectedTokens, room = length - protectedTokens;
  const size = free <= 0
    ? protectedTokens
    : free >= room
    ? length
    : protectedTokens + pyramidLayerSizes(layers, room, 1 - free / room)[l];
  return new Int32Array(kvHeads).fill(size);
};
const adaptive: LayerAllocator = (_l, scores, { kvHeads, length }, ratio) =>
  adaKvKeep({ layers: 1, heads: kvHeads, length, data: scores }, ratio);

/** Scorers by the name profiles record. */
const SCORERS: Record<string, (params: Record<string, number | string | boolean>) => Scorer> = {
  snapkv: (p) => snapKvScorer(p as { window?: number; kernel?: number }),
  "expected-attention": (p) => expectedAttentionScorer(p as { future?: number; epsilon?: number }),
  keydiff: () => keyDiffScorer(),
  knorm: () => knormScorer(),
  h2o: () => h2oScorer(),
  streamingllm: () => streamingScorer(),
};

const PRESETS: Record<string, (protections: Protections, options: PressOptions) => Press> = {
  full: () => fullPress(),
  streamingllm: (p) => scoredPress("streamingllm", streamingScorer(), uniform, p),
  h2o: (p) => scoredPress("h2o", h2oScorer(), uniform, p),
  snapkv: (p) => scoredPress("snapkv", snapKvScorer(), uniform, p),
  pyramidkv: (p) => scoredPress("pyramidkv", snapKvScorer(), pyramid, p),
  adakv: (p) => scoredPress("adakv", snapKvScorer(), adaptive, p),
  "expected-attention": (p) => scoredPress("expected-attention", expectedAttentionScorer(), uniform, p),
  keydiff: (p) => scoredPress("keydiff", keyDiffScorer(), uniform, p),
  knorm: (p) => scoredPress("knorm", knormScorer(), uniform, p),
  lukv: (_p, { profile, scorer: wanted, sink, window }) => {
    if (!profile) throw new LukvError("press", STATUS.INVALID_ARGUMENT, "the lukv press needs a profile");
    const mismatches = [
      wanted !== undefined && wanted !== profile.scorer.name &&
      `scorer ${wanted} (profile: ${profile.scorer.name})`,
      sink !== undefined && sink !== profile.sink && `sink ${sink} (profile: ${profile.sink})`,
      window !== undefined && window !== profile.window && `window ${window} (profile: ${profile.window})`,
    ].filter(Boolean);
    if (mismatches.length > 0) {
      throw new LukvError(
        "press",
        STATUS.INVALID_ARGUMENT,
        `profile "${profile.model.id}" was made with other settings: asked for ${mismatches.join(", ")}`,
      );
    }
    const scorer = SCORERS[profile.scorer.name];
    if (!scorer) {
      throw new LukvError("press", STATUS.FORMAT, `the profile's scorer "${profile.scorer.name}" is unknown`);
    }
    const allocator: LayerAllocator = (l, _scores, { length }, ratio) =>
      luKvLayerKeep(profile, l, ratio, length);
    return scoredPress("lukv", scorer(profile.scorer.params), allocator, {
      sink: profile.sink,
      window: profile.window,
    });
  },
};

/**
 * A scorer by the name profiles record (`snapkv`, `expected-attention`, `keydiff`,
 * `knorm`, `h2o`, `streamingllm`), with optional parameters.
 *
 * @example
 * ```ts
 * const scorer = makeScorer("snapkv", { window: 32 });
 * ```
 */
export function makeScorer(name: string, params: Record<string, number | string | boolean> = {}): Scorer {
  const make = SCORERS[name];
  if (!make) {
    throw new LukvError(
      "press",
      STATUS.INVALID_ARGUMENT,
      `unknown scorer "${name}"; available: ${Object.keys(SCORERS).join(", ")}`,
    );
  }
  return make(params);
}

/** Every preset name. */
export const PRESS_NAMES: readonly string[] = Object.keys(PRESETS);

/**
 * A named press: `full`, `streamingllm`, `h2o`, `snapkv`, `pyramidkv` (SnapKV scores),
 * `adakv` (SnapKV scores), `expected-attention`, `keydiff`, `knorm`, or `lukv`
 * (budgets and scorer from a profile).
 *
 * @example
 * ```ts
 * const press = makePress("lukv", { profile: readProfile(await Deno.readTextFile("models/tiny/lukv-snapkv.json")) });
 * ```
 */
export function makePress(name: string, options: PressOptions = {}): Press {
  const preset = PRESETS[name];
  if (!preset) {
    throw new LukvError(
      "press",
      STATUS.INVALID_ARGUMENT,
      `unknown press "${name}"; available: ${PRESS_NAMES.join(", ")}`,
    );
  }
  return preset({ sink: options.sink ?? 4, window: options.window ?? 32 }, options);
}
